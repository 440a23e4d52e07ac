'use strict';
// The entry points agree: what index.js / plugin.js export at run time is what their .d.ts
// files declare, and the ESM entry points re-export the same values.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { root } = require('./helpers.js');

/** The value names a .d.ts file declares (functions, consts, classes), not its types. */
function declaredValues(file) {
  const text = fs.readFileSync(path.join(root, 'node', file), 'utf8');
  return [...text.matchAll(/^export declare (?:function|const|class) (\w+)/gm)].map((m) => m[1]).sort();
}

for (const [js, dts, mjs] of [
  ['index.js', 'index.d.ts', 'index.mjs'],
  ['plugin.js', 'plugin.d.ts', 'plugin.mjs'],
]) {
  test(`${js}: run-time exports match ${dts}, and ${mjs} re-exports them`, async () => {
    const cjs = require(path.join(root, 'node', js));
    assert.deepEqual(Object.keys(cjs).sort(), declaredValues(dts));
    const esm = await import(path.join(root, 'node', mjs));
    for (const name of Object.keys(cjs)) assert.equal(esm[name], cjs[name], `${mjs} exports ${name}`);
    assert.equal(esm.default, cjs);
  });
}

test('package.json points at files that exist, with the bins executable', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
  for (const entry of Object.values(pkg.exports)) {
    if (typeof entry === 'string') targets.push(entry);
    else for (const cond of Object.values(entry)) targets.push(...Object.values(cond));
  }
  for (const t of targets) assert.ok(fs.existsSync(path.join(root, t)), `${t} exists`);
  for (const b of Object.values(pkg.bin)) {
    assert.ok(fs.statSync(path.join(root, b)).mode & 0o111, `${b} is executable`);
    assert.match(fs.readFileSync(path.join(root, b), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  }
  assert.equal(pkg.version, require(path.join(root, 'node', 'index.js')).version, 'package and crate versions agree');
});

test('the addon works in worker threads, and a worker can end with calls done', async () => {
  const { Worker } = require('node:worker_threads');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const kms = require(workerData.index);
    try {
      kms.getSignerVerifier('no-separator');
    } catch (e) {
      parentPort.postMessage(e instanceof kms.KmsPluginError ? e.code : 'wrong class');
    }
    kms.getSignerVerifier('fixture://k', { path: workerData.path, stderr: 'capture' })
      .defaultAlgorithm()
      .then((a) => parentPort.postMessage(a));
  `;
  const { fixturePath } = require('./helpers.js');
  for (let i = 0; i < 3; i++) {
    const messages = [];
    const exitCode = await new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { index: path.join(root, 'node', 'index.js'), path: fixturePath } });
      w.on('message', (m) => messages.push(m));
      w.on('error', reject);
      w.on('exit', resolve);
    });
    assert.equal(exitCode, 0);
    assert.deepEqual(messages, ['ERR_INVALID_KEY_URI', 'ecdsa-p256']);
  }
});
