#!/usr/bin/env node
// Builds the native addon from source with cargo: the package's `install` script.
//
// No prebuilt binaries are published yet, so `npm install sigstore-kms-plugins` compiles the
// Rust crates shipped in the package (core/, node/, localkms/, cli/) and copies the library to
// node/sigstore-kms-plugins.node, where node/binding.js loads it.
//
// Environment:
//   SIGSTORE_KMS_NODE_SKIP_BUILD=1        do nothing (the addon is built some other way)
//   SIGSTORE_KMS_NODE_PROFILE=debug       build the debug profile (default: release)
//   CARGO, CARGO_TARGET_DIR, ...          honoured as cargo honours them
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const MIN_RUST = [1, 88, 0];
const root = path.resolve(__dirname, '..', '..');
const addon = path.join(root, 'node', 'sigstore-kms-plugins.node');

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
  const cargo = process.env.CARGO || 'cargo';
  const rustup = 'https://rustup.rs';
  const c = versionOf(cargo);
  if (c.error) {
    fail([
      `cannot build the native addon: ${c.error.code === 'ENOENT' ? `"${cargo}" was not found on PATH` : c.error.message}.`,
      'No prebuilt binaries are published yet, so installing this package compiles its Rust sources.',
      `Install Rust ${MIN_RUST.join('.')} or newer (${rustup}), make sure "cargo" is on PATH, then run`,
      '`npm rebuild sigstore-kms-plugins` (or `npm install` again).',
    ]);
  }
  const rustc = versionOf(process.env.RUSTC || 'rustc');
  if (rustc.version && older(rustc.version, MIN_RUST)) {
    fail([
      `cannot build the native addon: ${rustc.text} is too old; Rust ${MIN_RUST.join('.')} or newer is needed`,
      '(`rustup update stable`), then run `npm rebuild sigstore-kms-plugins`.',
    ]);
  }

  const profile = process.env.SIGSTORE_KMS_NODE_PROFILE === 'debug' ? 'debug' : 'release';
  const args = ['build', '--manifest-path', path.join(root, 'node', 'Cargo.toml'), '-p', 'sigstore-kms-node',
    '--lib', '--message-format=json-render-diagnostics'];
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
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let msg;
    try { msg = JSON.parse(line); } catch { continue; }
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'sigstore_kms_node') {
      library = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || library;
    }
  }
  if (!library) fail(['cargo succeeded but reported no sigstore_kms_node library; cannot install the addon.']);

  // Copy next to the final name, then rename: a process that has the old addon loaded keeps
  // its mapping, and nobody ever sees a half-written file.
  const tmp = `${addon}.${process.pid}.tmp`;
  fs.copyFileSync(library, tmp);
  fs.renameSync(tmp, addon);
  console.error(`sigstore-kms-plugins: native addon installed at ${path.relative(process.cwd(), addon) || addon}`);
}

main();
