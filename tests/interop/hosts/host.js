#!/usr/bin/env node
// The Node host of the interop tests: `node host.js SCENARIO.json`.
//
// Runs a scenario (see tests/interop/go/internal/scenario) through the Node binding
// (`getSignerVerifier` of the package at INTEROP_NODE_PACKAGE, default the repository root)
// and prints {"host":"node","results":[...]}. Never shipped.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const pkg = require(process.env.INTEROP_NODE_PACKAGE || path.resolve(__dirname, '..', '..', '..'));

const b64 = (s) => Buffer.from(s || '', 'base64');

function spkiDer(pem) {
  const text = Buffer.isBuffer(pem) ? pem.toString() : String(pem);
  const m = /-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/.exec(text);
  if (!m) throw new Error(`not a PEM: ${text.slice(0, 60)}`);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString('base64');
}

function message(op) {
  return op.messageFile ? { path: op.messageFile } : b64(op.message);
}

function signatureFrom(results, op) {
  if (op.signatureFrom === undefined || op.signatureFrom === null) return b64(op.signature);
  const r = results[op.signatureFrom];
  if (!r || !r.ok) throw new Error(`signatureFrom ${op.signatureFrom}: no such successful op`);
  return b64(r.value);
}

async function run(sv, op, results) {
  switch (op.op) {
    case 'defaultAlgorithm':
      return sv.defaultAlgorithm();
    case 'supportedAlgorithms':
      return sv.supportedAlgorithms();
    case 'createKey':
      return spkiDer(await sv.createKey(op.algorithm || ''));
    case 'publicKey':
      return spkiDer(await sv.publicKey());
    case 'signMessage':
      return (await sv.signMessage(message(op))).toString('base64');
    case 'signDigest':
      return (await sv.signDigest(b64(op.digest), op.hashFunc || 0)).toString('base64');
    case 'verifySignature':
      await sv.verifySignature(signatureFrom(results, op), message(op));
      return null;
    case 'verifyDigest':
      await sv.verifyDigest(signatureFrom(results, op), b64(op.digest), op.hashFunc || 0);
      return null;
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: host.js SCENARIO.json\n');
    return 2;
  }
  const sc = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const options = {
    hashFunc: sc.hashFunc,
    timeoutMs: sc.timeoutSeconds ? sc.timeoutSeconds * 1000 : 0,
    remoteVerification: Boolean(sc.remoteVerification),
  };
  if (sc.keyVersion) options.keyVersion = sc.keyVersion;
  const sv = pkg.getSignerVerifier(sc.key, options);
  const results = [];
  for (const op of sc.ops) {
    try {
      results.push({ op: op.op, ok: true, value: await run(sv, op, results) });
    } catch (e) {
      const error = { kind: e.kind || 'Other', text: String(e && e.message) };
      if (e.code === undefined) error.kind = 'Other';
      if (e.pluginMessage !== undefined) error.pluginMessage = e.pluginMessage;
      results.push({ op: op.op, ok: false, error });
    }
  }
  process.stdout.write(JSON.stringify({ host: 'node', results }) + '\n');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`host.js: ${e && e.stack}\n`);
    process.exitCode = 1;
  },
);
