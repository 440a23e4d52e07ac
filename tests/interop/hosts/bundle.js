#!/usr/bin/env node
// Sigstore bundles through the npm package and sigstore-js, for the interop harness
// (bundle_test.go). The package is INTEROP_NODE_PACKAGE (default: the repository root); the
// sigstore-js packages are the repository's devDependencies, or SIGSTORE_JS_DIR's.
//
//   bundle.js sign URI ARTIFACT OUT                      @sigstore/sign + sigstoreSigner
//   bundle.js sign-dsse URI PAYLOAD-FILE TYPE OUT        @sigstore/sign + sigstoreSigner
//   bundle.js verify JOBS.json                           verifyBundle
//   bundle.js sigstore-verify JOBS.json                  @sigstore/verify, offline
//
// JOBS.json is an array of {"bundle": FILE, "publicKey": PEM-FILE, "artifact": FILE or null};
// the verify commands print an array with, for each, {"ok":true} or {"ok":false,"reason",
// "message"}, and exit 0 either way; anything else that fails exits 1. Never shipped.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const pkg = require(process.env.INTEROP_NODE_PACKAGE || path.resolve(__dirname, '..', '..', '..'));
const sigstoreJs = require(path.resolve(__dirname, '..', '..', 'node', 'sigstore-js.js'));

async function main([command, ...args]) {
  if (command === 'sign' || command === 'sign-dsse') {
    const signer = pkg.sigstoreSigner(pkg.getSignerVerifier(args[0]));
    const { MessageSignatureBundleBuilder, DSSEBundleBuilder } = sigstoreJs.sign;
    const bundle =
      command === 'sign'
        ? await new MessageSignatureBundleBuilder({ signer, witnesses: [] }).create({ data: fs.readFileSync(args[1]) })
        : await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: fs.readFileSync(args[1]), type: args[2] });
    fs.writeFileSync(command === 'sign' ? args[2] : args[3], JSON.stringify(sigstoreJs.bundle.bundleToJSON(bundle)));
    return;
  }
  const jobs = JSON.parse(fs.readFileSync(args[0], 'utf8'));
  const results = [];
  for (const job of jobs) {
    const json = fs.readFileSync(job.bundle, 'utf8');
    const pem = fs.readFileSync(job.publicKey, 'utf8');
    if (command === 'verify') results.push(await ours(json, pem, job.artifact));
    else if (command === 'sigstore-verify') results.push(sigstoreVerify(json, pem, job.artifact));
    else throw new Error(`unknown command ${command}`);
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

async function ours(json, pem, artifact) {
  try {
    const v = await pkg.verifyBundle(json, artifact ? { path: artifact } : null, pem);
    return { ok: true, content: v.content };
  } catch (err) {
    if (err.code !== 'ERR_BUNDLE_VERIFICATION') throw err;
    return { ok: false, reason: err.reason, message: err.message };
  }
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/** @sigstore/verify with the public key as the only trust material (no tlog, no timestamps). */
function sigstoreVerify(json, pem, artifact) {
  const { Verifier, toSignedEntity, toTrustMaterial } = sigstoreJs.verify;
  try {
    const bundle = sigstoreJs.bundle.bundleFromJSON(JSON.parse(json));
    const hint = bundle.verificationMaterial.content.publicKey.hint;
    const der = crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' });
    const root = sigstoreJs.protobufSpecs.TrustedRoot.fromJSON(EMPTY_ROOT);
    const trust = toTrustMaterial(root, { [hint]: { rawBytes: der, keyDetails: 0, validFor: undefined } });
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    verifier.verify(toSignedEntity(bundle, artifact ? fs.readFileSync(artifact) : undefined));
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err.code || err.name, message: String(err.message) };
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`bundle.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
