'use strict';
// Calls driven by Node's own event loop (node/src/reactor.rs, the core's Reactor): a plugin program with the
// message in memory. What they must not leave behind, and what must still work when the
// environment running them goes away.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { fixture, fixturePath } = require('./helpers.js');

const root = path.resolve(__dirname, '..', '..');

/** Live (not zombie) child processes of this process. */
function liveChildren() {
  const me = String(process.pid);
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (ppid === me && state !== 'Z') out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

async function until(what, done, ms = 5000) {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('64 concurrent calls of every kind leave no descriptor and no process behind', async () => {
  const sv = fixture('fixture://k');
  await sv.defaultAlgorithm(); // warm up: whatever the first call sets up once
  const fdsBefore = openFds();
  const calls = [];
  for (let i = 0; i < 16; i++) {
    calls.push(sv.defaultAlgorithm(), sv.publicKey(), sv.signMessage(Buffer.from(`m${i}`)));
    calls.push(sv.signDigest(Buffer.alloc(32, i), 'sha256'));
  }
  const results = await Promise.all(calls);
  assert.equal(results.length, 64);
  await until('no plugin left running', () => liveChildren().length === 0);
  await until('descriptors back to the baseline', () => openFds() <= fdsBefore);
});

test('an in-memory message larger than the pipe is written as the plugin reads it', async () => {
  const size = 8 * 1024 * 1024;
  const count = await fixture('fixture://stdin-count').signMessage(Buffer.alloc(size, 7));
  assert.equal(count.toString(), String(size));
});

test('failures settle the promise: timeout, exec error, cap, bad answer', async () => {
  await assert.rejects(fixture('hang://k', { timeoutMs: 200 }).defaultAlgorithm(), { code: 'ERR_PLUGIN_TIMEOUT' });
  await assert.rejects(fixture('sigkill://k').defaultAlgorithm(), { code: 'ERR_PLUGIN_EXEC' });
  await assert.rejects(fixture('huge-answer://k', { stdoutLimit: 4096 }).defaultAlgorithm(), { code: 'ERR_OUTPUT_TOO_LARGE' });
  await assert.rejects(fixture('garbage://k').publicKey(), { code: 'ERR_PLUGIN_RESPONSE' });
  await until('no plugin left running', () => liveChildren().length === 0);
});

test('a worker ending with calls still running kills their plugins and takes nothing down', async () => {
  const { Worker } = require('node:worker_threads');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const kms = require(workerData.index);
    const hang = kms.getSignerVerifier('hang://k', { path: workerData.path, timeoutMs: 0 });
    for (let i = 0; i < 4; i++) hang.defaultAlgorithm().catch(() => {});
    kms.getSignerVerifier('fixture://k', { path: workerData.path })
      .defaultAlgorithm()
      .then((a) => parentPort.postMessage(a));
  `;
  for (let round = 0; round < 3; round++) {
    const w = new Worker(code, { eval: true, workerData: { index: path.join(root, 'node', 'index.js'), path: fixturePath } });
    const answer = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.equal(answer, 'ecdsa-p256');
    // Four `sleep 600` plugins are running for this worker now; terminating it must kill them.
    assert.ok(liveChildren().length >= 4, 'the hanging plugins run while the worker does');
    await w.terminate();
    await until('the worker\'s plugins killed and reaped', () => liveChildren().length === 0);
  }
});

test('a worker ending with file and stream calls running kills their plugins too', async (t) => {
  const { Worker } = require('node:worker_threads');
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'skp-teardown-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'message.bin');
  fs.writeFileSync(file, Buffer.alloc(1 << 20, 1));
  // Every kind of call that does not run on the event loop: a file, a Readable that never ends
  // (the plugin would wait for it for ever), a Readable that ends, all on a plugin that hangs.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Readable } = require('node:stream');
    const kms = require(workerData.index);
    const hang = kms.getSignerVerifier('hang://k', { path: workerData.path, timeoutMs: 0 });
    hang.signMessage({ path: workerData.file }).catch(() => {});
    hang.signMessage(new Readable({ read() {} })).catch(() => {});
    hang.verifySignature(Buffer.from('s'), Readable.from([Buffer.from('message')])).catch(() => {});
    parentPort.postMessage('started');
  `;
  for (let round = 0; round < 2; round++) {
    const w = new Worker(code, {
      eval: true,
      workerData: { index: path.join(root, 'node', 'index.js'), path: fixturePath, file },
    });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await until('the three plugins started', () => liveChildren().length >= 3);
    const started = Date.now();
    await w.terminate();
    await until('the worker\'s plugins killed and reaped', () => liveChildren().length === 0);
    // Long before any timeout of their own (there is none here): they ended with their worker.
    assert.ok(Date.now() - started < 5000);
  }
});
