#!/usr/bin/env node
// Benchmark of the npm package (run with `npm run bench`, on a release build of the addon):
//
//  1. per-call overhead: `await sv.defaultAlgorithm()` against a minimal C plugin that answers
//     at once, vs. a bare Rust spawn+wait of the same program (bench/spawn_baseline.rs);
//     goal: median ratio <= 1.10. (Node's own child_process is shown for reference.)
//  2. event-loop responsiveness: the lag of a 5 ms setInterval timer while 64 calls are in
//     flight, round after round;
//  3. a 1 GiB Readable signed through the bundled localkms plugin (ECDSA P-256, SHA-256):
//     throughput vs. piping the same bytes straight into the plugin, and RSS (must stay flat).
//
// Options (environment): BENCH_CALLS (default 300), BENCH_ROUNDS (20), BENCH_STREAM_MIB (1024).
// Needs cc and rustc on PATH. Prints a report and a JSON summary; exits 1 if a goal is missed.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const kms = require(path.join(root, 'node', 'index.js'));
const native = require(path.join(root, 'node', 'binding.js'));

const CALLS = Number(process.env.BENCH_CALLS || 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 20);
const STREAM_MIB = Number(process.env.BENCH_STREAM_MIB || 1024);
const GOAL_RATIO = 1.1;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sigstore-kms-bench-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

function build() {
  // minimal_plugin.c and spawn_baseline.rs are shared with bench/python_overhead.py.
  const plugin = path.join(work, 'sigstore-kms-minimal');
  execFileSync('cc', ['-O2', '-o', plugin, path.join(here, 'minimal_plugin.c')], { stdio: 'inherit' });
  const baseline = path.join(work, 'spawn_baseline');
  execFileSync('rustc', ['-O', '--edition', '2021', '-o', baseline, path.join(here, 'spawn_baseline.rs')], { stdio: 'inherit' });
  return { plugin, baseline };
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p90: q(0.9), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, max: s[s.length - 1] };
};
const fmt = (x, digits = 0) => x.toFixed(digits);

function nodeSpawnOnce(program, request) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['v1', request], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

async function perCall({ plugin, baseline }) {
  const sv = kms.getSignerVerifier('minimal://k', { path: `${work}:/usr/bin:/bin` });
  const request = kms.protocol.encodeRequest({
    method: 'defaultAlgorithm',
    keyResourceID: 'k',
    hashFunc: 5,
    initRpcOptions: { keyVersion: '', remoteVerification: false },
  });
  // Warm up all three, then interleave blocks of each so machine noise hits them alike.
  for (let i = 0; i < 20; i++) await sv.defaultAlgorithm();
  execFileSync(baseline, [plugin, request, '20']);
  const addon = [];
  const rust = [];
  const nodeSpawn = [];
  const block = 50;
  for (let done = 0; done < CALLS; done += block) {
    const n = Math.min(block, CALLS - done);
    rust.push(...JSON.parse(execFileSync(baseline, [plugin, request, String(n)], { encoding: 'utf8' })).us);
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const alg = await sv.defaultAlgorithm();
      addon.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (alg !== 'ecdsa-p256') throw new Error(`unexpected answer ${alg}`);
    }
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await nodeSpawnOnce(plugin, request);
      nodeSpawn.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  }
  return { addon: stats(addon), rust: stats(rust), nodeSpawn: stats(nodeSpawn) };
}

async function eventLoop() {
  const sv = kms.getSignerVerifier('minimal://k', { path: `${work}:/usr/bin:/bin` });
  const lags = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - last - 5));
    last = now;
  }, 5);
  const started = performance.now();
  let calls = 0;
  for (let r = 0; r < ROUNDS; r++) {
    await Promise.all(Array.from({ length: 64 }, () => sv.defaultAlgorithm()));
    calls += 64;
  }
  const elapsed = performance.now() - started;
  clearInterval(timer);
  return { lag: stats(lags), calls, callsPerSecond: (calls / elapsed) * 1000 };
}

async function stream() {
  const localkms = path.join(root, 'node', 'bin', 'sigstore-kms-localkms');
  const keyFile = path.join(work, 'stream-key.pem');
  const sv = kms.getSignerVerifier(`localkms://${keyFile}`, { path: `${path.dirname(localkms)}:/usr/bin:/bin` });
  const publicKey = await sv.createKey('ecdsa-p256');
  const size = STREAM_MIB * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024);
  const zeros = () => {
    let left = size;
    return new Readable({
      read() {
        if (left <= 0) return void this.push(null);
        const n = Math.min(left, chunk.length);
        left -= n;
        this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      },
    });
  };

  // Baseline: the same bytes piped straight into the same plugin program.
  const request = kms.protocol.encodeRequest({
    method: 'signMessage',
    keyResourceID: keyFile,
    hashFunc: 5,
    initRpcOptions: { keyVersion: '', remoteVerification: false },
    rpcOptions: { keyVersion: '', remoteVerification: false },
    messageOptions: { digest: null },
  });
  let started = performance.now();
  execFileSync('sh', ['-c', 'head -c "$1" /dev/zero | "$2" v1 "$3" >/dev/null', 'sh', String(size), localkms, request]);
  const baselineSeconds = (performance.now() - started) / 1000;

  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  started = performance.now();
  const sig = await sv.signMessage(zeros());
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);

  // Every byte arrived: the signature verifies over the whole message.
  const verify = (await import('node:crypto')).createVerify('sha256');
  for await (const c of zeros()) verify.update(c);
  if (!verify.verify(publicKey, sig)) throw new Error('the streamed signature does not verify');
  return {
    mib: STREAM_MIB,
    seconds,
    mibPerSecond: STREAM_MIB / seconds,
    baselineSeconds,
    baselineMibPerSecond: STREAM_MIB / baselineSeconds,
    rssBeforeMiB: before / 2 ** 20,
    rssPeakMiB: peak / 2 ** 20,
  };
}

async function main() {
  const profile = native.nativeDebugBuild() ? 'DEBUG (run `npm run build` for release numbers)' : 'release';
  console.log(`sigstore-kms-plugins ${kms.version}, addon ${profile}, Node ${process.version}, ${os.cpus().length} CPUs`);
  const programs = build();

  const call = await perCall(programs);
  const ratio = call.addon.median / call.rust.median;
  console.log(`\n1. per-call overhead (${CALLS} sequential calls each, minimal C plugin), microseconds:`);
  console.log('                     median     p90     p99    mean');
  for (const [name, s] of [['addon (Node)', call.addon], ['bare Rust spawn', call.rust], ['node child_process', call.nodeSpawn]]) {
    console.log(`   ${name.padEnd(18)} ${fmt(s.median).padStart(6)}  ${fmt(s.p90).padStart(6)}  ${fmt(s.p99).padStart(6)}  ${fmt(s.mean).padStart(6)}`);
  }
  console.log(`   ratio addon / bare Rust (median): ${fmt(ratio, 3)}x  (goal <= ${GOAL_RATIO}x)`);

  const loop = await eventLoop();
  console.log(`\n2. event loop with 64 calls in flight (${loop.calls} calls, ${fmt(loop.callsPerSecond)} calls/s):`);
  console.log(`   setInterval(5 ms) lag: median ${fmt(loop.lag.median, 2)} ms, p99 ${fmt(loop.lag.p99, 2)} ms, max ${fmt(loop.lag.max, 2)} ms`);

  const s = await stream();
  console.log(`\n3. ${s.mib} MiB Readable signed through localkms: ${fmt(s.seconds, 2)} s (${fmt(s.mibPerSecond)} MiB/s);`);
  console.log(`   piped straight into the plugin: ${fmt(s.baselineSeconds, 2)} s (${fmt(s.baselineMibPerSecond)} MiB/s)`);
  console.log(`   RSS before ${fmt(s.rssBeforeMiB, 1)} MiB, peak ${fmt(s.rssPeakMiB, 1)} MiB (growth ${fmt(s.rssPeakMiB - s.rssBeforeMiB, 1)} MiB)`);

  const summary = { ratio, call, loop, stream: s };
  console.log(`\n${JSON.stringify(summary)}`);
  const ok = ratio <= GOAL_RATIO && s.rssPeakMiB - s.rssBeforeMiB < 64;
  if (!ok) {
    console.log('\nA goal was missed (per-call ratio or flat memory).');
    process.exitCode = 1;
  }
}

await main();
