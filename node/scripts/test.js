#!/usr/bin/env node
// `npm test`: everything the Node package's CI needs, in order, failing on the first problem.
//
//   1. build the addon with @napi-rs/cli, regenerating node/native.d.ts, and check the
//      committed file is current (a stale one is rewritten, to be reviewed and committed);
//   2. type-check node/examples with `tsc --strict` (our .d.ts files included, no skipLibCheck);
//   3. run the node:test suite tests/node/*.test.js.
//
// Run after `npm ci` (or `npm install`). Environment:
//   SIGSTORE_KMS_NODE_PROFILE=debug          build the debug profile (default: release, as installed)
//   SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL=1    skip the `npm install ./tarball` test
//   CARGO_TARGET_DIR                         honoured by every build
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const DTS = path.join(root, 'node', 'native.d.ts');

function step(title) {
  process.stderr.write(`\n==> ${title}\n`);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });
  if (r.error) {
    process.stderr.write(`error: cannot run ${cmd}: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.status !== 0) {
    process.stderr.write(`error: ${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
}

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

  const release = process.env.SIGSTORE_KMS_NODE_PROFILE !== 'debug';
  step(`build the addon (${release ? 'release' : 'debug'}) and regenerate node/native.d.ts`);
  const committed = fs.existsSync(DTS) ? fs.readFileSync(DTS, 'utf8') : '';
  const args = ['build', '--manifest-path', 'node/Cargo.toml', '--output-dir', 'node', '--dts', 'native.d.ts'];
  if (release) args.push('--release');
  run(bin('napi'), args);
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

main();
