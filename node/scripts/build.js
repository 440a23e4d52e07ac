#!/usr/bin/env node
// Builds the native addon and the bundled plugins from source with cargo: the install script of
// a source checkout (`npm install` in the repository), and `npm run build:source`.
//
// Users get prebuilt binaries instead (the platform package, e.g.
// sigstore-kms-plugins-linux-x64-gnu, made by `make dist`); the published package has no
// install script. This copies the library to node/sigstore-kms-plugins.node and the plugin
// programs the platform package ships (sigstore-kms-localkms and the base providers' of
// packaging/providers.json: node/scripts/programs.js) to node/plugins/, where node/binding.js
// finds them.
//
// Environment:
//   SIGSTORE_KMS_NODE_SKIP_BUILD=1        do nothing (the addon is built some other way)
//   SIGSTORE_KMS_PLUGINS_NATIVE=ADDON     do nothing: node/binding.js loads that addon
//   SIGSTORE_KMS_NODE_PROFILE=debug       build the debug profile (default: release)
//   CARGO, CARGO_TARGET_DIR, ...          honoured as cargo honours them
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const MIN_RUST = [1, 88, 0];
const root = path.resolve(__dirname, '..', '..');
const addon = path.join(root, 'node', 'sigstore-kms-plugins.node');
const pluginsDir = path.join(root, 'node', 'plugins');
const { basePrograms, cargoArgs } = require('./programs.js');

function fail(lines) {
  process.stderr.write(`\nsigstore-kms-plugins: ${lines.join('\n  ')}\n\n`);
  process.exit(1);
}

function versionOf(tool) {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (r.error) return { error: r.error };
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(r.stdout || '');
  return { text: (r.stdout || '').trim(), version: m ? m.slice(1, 4).map(Number) : null };
}

function older(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

function main() {
  if (process.env.SIGSTORE_KMS_NODE_SKIP_BUILD) {
    console.error('sigstore-kms-plugins: SIGSTORE_KMS_NODE_SKIP_BUILD is set, not building the native addon');
    return;
  }
  if (process.env.SIGSTORE_KMS_PLUGINS_NATIVE) {
    console.error(`sigstore-kms-plugins: SIGSTORE_KMS_PLUGINS_NATIVE names the addon to use (${process.env.SIGSTORE_KMS_PLUGINS_NATIVE}), not building one`);
    return;
  }
  const cargo = process.env.CARGO || 'cargo';
  const rustup = 'https://rustup.rs';
  const c = versionOf(cargo);
  if (c.error) {
    fail([
      `cannot build the native addon: ${c.error.code === 'ENOENT' ? `"${cargo}" was not found on PATH` : c.error.message}.`,
      'A source checkout builds the addon from its Rust sources (users get prebuilt binaries from the',
      'published package instead).',
      `Install Rust ${MIN_RUST.join('.')} or newer (${rustup}), make sure "cargo" is on PATH, then run`,
      '`npm run build:source` (or `npm install` again).',
    ]);
  }
  const rustc = versionOf(process.env.RUSTC || 'rustc');
  if (rustc.version && older(rustc.version, MIN_RUST)) {
    fail([
      `cannot build the native addon: ${rustc.text} is too old; Rust ${MIN_RUST.join('.')} or newer is needed`,
      '(`rustup update stable`), then run `npm run build:source`.',
    ]);
  }

  const profile = process.env.SIGSTORE_KMS_NODE_PROFILE === 'debug' ? 'debug' : 'release';
  // One cargo invocation for the addon and the plugin programs, so their shared crates are built
  // once with one feature set.
  const programs = basePrograms();
  const args = ['build', '--manifest-path', path.join(root, 'node', 'Cargo.toml'), '-p', 'sigstore-kms-node',
    '--lib', ...cargoArgs(programs), '--message-format=json-render-diagnostics'];
  if (profile === 'release') args.push('--release');
  console.error(`sigstore-kms-plugins: building the native addon (cargo ${args.slice(0, 1).join(' ')}, ${profile}); ` +
    'the first build takes a few minutes');
  const r = spawnSync(cargo, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) fail([`running cargo failed: ${r.error.message}`]);
  if (r.status !== 0) fail([`cargo build failed (exit status ${r.status}); its errors are printed above.`]);

  let library = null;
  const built = new Map();
  const wanted = new Set(programs.map((p) => p.program));
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let msg;
    try { msg = JSON.parse(line); } catch { continue; }
    if (msg.reason !== 'compiler-artifact' || !msg.target) continue;
    if (msg.target.name === 'sigstore_kms_node') {
      library = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || library;
    } else if (wanted.has(msg.target.name) && msg.executable) {
      built.set(msg.target.name, msg.executable);
    }
  }
  if (!library) fail(['cargo succeeded but reported no sigstore_kms_node library; cannot install the addon.']);
  const missing = [...wanted].filter((p) => !built.has(p));
  if (missing.length) fail([`cargo succeeded but reported no ${missing.join(', ')} program; cannot install the plugins.`]);

  install(library, addon, 0o644);
  fs.mkdirSync(pluginsDir, { recursive: true });
  for (const [name, file] of built) install(file, path.join(pluginsDir, name), 0o755);
  console.error(`sigstore-kms-plugins: native addon installed at ${path.relative(process.cwd(), addon) || addon}, ` +
    `bundled plugins (${[...built.keys()].join(', ')}) in ${path.relative(process.cwd(), pluginsDir) || pluginsDir}`);
}

/** Copies next to the final name, then renames: a process that has the old file mapped keeps
 * its mapping, and nobody ever sees a half-written file. */
function install(from, to, mode) {
  const tmp = `${to}.${process.pid}.tmp`;
  fs.copyFileSync(from, tmp);
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, to);
}

main();
