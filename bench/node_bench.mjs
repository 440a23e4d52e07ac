#!/usr/bin/env node
// The Node side of `make bench` (bench/run.py runs it; the addon must be a release build).
// Every subcommand prints JSON lines.
//
//   node_bench.mjs percall PATH-DIR URI
//       serves lines "MODE METHOD N MSG-BYTES" on stdin, answering {"us":[per-call µs]};
//       MODE addon (await sv.method()) or child_process (node's own spawn, by hand: request
//       built with a template string, answer parsed with JSON.parse and Buffer.from(.., 'base64'))
//   node_bench.mjs stream PATH-DIR URI MODE FILE REPS
//       signMessage of FILE; MODE path ({ path }: read by Rust), readable (fs.createReadStream:
//       every chunk goes through JavaScript) or child_process (no addon: the ReadStream piped into
//       the plugin's stdin by node's own child_process); {"s":[..],"rss_kib":..,"hwm_kib":..}
//   node_bench.mjs concurrency PATH-DIR URI CALLS ROUNDS MSG-BYTES
//       per round CALLS signMessage calls one after another, then CALLS at once (Promise.all);
//       open fds and child processes before and after.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const kms = require(path.join(here, '..', 'node', 'index.js'));
const native = require(path.join(here, '..', 'node', 'binding.js'));

const now = () => process.hrtime.bigint();
const usSince = (t0) => Number(now() - t0) / 1000;

function statusKiB(field) {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

// This process's open fds and what they point to.
function fdList() {
  const out = {};
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out[fd] = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // the listing's own fd, closed by now
    }
  }
  return out;
}

function childCount() {
  const me = String(process.pid);
  let n = 0;
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/)[1] === me) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

function addonCalls(sv, msg) {
  return {
    defaultAlgorithm: async () => {
      const a = await sv.defaultAlgorithm();
      if (a !== 'ecdsa-p256') throw new Error(`unexpected ${a}`);
    },
    publicKey: () => sv.publicKey(),
    signMessage: () => sv.signMessage(msg),
  };
}

function byHand(program, keyRef, msg) {
  const rpc = '{"keyVersion":"","remoteVerification":false}';
  const init = `{"initOptions":{"protocolVersion":"v1","keyResourceID":${JSON.stringify(keyRef)},"hashFunc":5,"rpcOptions":${rpc}},`;
  const call = (method, args, data) =>
    new Promise((resolve, reject) => {
      const request = `${init}"methodName":"${method}","${method}":${args}}`;
      const child = spawn(program, ['v1', request], { stdio: [data ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
      const chunks = [];
      child.stdout.on('data', (c) => chunks.push(c));
      child.on('error', reject);
      child.on('close', () => {
        const resp = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (resp.errorMessage) reject(new Error(resp.errorMessage));
        else resolve(resp[method]);
      });
      if (data && typeof data.pipe === 'function') data.pipe(child.stdin);
      else if (data) child.stdin.end(data);
    });
  return {
    defaultAlgorithm: async () => (await call('defaultAlgorithm', '{}')).defaultAlgorithm,
    publicKey: async () => Buffer.from((await call('publicKey', `{"publicKeyOptions":{"rpcOptions":${rpc}}}`)).publicKeyPEM, 'base64'),
    signMessage: async () =>
      Buffer.from((await call('signMessage', `{"signOptions":{"rpcOptions":${rpc},"messageOptions":{"digest":null}}}`, msg)).signature, 'base64'),
  };
}

async function percall(dir, uri) {
  const sv = kms.getSignerVerifier(uri, { path: dir });
  const program = sv.programPath;
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 4) continue;
    const [mode, method, n, size] = [f[0], f[1], Number(f[2]), Number(f[3])];
    const msg = Buffer.alloc(size, 'x');
    const calls = mode === 'addon' ? addonCalls(sv, msg) : mode === 'child_process' ? byHand(program, sv.keyRef, msg) : null;
    if (!calls) throw new Error(`unknown mode ${mode}`);
    const fn = calls[method];
    const us = [];
    for (let i = 0; i < n; i++) {
      const t0 = now();
      await fn();
      us.push(Math.round(usSince(t0) * 10) / 10);
    }
    process.stdout.write(`${JSON.stringify({ us })}\n`);
  }
}

async function stream(dir, uri, mode, file, reps) {
  const sv = kms.getSignerVerifier(uri, { path: dir, timeoutMs: 0 });
  const rss = statusKiB('VmRSS');
  const s = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    let sig;
    if (mode === 'path') sig = await sv.signMessage({ path: file });
    else if (mode === 'readable') sig = await sv.signMessage(fs.createReadStream(file, { highWaterMark: 256 * 1024 }));
    else if (mode === 'child_process') {
      // Node by hand: the same plugin with a ReadStream piped into its stdin.
      const { signMessage } = byHand(sv.programPath, sv.keyRef, fs.createReadStream(file, { highWaterMark: 256 * 1024 }));
      sig = await signMessage();
    }
    else throw new Error(`unknown mode ${mode}`);
    s.push(usSince(t0) / 1e6);
    if (!sig || sig.length === 0) throw new Error('no signature');
  }
  process.stdout.write(`${JSON.stringify({ s, rss_kib: rss, hwm_kib: statusKiB('VmHWM') })}\n`);
}

async function concurrency(dir, uri, calls, rounds, size) {
  const sv = kms.getSignerVerifier(uri, { path: dir });
  const msg = Buffer.alloc(size, 'x');
  // Warm up: the runtime, its threads and the blocking pool start on first use.
  await sv.signMessage(msg);
  await Promise.all(Array.from({ length: calls }, () => sv.signMessage(msg)));
  const fds0 = fdList();
  const kids0 = childCount();
  const serial = [];
  const concurrent = [];
  for (let r = 0; r < rounds; r++) {
    let t0 = now();
    for (let i = 0; i < calls; i++) await sv.signMessage(msg);
    serial.push(usSince(t0) / 1e6);
    t0 = now();
    const sigs = await Promise.all(Array.from({ length: calls }, () => sv.signMessage(msg)));
    concurrent.push(usSince(t0) / 1e6);
    if (!sigs.every((x) => x.length > 0)) throw new Error('no signature');
  }
  const fds1 = fdList();
  const out = { serial_s: serial, concurrent_s: concurrent, fds: [Object.keys(fds0).length, Object.keys(fds1).length], children: [kids0, childCount()] };
  if (JSON.stringify(fds0) !== JSON.stringify(fds1)) out.fd_diff = { before: fds0, after: fds1 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const [cmd, ...args] = process.argv.slice(2);
if (native.nativeDebugBuild()) process.stderr.write('node_bench: warning: the addon is a DEBUG build\n');
if (cmd === 'percall') await percall(args[0], args[1]);
else if (cmd === 'stream') await stream(args[0], args[1], args[2], args[3], Number(args[4]));
else if (cmd === 'concurrency') await concurrency(args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4]));
else {
  process.stderr.write('usage: node_bench.mjs percall|stream|concurrency ...\n');
  process.exit(2);
}
