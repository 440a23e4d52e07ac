'use strict';
// sigstoreSigner(sv) with sigstore-js: @sigstore/sign builds message-signature and DSSE
// bundles signed by the KMS key, and @sigstore/verify verifies them offline against the
// public key (the versions of tests/node/sigstore-js.js: the previous majors, or the current
// ones in the Node version matrix). Keys: the bundled localkms plugin (P-256, P-384, RSA, Ed25519), an in-process
// provider signing with node:crypto, and the JS-SDK test plugin.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { test } = require('node:test');

const sigstoreJs = require('./sigstore-js.js');

const { bundleFromJSON, bundleToJSON } = sigstoreJs.bundle;
const { TrustedRoot } = sigstoreJs.protobufSpecs;
const { DSSEBundleBuilder, MessageSignatureBundleBuilder } = sigstoreJs.sign;
const { Verifier, toSignedEntity, toTrustMaterial } = sigstoreJs.verify;

const { api, bundledDir, pluginsPath, systemPath, fixtureKeyPem, rejection, tempDir } = require('./helpers.js');

const EMPTY_ROOT = TrustedRoot.fromJSON({
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

/** Verifies a bundle (as JSON, as it would be stored) offline against `publicKeyPem`. */
function verifyBundle(bundleJson, publicKeyPem, artifact) {
  const hint = bundleJson.verificationMaterial.publicKey.hint;
  const der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  const trust = toTrustMaterial(EMPTY_ROOT, { [hint]: { rawBytes: der, keyDetails: 0, validFor: undefined } });
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  return verifier.verify(toSignedEntity(bundleFromJSON(bundleJson), artifact));
}

async function bundles(signer) {
  const data = Buffer.from('an artifact signed through a Sigstore KMS plugin\n');
  const message = bundleToJSON(await new MessageSignatureBundleBuilder({ signer, witnesses: [] }).create({ data }));
  const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [] }));
  const dsse = bundleToJSON(
    await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: statement, type: 'application/vnd.in-toto+json' }),
  );
  return { data, message, dsse };
}

function expectedHint(pem) {
  const der = crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

function localkms(file, options = {}) {
  return api.getSignerVerifier(`localkms://${file}`, { path: `${bundledDir}:${systemPath}`, stderr: 'capture', ...options });
}

for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048']) {
  test(`localkms ${algorithm}: message and DSSE bundles verify with @sigstore/verify`, async (t) => {
    const sv = localkms(path.join(tempDir(t), 'key.pem'));
    const pem = await sv.createKey(algorithm);
    const { data, message, dsse } = await bundles(api.sigstoreSigner(sv));

    assert.equal(message.verificationMaterial.publicKey.hint, expectedHint(pem));
    assert.equal(message.messageSignature.messageDigest.algorithm, 'SHA2_256');
    assert.equal(message.messageSignature.messageDigest.digest, crypto.createHash('sha256').update(data).digest('base64'));
    const signer = verifyBundle(message, pem, data);
    assert.equal(signer.key.asymmetricKeyType, crypto.createPublicKey(pem).asymmetricKeyType);
    verifyBundle(dsse, pem);

    // A tampered artifact does not verify.
    assert.throws(() => verifyBundle(message, pem, Buffer.from('tampered')));
    // Nor does another key.
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    assert.throws(() => verifyBundle(message, other, data));
  });
}

test('localkms ed25519: DSSE bundles verify; sigstore-js cannot verify Ed25519 message signatures', async (t) => {
  const sv = localkms(path.join(tempDir(t), 'key.pem'));
  const pem = await sv.createKey('ed25519');
  const { data, message, dsse } = await bundles(api.sigstoreSigner(sv));
  verifyBundle(dsse, pem);
  // The signature itself is a valid Ed25519 signature over the artifact...
  const sig = Buffer.from(message.messageSignature.signature, 'base64');
  assert.ok(crypto.verify(null, data, crypto.createPublicKey(pem), sig));
  // ...but @sigstore/verify (3 and 4) verifies message signatures with an explicit digest
  // (crypto.verify('sha256', ...)), which Node refuses for Ed25519 keys. If this starts
  // passing, update the documentation.
  assert.throws(() => verifyBundle(message, pem, data), /signature verification failed/);
  // An Ed25519 key cannot sign a precomputed digest.
  const err = await rejection(api.sigstoreSigner(sv, { mode: 'digest' }).sign(data));
  assert.equal(err.code, 'ERR_SIGSTORE_SIGNER');
});

test('an in-process provider signing with node:crypto (mode "message")', async (t) => {
  const key = crypto.createPrivateKey(fixtureKeyPem);
  api.registerProvider('sigjs', () => ({
    publicKey: () => crypto.createPublicKey(key),
    async signMessage(ctx, message, opts) {
      assert.equal(opts.digest, undefined, 'mode "message" sends the data');
      return crypto.sign(ctx.hashFunc, await message.bytes(), key);
    },
  }));
  t.after(() => api.unregisterProvider('sigjs'));
  const sv = api.getSignerVerifier('sigjs://fixture');
  const { data, message, dsse } = await bundles(api.sigstoreSigner(sv, { mode: 'message' }));
  const pub = crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' });
  verifyBundle(message, pub, data);
  verifyBundle(dsse, pub);
});

test('the JS-SDK plugin: RSA through digests (mode "auto")', async (t) => {
  const sv = api.getSignerVerifier(`jskms://${path.join(tempDir(t), 'rsa.pem')}`, { path: pluginsPath, stderr: 'capture' });
  const pem = await sv.createKey('rsa-2048');
  const { data, message, dsse } = await bundles(api.sigstoreSigner(sv));
  verifyBundle(message, pem, data);
  verifyBundle(dsse, pem);
});

test('a signature that would not verify is caught before it reaches a bundle', async (t) => {
  // A broken provider: signs with another key than it advertises.
  const advertised = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const actual = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  api.registerProvider('sigliar', () => ({
    publicKey: () => advertised.publicKey,
    signMessage: async (ctx, message) => crypto.sign('sha256', await message.bytes(), actual.privateKey),
  }));
  t.after(() => api.unregisterProvider('sigliar'));
  const signer = api.sigstoreSigner(api.getSignerVerifier('sigliar://k'), { mode: 'message' });
  const err = await rejection(signer.sign(Buffer.from('x')));
  assert.equal(err.code, 'ERR_SIGSTORE_SIGNER');
  assert.match(err.message, /does not verify/);
  // With the check off, the bad signature is returned (and would fail verification later).
  const unchecked = api.sigstoreSigner(api.getSignerVerifier('sigliar://k'), { mode: 'message', verify: false });
  assert.ok((await unchecked.sign(Buffer.from('x'))).signature.length > 0);
  assert.throws(() => api.sigstoreSigner({}), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => api.sigstoreSigner(api.getSignerVerifier('sigliar://k'), { mode: 'x' }), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('a failed public key lookup is retried on the next sign()', async (t) => {
  let calls = 0;
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  api.registerProvider('sigflaky', () => ({
    publicKey() {
      calls += 1;
      if (calls === 1) throw new Error('transient');
      return key.publicKey;
    },
    signMessage: async (ctx, message) => crypto.sign('sha256', await message.bytes(), key.privateKey),
  }));
  t.after(() => api.unregisterProvider('sigflaky'));
  const signer = api.sigstoreSigner(api.getSignerVerifier('sigflaky://k'), { mode: 'message' });
  assert.equal((await rejection(signer.sign(Buffer.from('x')))).pluginMessage, 'transient');
  await signer.sign(Buffer.from('x'));
  await signer.sign(Buffer.from('y'));
  assert.equal(calls, 2, 'the public key is fetched once after it succeeded');
});

test('sigstore-js versions under test', () => {
  // Printed so that a run says which majors it checked; the matrix checks both.
  process.stderr.write(`sigstore-js: @sigstore/sign ${sigstoreJs.versions.sign}, @sigstore/verify ${sigstoreJs.versions.verify}, node ${process.version}\n`);
  assert.match(sigstoreJs.versions.sign, /^[45]\./);
  assert.match(sigstoreJs.versions.verify, /^[34]\./);
});
