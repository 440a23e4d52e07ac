'use strict';
// Packaging: `npm pack` ships the Rust sources the install-time build needs (every member of
// the Cargo workspace), and `npm install ./the.tgz` in another project builds the addon from
// source and works: CommonJS, ESM, the bundled plugin and the CLI through `bin`.
//
// The install test builds for real (release profile). To keep `npm test` fast it shares the
// repository's cargo target directory (CARGO_TARGET_DIR, else ./target), so only our own
// crates are compiled again. SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL=1 skips it.

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
  const r = sh(process.execPath, [path.join(root, 'node', 'scripts', 'build.js')], {
    env: { ...process.env, CARGO: '/nonexistent/cargo' },
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /"\/nonexistent\/cargo" was not found on PATH/);
  assert.match(r.stderr, /https:\/\/rustup\.rs/);
  assert.match(r.stderr, /npm rebuild sigstore-kms-plugins/);
});

test('npm install of the packed tarball builds from source and works', { skip: !!process.env.SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL, timeout: 30 * 60 * 1000 }, (t) => {
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
  r = sh(npm, ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', path.join(dir, tarball)], {
    cwd: project,
    env,
  });
  assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
  const pkg = path.join(project, 'node_modules', 'sigstore-kms-plugins');
  assert.ok(fs.existsSync(path.join(pkg, 'node', 'sigstore-kms-plugins.node')), 'the addon was built at install');

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
      const sv = kms.getSignerVerifier('localkms://' + process.argv[1], { path: kms.bundledPluginDir + ':/usr/bin:/bin' });
      await sv.createKey('ecdsa-p256');
      const sig = await sv.signMessage(Buffer.from('packed'));
      await sv.verifySignature(sig, Buffer.from('packed'));
      console.log('ok', kms.version);
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  r = sh(process.execPath, ['-e', script, path.join(dir, 'key.pem')], { cwd: project });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok /);

  // The bin entries: the CLI finds the bundled plugin through node_modules/.bin on PATH.
  const bin = path.join(project, 'node_modules', '.bin');
  const binEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  r = sh(path.join(bin, 'sigstore-kms'), ['list'], { env: binEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /localkms/);
  r = sh(path.join(bin, 'sigstore-kms'), ['generate-key', '--key', `localkms://${path.join(dir, 'cli-key.pem')}`], { env: binEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /BEGIN PUBLIC KEY/);
});
