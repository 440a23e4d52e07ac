'use strict';
// Loads the native addon and tells it where the bundled plugin programs are.
//
// The addon comes from, first match wins:
//   1. SIGSTORE_KMS_PLUGINS_NATIVE=/path/to/sigstore-kms-plugins.node: an addon you built
//      yourself (explicit; nothing else is tried when it is set);
//   2. the platform package for this machine, `sigstore-kms-plugins-<platform>` (for example
//      `sigstore-kms-plugins-linux-x64-gnu`), which npm installs from the published package's
//      optionalDependencies: a prebuilt, stripped addon and the bundled plugin programs;
//   3. node/sigstore-kms-plugins.node in a source checkout, built there by `npm install` (the
//      repository's install script) or `npm run build`.
// Nothing is ever compiled here: building from source is the explicit step of a checkout.
//
// The bundled plugins live in `plugins/` next to the addon file (the platform package's, or
// node/plugins in a checkout); each installed provider package (`sigstore-kms-plugins-awskms`,
// ...) adds the `plugins/` directory of its own platform package. The host searches these
// directories after PATH, so `localkms://` works from `node app.js` with any PATH, and a
// program of the same name on PATH still wins.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE = 'sigstore-kms-plugins';
const LOCAL_ADDON = path.join(__dirname, 'sigstore-kms-plugins.node');
// The platforms prebuilt packages exist for (what `make dist` builds and CI tests).
const SUPPORTED = ['linux-x64-gnu'];

/** napi-rs's platform name of this machine (linux-x64-gnu, linux-arm64-musl, darwin-arm64, ...),
 * for the error message when no addon is found. */
function platformName() {
  const { platform, arch } = process;
  if (platform !== 'linux') return `${platform}-${arch}`;
  let glibc = true;
  try {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
    glibc = Boolean(report && report.header && report.header.glibcVersionRuntime);
  } catch {
    // No report support: assume glibc, the common case; a musl system fails to load and says so.
  }
  return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`;
}

function notFound(err) {
  return err && err.code === 'MODULE_NOT_FOUND';
}

/** The directory of package `name` resolved from `from`, or null when it is not installed. */
function packageDir(name, from) {
  try {
    return path.dirname(require.resolve(`${name}/package.json`, { paths: [from] }));
  } catch (err) {
    if (notFound(err)) return null;
    throw err;
  }
}

function loadError(message, cause) {
  const e = new Error(`${PACKAGE}: ${message}`);
  e.code = 'ERR_ADDON_NOT_FOUND';
  if (cause) e.cause = cause;
  return e;
}

/** Finds and loads the addon: { addon, file }. */
function loadAddon() {
  const override = process.env.SIGSTORE_KMS_PLUGINS_NATIVE;
  if (override) {
    const file = path.resolve(override);
    if (!fs.existsSync(file)) {
      throw loadError(`SIGSTORE_KMS_PLUGINS_NATIVE names ${file}, which does not exist: unset it or point it at a built addon`);
    }
    return { addon: require(file), file };
  }
  // npm installs only the platform package whose os/cpu/libc match this machine, so the first
  // one found is the right one (no libc probe on the common path).
  const candidates =
    process.platform === 'linux'
      ? [`linux-${process.arch}-gnu`, `linux-${process.arch}-musl`]
      : [`${process.platform}-${process.arch}`];
  for (const candidate of candidates) {
    const pkg = packageDir(`${PACKAGE}-${candidate}`, __dirname);
    if (!pkg) continue;
    const meta = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
    const file = path.join(pkg, meta.main || `${PACKAGE}.${candidate}.node`);
    return { addon: require(file), file };
  }
  if (fs.existsSync(LOCAL_ADDON)) return { addon: require(LOCAL_ADDON), file: LOCAL_ADDON };
  const platform = platformName();
  const supported = SUPPORTED.includes(platform);
  throw loadError(
    (supported
      ? `the native addon for ${platform} is not installed: the package ${PACKAGE}-${platform} is missing. ` +
        'npm installs it as an optional dependency: reinstall without --omit=optional / --no-optional ' +
        `(or add ${PACKAGE}-${platform} to your dependencies).`
      : `no prebuilt native addon for ${platform} (prebuilt: ${SUPPORTED.join(', ')}).`) +
      ' To build it from source, check out the repository and run `npm install` there (needs Rust 1.88+), ' +
      'then install that checkout, or set SIGSTORE_KMS_PLUGINS_NATIVE to the built sigstore-kms-plugins.node.',
  );
}

/** The `plugins/` directories of the installed provider packages, from the list `make dist` writes. */
function providerDirs() {
  let names = [];
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    names = Object.values((meta.sigstoreKmsPlugins && meta.sigstoreKmsPlugins.providers) || {});
  } catch {
    return [];
  }
  const dirs = [];
  for (const name of names) {
    const pkg = packageDir(name, __dirname);
    if (!pkg) continue;
    try {
      const dir = require(pkg).pluginDir;
      if (typeof dir === 'string') dirs.push(dir);
    } catch (err) {
      // A provider whose platform package is missing is skipped: its programs are simply not
      // found, and the not-found error lists the directories searched.
      if (!notFound(err) && err.code !== 'ERR_ADDON_NOT_FOUND') throw err;
    }
  }
  return dirs;
}

const { addon, file } = loadAddon();
const bundled = path.join(path.dirname(file), 'plugins');
const dirs = [bundled, ...providerDirs()].filter((d) => path.isAbsolute(d) && fs.existsSync(d));
addon.setPluginDirs(dirs);
// node/index.js exports it; null when the addon came without its plugins/ directory.
addon.bundledPluginDir = dirs.includes(bundled) ? bundled : null;

module.exports = addon;
