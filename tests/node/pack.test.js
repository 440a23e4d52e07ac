'use strict';
// The source package: a checkout packed with `npm pack` ships the Rust sources its install
// script needs (every member of the Cargo workspace), and `npm install ./the.tgz` in another
// project builds the addon and the bundled plugin from source and works. This is the explicit
// build-from-source route; users install the prebuilt packages of `make dist` (tested by
// `make test-dist`, packaging/install_test.py).
//
// The install test builds for real (release profile), sharing the repository's cargo target
// directory (CARGO_TARGET_DIR, else ./target), so only our own crates are compiled again. It is
// skipped, with the reason printed, under `make test` (SIGSTORE_KMS_PLUGINS_NATIVE set: the suite
// runs against the release artifacts, built once) or with SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL=1.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { root, tempDir } = require('./helpers.js');

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) throw r.error;
  return r;
}

function packedFiles() {
  const r = sh(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  assert.equal(r.status, 0, r.stderr);
  const [info] = JSON.parse(r.stdout);
  return new Set(info.files.map((f) => f.path));
}

/** The members of the root Cargo workspace (a small reader for `members = [...]`). */
function workspaceMembers() {
  const toml = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8');
  const m = /^members\s*=\s*\[([^\]]*)\]/m.exec(toml);
  assert.ok(m, 'root Cargo.toml has a members list');
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

test('the tarball holds every workspace crate and the JS package, nothing built', () => {
  const files = packedFiles();
  for (const f of [
    'package.json',
    'Cargo.toml',
    'Cargo.lock',
    'node/Cargo.toml',
    'node/build.rs',
    'node/src/lib.rs',
    'node/scripts/build.js',
    'node/scripts/programs.js',
    'packaging/providers.json',
    'node/index.js',
    'node/index.mjs',
    'node/index.d.ts',
    'node/index.d.mts',
    'node/native.d.ts',
    'node/plugin.js',
    'node/plugin.mjs',
    'node/plugin.d.ts',
    'node/plugin.d.mts',
    'node/bin/sigstore-kms',
    'node/bin/sigstore-kms-localkms',
  ]) {
    assert.ok(files.has(f), `${f} is packed`);
  }
  // Cargo loads every member of the workspace, so each must be complete in the tarball.
  for (const member of workspaceMembers()) {
    assert.ok(files.has(`${member}/Cargo.toml`), `workspace member ${member} is packed`);
    const src = path.join(root, member, 'src');
    for (const file of fs.readdirSync(src, { recursive: true })) {
      if (String(file).endsWith('.rs')) assert.ok(files.has(`${member}/src/${file}`), `${member}/src/${file} is packed`);
    }
  }
  for (const f of files) {
    assert.ok(!f.endsWith('.node'), `no built addon in the tarball: ${f}`);
    assert.ok(!/^(target|tests|node_modules|bench)\//.test(f), `${f} should not be packed`);
  }
});

test('without cargo, the install script says what to do', () => {
  const env = { ...process.env, CARGO: '/nonexistent/cargo' };
  delete env.SIGSTORE_KMS_PLUGINS_NATIVE; // which makes it build nothing (as the next test shows)
  delete env.SIGSTORE_KMS_NODE_SKIP_BUILD;
  const r = sh(process.execPath, [path.join(root, 'node', 'scripts', 'build.js')], { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /"\/nonexistent\/cargo" was not found on PATH/);
  assert.match(r.stderr, /https:\/\/rustup\.rs/);
  assert.match(r.stderr, /npm run build:source/);
});

test('with SIGSTORE_KMS_PLUGINS_NATIVE set, the install script builds nothing and says why', () => {
  const env = { ...process.env, CARGO: '/nonexistent/cargo', SIGSTORE_KMS_PLUGINS_NATIVE: '/some/addon.node' };
  const r = sh(process.execPath, [path.join(root, 'node', 'scripts', 'build.js')], { env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /SIGSTORE_KMS_PLUGINS_NATIVE names the addon to use \(\/some\/addon\.node\), not building one/);
});

const skipInstall = process.env.SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL
  ? 'SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL is set'
  : process.env.SIGSTORE_KMS_PLUGINS_NATIVE
    ? 'testing the prebuilt addon of make dist (SIGSTORE_KMS_PLUGINS_NATIVE); make test-dist installs the release tarballs'
    : false;

test('npm install of the packed checkout builds from source and works', { skip: skipInstall, timeout: 30 * 60 * 1000 }, (t) => {
  const dir = tempDir(t);
  let r = sh(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root });
  assert.equal(r.status, 0, r.stderr);
  const tarball = fs.readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');

  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const env = { ...process.env, CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR || path.join(root, 'target') };
  delete env.SIGSTORE_KMS_NODE_SKIP_BUILD;
  delete env.SIGSTORE_KMS_NODE_PROFILE;
  delete env.SIGSTORE_KMS_PLUGINS_NATIVE;
  r = sh(npm, ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', path.join(dir, tarball)], {
    cwd: project,
    env,
  });
  assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
  const pkg = path.join(project, 'node_modules', 'sigstore-kms-plugins');
  assert.ok(fs.existsSync(path.join(pkg, 'node', 'sigstore-kms-plugins.node')), 'the addon was built at install');
  for (const program of ['sigstore-kms-localkms', 'sigstore-kms-pkcs11']) {
    assert.ok(fs.existsSync(path.join(pkg, 'node', 'plugins', program)), `${program} was built at install`);
  }

  // CommonJS and ESM, the bundled plugin through bundledPluginDir, sign and verify.
  const script = `
    const assert = require('node:assert/strict');
    const kms = require('sigstore-kms-plugins');
    const { serve } = require('sigstore-kms-plugins/plugin');
    assert.equal(typeof serve, 'function');
    (async () => {
      const esm = await import('sigstore-kms-plugins');
      assert.equal(esm.getSignerVerifier, kms.getSignerVerifier);
      assert.equal(esm.default.version, kms.version);
      assert.equal(typeof (await import('sigstore-kms-plugins/plugin')).serve, 'function');
      // No PATH entry for the plugin: it is found in the package's plugins/ directory.
      const sv = kms.getSignerVerifier('localkms://' + process.argv[1], { path: '/usr/bin:/bin' });
      assert.equal(sv.programPath, require('node:path').join(kms.bundledPluginDir, 'sigstore-kms-localkms'));
      await sv.createKey('ecdsa-p256');
      const sig = await sv.signMessage(Buffer.from('packed'));
      await sv.verifySignature(sig, Buffer.from('packed'));
      console.log('ok', kms.version);
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const cleanEnv = { ...process.env };
  delete cleanEnv.SIGSTORE_KMS_PLUGINS_NATIVE;
  r = sh(process.execPath, ['-e', script, path.join(dir, 'key.pem')], { cwd: project, env: cleanEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok /);

  // The bin entries: the CLI finds the bundled plugin through node_modules/.bin on PATH.
  const bin = path.join(project, 'node_modules', '.bin');
  const binEnv = { ...cleanEnv, PATH: `${bin}:${process.env.PATH}` };
  r = sh(path.join(bin, 'sigstore-kms'), ['list'], { env: binEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /localkms/);
  r = sh(path.join(bin, 'sigstore-kms'), ['generate-key', '--key', `localkms://${path.join(dir, 'cli-key.pem')}`], { env: binEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /BEGIN PUBLIC KEY/);
});
