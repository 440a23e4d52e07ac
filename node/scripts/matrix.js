#!/usr/bin/env node
// The Node version and sigstore-js major matrix (`make test-node-matrix`; after `npm test`,
// which built the addon, or with SIGSTORE_KMS_PLUGINS_NATIVE naming one). The addon is N-API (ABI-stable): the one built by `npm test` is
// loaded by every Node version, never rebuilt.
//
//   Node 20 (the `node` running this)  x  sigstore-js previous majors (the devDependencies)
//   Node 22, Node 24                   x  previous majors: the whole tests/node suite
//   Node 22, Node 24                   x  current majors: the sigstore tests (sigstore.test.js,
//                                          bundle.test.js), with SIGSTORE_JS_DIR
//
// The Node 22 and 24 builds are the official ones, from the npm registry (the packages
// node-PLATFORM-ARCH@22 and @24); they and the current sigstore-js majors are installed once
// into ${XDG_CACHE_HOME:-~/.cache}/sigstore-kms-plugins/ and reused (run `npm` with the network
// the first time). The Node 20 run of the whole suite is `npm test`'s own; here Node 20 runs
// the sigstore tests again only to print which versions it checked.
//
// Environment: SIGSTORE_KMS_MATRIX_NODES="22 24" (lines to test), SIGSTORE_KMS_CACHE_DIR.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { root, run, step } = require('./run.js');
const cache =
  process.env.SIGSTORE_KMS_CACHE_DIR ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'sigstore-kms-plugins');

/** The current sigstore-js majors (the previous ones are the devDependencies). */
const CURRENT_SIGSTORE_JS = ['@sigstore/sign@^5', '@sigstore/verify@^4', '@sigstore/bundle@^5', '@sigstore/protobuf-specs@^0.5'];
const SIGSTORE_TESTS = ['tests/node/sigstore.test.js', 'tests/node/bundle.test.js'];

function npmInstall(prefix, specs) {
  fs.mkdirSync(prefix, { recursive: true });
  // Not a project of its own: install exactly these, no lock file, no scripts.
  run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', ...specs]);
}

/** The official Node `line` build from the npm registry, cached. */
function nodeBinary(line) {
  const platform = { linux: 'linux', darwin: 'darwin' }[process.platform];
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
  if (!platform || !arch) {
    process.stderr.write(`error: no official Node package for ${process.platform}-${process.arch}\n`);
    process.exit(1);
  }
  const pkg = `node-${platform}-${arch}`;
  const prefix = path.join(cache, 'node', `${pkg}-${line}`);
  const bin = path.join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (!fs.existsSync(bin)) {
    step(`installing Node ${line} (${pkg}@${line} from the npm registry) into ${prefix}`);
    npmInstall(prefix, [`${pkg}@${line}`]);
  }
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0 || !version.stdout.startsWith(`v${line}.`)) {
    process.stderr.write(`error: ${bin} is not Node ${line} (${version.stdout || version.error})\n`);
    process.exit(1);
  }
  return { bin, version: version.stdout.trim() };
}

function currentSigstoreJs() {
  const prefix = path.join(cache, 'sigstore-js', 'current');
  const marker = path.join(prefix, 'node_modules', '@sigstore', 'sign', 'package.json');
  const ok = fs.existsSync(marker) && require(marker).version.startsWith('5.');
  if (!ok) {
    step(`installing the current sigstore-js majors (${CURRENT_SIGSTORE_JS.join(' ')}) into ${prefix}`);
    npmInstall(prefix, CURRENT_SIGSTORE_JS);
  }
  return prefix;
}

function main() {
  // The addon the suites load: SIGSTORE_KMS_PLUGINS_NATIVE (as node/binding.js reads it; `make
  // test` points it at the release addon of dist/), else the one `npm test` built in node/.
  const addon = process.env.SIGSTORE_KMS_PLUGINS_NATIVE || path.join(root, 'node', 'sigstore-kms-plugins.node');
  if (!fs.existsSync(addon)) {
    process.stderr.write(`error: the addon ${addon} is not built: run \`npm ci\` and \`npm test\` first (or \`make dist\`)\n`);
    process.exit(1);
  }
  const lines = (process.env.SIGSTORE_KMS_MATRIX_NODES || '22 24').split(/\s+/).filter(Boolean);
  const current = currentSigstoreJs();
  const env = { ...process.env, SIGSTORE_KMS_NODE_SKIP_PACK_INSTALL: '1' };
  const timings = [];

  step(`Node ${process.version} (npm test ran the whole suite), sigstore-js previous majors`);
  timings.push([`node ${process.version}, previous majors, sigstore tests`, run(process.execPath, ['--test', ...SIGSTORE_TESTS], { env })]);

  const all = fs
    .readdirSync(path.join(root, 'tests', 'node'))
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.join('tests', 'node', f));
  for (const line of lines) {
    const node = nodeBinary(line);
    step(`Node ${node.version}: the whole tests/node suite, sigstore-js previous majors`);
    timings.push([`node ${node.version}, previous majors, whole suite`, run(node.bin, ['--test', ...all], { env })]);
    step(`Node ${node.version}: the sigstore tests, sigstore-js current majors (${current})`);
    timings.push([
      `node ${node.version}, current majors, sigstore tests`,
      run(node.bin, ['--test', ...SIGSTORE_TESTS], { env: { ...env, SIGSTORE_JS_DIR: current } }),
    ]);
  }
  step('matrix passed');
  for (const [what, seconds] of timings) process.stderr.write(`  ${seconds.toFixed(1).padStart(6)} s  ${what}\n`);
}

main();
