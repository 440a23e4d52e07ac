#!/usr/bin/env node
// `npm test`: everything the Node package's CI needs, in order, failing on the first problem.
//
//   1. build the addon (and the bundled plugins, into node/plugins) with @napi-rs/cli,
//      regenerating node/native.d.ts, and check the
//      committed file is current (a stale one is rewritten, to be reviewed and committed);
//   2. type-check node/examples with `tsc --strict` (our .d.ts files included, no skipLibCheck);
//   3. run the node:test suite tests/node/*.test.js.
//
// Run after `npm ci` (or `npm install`). Environment:
//   SIGSTORE_KMS_PLUGINS_NATIVE=ADDON.node   test this prebuilt addon (`make test` passes the one in
//                                            dist/'s platform package, with its plugins/): no build
//                                            here; `make dist` did the native.d.ts check
//   SIGSTORE_KMS_NODE_PROFILE=debug          build the debug profile (default: release, as installed)
//   SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL=1    skip the `npm install ./tarball` test
//   CARGO_TARGET_DIR                         honoured by every build
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { root, run, step } = require('./run.js');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const DTS = path.join(root, 'node', 'native.d.ts');
const { basePrograms, cargoArgs } = require('./programs.js');

/** The diff of the stale .d.ts: git's when git is there, else the changed lines. */
function showDiff(before, after) {
  const tmp = path.join(require('node:os').tmpdir(), `native.d.ts.committed.${process.pid}`);
  fs.writeFileSync(tmp, before);
  try {
    const r = spawnSync('git', ['--no-pager', 'diff', '--no-index', '--no-color', '--', tmp, DTS], { encoding: 'utf8' });
    if (!r.error && r.status === 1 && r.stdout) return r.stdout.split('\n').slice(0, 80).join('\n');
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return lineDiff(before, after);
}

/** The lines that differ, position by position (the fallback without git). */
function lineDiff(before, after) {
  const a = before.split('\n');
  const b = after.split('\n');
  const out = [];
  const max = Math.max(a.length, b.length);
  for (let i = 0; i < max && out.length < 60; i++) {
    if (a[i] !== b[i]) {
      if (a[i] !== undefined) out.push(`-${i + 1}: ${a[i]}`);
      if (b[i] !== undefined) out.push(`+${i + 1}: ${b[i]}`);
    }
  }
  return out.join('\n');
}

function main() {
  for (const tool of ['napi', 'tsc']) {
    if (!fs.existsSync(bin(tool))) {
      process.stderr.write(`error: ${bin(tool)} is missing: run \`npm ci\` (or \`npm install\`) first\n`);
      process.exit(1);
    }
  }

  if (process.env.SIGSTORE_KMS_PLUGINS_NATIVE) {
    step(`using the prebuilt addon ${process.env.SIGSTORE_KMS_PLUGINS_NATIVE} (no build; make dist checked node/native.d.ts)`);
  } else {
    buildAndCheckTypes();
  }

  step('tsc --strict on node/examples (with our .d.ts files)');
  run(bin('tsc'), ['-p', path.join('node', 'examples', 'tsconfig.json')]);

  step('node --test tests/node');
  const dir = path.join(root, 'tests', 'node');
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.join('tests', 'node', f));
  run(process.execPath, ['--test', ...files]);
}

function buildAndCheckTypes() {
  const release = process.env.SIGSTORE_KMS_NODE_PROFILE !== 'debug';
  step(`build the addon (${release ? 'release' : 'debug'}) and regenerate node/native.d.ts`);
  const committed = fs.existsSync(DTS) ? fs.readFileSync(DTS, 'utf8') : '';
  // The bundled plugin program in the same cargo invocation (as `make dist` builds it), copied to
  // node/plugins, where node/binding.js finds it next to the addon.
  const args = ['build', '--manifest-path', 'node/Cargo.toml', '--package', 'sigstore-kms-node', '--output-dir', 'node',
    '--dts', 'native.d.ts'];
  if (release) args.push('--release');
  const programs = basePrograms();
  args.push('--', '--lib', ...cargoArgs(programs));
  run(bin('napi'), args);
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
  fs.mkdirSync(path.join(root, 'node', 'plugins'), { recursive: true });
  for (const { program } of programs) {
    const plugin = path.join(targetDir, 'x86_64-unknown-linux-gnu', release ? 'release' : 'debug', program);
    const hostPlugin = path.join(targetDir, release ? 'release' : 'debug', program);
    const built = [plugin, hostPlugin].filter((f) => fs.existsSync(f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
    if (!built) {
      process.stderr.write(`error: napi build produced no ${program} program (looked at ${plugin})\n`);
      process.exit(1);
    }
    const dest = path.join(root, 'node', 'plugins', program);
    fs.copyFileSync(built, `${dest}.tmp`);
    fs.chmodSync(`${dest}.tmp`, 0o755);
    fs.renameSync(`${dest}.tmp`, dest);
  }
  const generated = fs.readFileSync(DTS, 'utf8');
  if (generated !== committed) {
    process.stderr.write(
      'error: node/native.d.ts was out of date with the Rust sources. It has been regenerated: ' +
        'review the change and commit it.\n' +
        `${showDiff(committed, generated)}\n`,
    );
    process.exit(1);
  }
  process.stderr.write('node/native.d.ts is current\n');
}

main();
