'use strict';
// verifyBundle(bundle, data, publicKey): bundles written by cosign and sigstore-js
// (tests/fixtures/bundles), bundles sigstoreSigner + @sigstore/sign make (Ed25519 message
// signatures included, which @sigstore/verify cannot check), and every failure with its reason.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { test } = require('node:test');

const sigstoreJs = require('./sigstore-js.js');
const { api, bundledDir, systemPath, rejection, tempDir, root } = require('./helpers.js');

const FIXTURES = path.join(root, 'tests', 'fixtures', 'bundles');
const ARTIFACT = fs.readFileSync(path.join(FIXTURES, 'artifact.txt'));
const pub = (alg) => fs.readFileSync(path.join(FIXTURES, `${alg}.pub`), 'utf8');

function fixtures() {
  return fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.sigstore.json'))
    .sort()
    .map((f) => ({ file: f, alg: f.split('.')[0] }));
}

async function reason(promise) {
  const err = await rejection(promise);
  assert.ok(err instanceof api.BundleVerificationError, `${err}`);
  assert.equal(err.code, 'ERR_BUNDLE_VERIFICATION');
  return err.reason;
}

for (const { file, alg } of fixtures()) {
  test(`verifyBundle reads and verifies ${file}`, async () => {
    const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
    const parsed = JSON.parse(text);
    const isDsse = 'dsseEnvelope' in parsed;
    const data = isDsse ? null : ARTIFACT;
    for (const bundle of [text, Buffer.from(text), parsed]) {
      const v = await api.verifyBundle(bundle, data, pub(alg));
      assert.equal(v.content, isDsse ? 'dsseEnvelope' : 'messageSignature');
      assert.equal(v.tlogEntriesNotVerified, 0);
    }
    if (isDsse) {
      const v = await api.verifyBundle(text, { path: path.join(FIXTURES, 'artifact.txt') }, crypto.createPublicKey(pub(alg)));
      assert.equal(v.subject, 'a.txt');
      assert.equal(JSON.parse(v.payload).subject[0].name, 'a.txt');
      assert.equal(await reason(api.verifyBundle(text, Buffer.from('other'), pub(alg))), 'subject_mismatch');
    } else {
      const v = await api.verifyBundle(text, { path: pathToFileURL(path.join(FIXTURES, 'artifact.txt')) }, pub(alg));
      assert.ok(Buffer.isBuffer(v.digest));
      const tampered = await reason(api.verifyBundle(text, Buffer.from('tampered'), pub(alg)));
      // cosign's Ed25519 bundle has "messageDigest":{}: only the signature can fail.
      assert.equal(tampered, parsed.messageSignature.messageDigest.digest ? 'digest_mismatch' : 'bad_signature');
    }
    const other = alg === 'ecdsa-p256' ? 'ed25519' : 'ecdsa-p256';
    assert.equal(await reason(api.verifyBundle(text, data, pub(other))), 'hint_mismatch');
  });
}

test('sigstoreSigner bundles verify, Ed25519 message signatures included', async (t) => {
  const { bundleToJSON, bundleFromJSON } = sigstoreJs.bundle;
  const { MessageSignatureBundleBuilder, DSSEBundleBuilder } = sigstoreJs.sign;
  for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519']) {
    const sv = api.getSignerVerifier(`localkms://${path.join(tempDir(t), 'key.pem')}`, {
      path: `${bundledDir}:${systemPath}`,
      stderr: 'capture',
    });
    const pem = await sv.createKey(alg);
    const signer = api.sigstoreSigner(sv);
    const message = await new MessageSignatureBundleBuilder({ signer, witnesses: [] }).create({ data: ARTIFACT });
    const v = await api.verifyBundle(bundleToJSON(message), ARTIFACT, pem);
    assert.equal(v.digestAlgorithm, 'SHA2_256');
    // A sigstore-js Bundle object is converted with @sigstore/bundle.
    await api.verifyBundle(bundleFromJSON(bundleToJSON(message)), ARTIFACT, pem);
    const dsse = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: Buffer.from('{}'), type: 'application/json' });
    const d = await api.verifyBundle(bundleToJSON(dsse), undefined, pem);
    assert.equal(d.payloadType, 'application/json');
    assert.equal(d.payload.toString(), '{}');
  }
});

test('verifyBundle failures say why', async (t) => {
  const text = fs.readFileSync(path.join(FIXTURES, 'ecdsa-p256.cosign.sigstore.json'), 'utf8');
  const doc = JSON.parse(text);
  const key = pub('ecdsa-p256');
  assert.equal(await reason(api.verifyBundle(text.slice(0, -1), ARTIFACT, key)), 'malformed');
  const err = await rejection(api.verifyBundle('{"mediaType":"text/plain"}', ARTIFACT, key));
  assert.match(err.message, /unknown media type/);
  const wrongHint = { ...doc, verificationMaterial: { publicKey: { hint: 'AAAA' } } };
  assert.equal(await reason(api.verifyBundle(wrongHint, ARTIFACT, key)), 'hint_mismatch');
  const noHint = { ...doc, verificationMaterial: { publicKey: {} } };
  await api.verifyBundle(noHint, ARTIFACT, key);
  const otherKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  assert.equal(await reason(api.verifyBundle(noHint, ARTIFACT, otherKey)), 'bad_signature');
  assert.equal(await reason(api.verifyBundle(text, null, key)), 'wrong_content');
  const keyless = { ...doc, verificationMaterial: { certificate: { rawBytes: 'MAA=' } } };
  assert.equal(await reason(api.verifyBundle(keyless, ARTIFACT, key)), 'unsupported');
  assert.equal(await reason(api.verifyBundle(text, ARTIFACT, 'not a key')), 'invalid_key');
  // A file that cannot be read rejects as fs does.
  const missing = await rejection(api.verifyBundle(text, { path: path.join(tempDir(t), 'missing') }, key));
  assert.equal(missing.code, 'ENOENT');
  // Bad arguments throw synchronously-typed errors (the promise rejects with a TypeError).
  for (const [b, d, k] of [
    [42, ARTIFACT, key],
    [text, 'a string', key],
    [text, ARTIFACT, 42],
    [text, { path: 42 }, key],
  ]) {
    const e = await rejection(api.verifyBundle(b, d, k));
    assert.ok(e instanceof TypeError, `${e}`);
    assert.equal(e.code, 'ERR_INVALID_ARG_TYPE');
  }
  // A private KeyObject is used for its public half.
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.equal(await reason(api.verifyBundle(text, ARTIFACT, pair.privateKey)), 'hint_mismatch');
});

test('the ESM entry exports verifyBundle', async () => {
  const esm = await import(pathToFileURL(path.join(root, 'node', 'index.mjs')).href);
  assert.equal(esm.verifyBundle, api.verifyBundle);
  assert.equal(esm.BundleVerificationError, api.BundleVerificationError);
});
