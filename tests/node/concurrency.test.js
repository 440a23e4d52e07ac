'use strict';
// Calls run off the JavaScript thread: many in flight at once keep the event loop responsive,
// and a large stream keeps memory flat. (bench/node_overhead.mjs measures the same in
// detail; these are the pass/fail bounds.)

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { fixture, patternStream } = require('./helpers.js');

/** Runs `fn` while measuring the largest delay of a 5 ms interval timer. */
async function withLag(fn) {
  let last = performance.now();
  let maxLag = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - 5);
    last = now;
  }, 5);
  try {
    const result = await fn();
    return { result, maxLag };
  } finally {
    clearInterval(timer);
  }
}

test('64 calls in flight: all answer, concurrently, and the event loop stays responsive', async (t) => {
  process.env.FIXTURE_SLOW_SECONDS = '1';
  try {
    const sv = fixture('slow://k', { timeoutMs: 120000 });
    const started = performance.now();
    const { result, maxLag } = await withLag(() => Promise.all(Array.from({ length: 64 }, () => sv.defaultAlgorithm())));
    const elapsed = performance.now() - started;
    assert.deepEqual(result, Array(64).fill('ecdsa-p256'));
    t.diagnostic(`64 concurrent 1 s calls: ${Math.round(elapsed)} ms; max event-loop lag ${maxLag.toFixed(1)} ms`);
    // Serially this would take 64 s; in flight together, about 1 s plus 64 process starts.
    assert.ok(elapsed < 20000, `64 concurrent 1 s calls took ${Math.round(elapsed)} ms`);
    // A blocked JavaScript thread would stall for the plugins' full second.
    assert.ok(maxLag < 500, `the event loop stalled for ${Math.round(maxLag)} ms`);
  } finally {
    delete process.env.FIXTURE_SLOW_SECONDS;
  }
});

test('a 512 MiB stream keeps memory flat', async (t) => {
  const sv = fixture('fixture://stdin-count');
  // Warm up first: the first streamed megabytes grow V8's heap and the allocator's arenas to
  // their working size once; what must not happen is growth with the size of the message.
  assert.equal((await sv.signMessage(patternStream(64 * 1024 * 1024, 64 * 1024))).toString(), String(64 * 1024 * 1024));
  const size = 512 * 1024 * 1024;
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const count = await sv.signMessage(patternStream(size, 64 * 1024));
    assert.equal(count.toString(), String(size));
  } finally {
    clearInterval(sampler);
  }
  const growth = (peak - before) / (1024 * 1024);
  t.diagnostic(`RSS ${(before / 2 ** 20).toFixed(1)} MiB before, peak ${(peak / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB while streaming 512 MiB`);
});
