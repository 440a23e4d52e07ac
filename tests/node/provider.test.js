'use strict';
// In-process providers implemented in JavaScript (registerProvider): the core calls the
// handler from a worker thread; the handler runs on the JavaScript thread and may be async.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');
const { test } = require('node:test');
const util = require('node:util');

const { api, root, fixturePath, fixtureKeyPem, fixturePubPem, rejection, thrown, patternStream } = require('./helpers.js');
const { codes, KmsPluginError } = api;

const key = crypto.createPrivateKey(fixtureKeyPem);

/** A handler signing with the fixture P-256 key through node:crypto, recording what it saw. */
function cryptoHandler(seen = []) {
  return {
    async defaultAlgorithm(ctx) {
      seen.push({ method: 'defaultAlgorithm', ctx });
      await new Promise((r) => setTimeout(r, 5));
      return 'ecdsa-p256';
    },
    supportedAlgorithms: () => ['ecdsa-p256'],
    createKey: (ctx, algorithm) => {
      seen.push({ method: 'createKey', algorithm });
      return crypto.createPublicKey(key);
    },
    publicKey: () => fixturePubPem,
    async signMessage(ctx, message, opts) {
      seen.push({ method: 'signMessage', opts });
      const signer = crypto.createSign(opts.hashFunc ?? ctx.hashFunc);
      let n = 0;
      for await (const chunk of message) {
        assert.ok(chunk.length <= 64 * 1024);
        n += chunk.length;
        signer.update(chunk);
      }
      seen.push({ bytes: n });
      return signer.sign(key);
    },
    async verifySignature(ctx, signature, message) {
      return crypto.verify('sha256', await message.bytes(), crypto.createPublicKey(key), signature);
    },
  };
}

test('a provider serves every method, with the call context', async (t) => {
  const seen = [];
  const refs = [];
  assert.equal(api.registerProvider('jsprov', (ref) => {
    refs.push(ref);
    return cryptoHandler(seen);
  }), 'jsprov://');
  t.after(() => api.unregisterProvider('jsprov'));
  assert.ok(api.registeredProviders().includes('jsprov://'));

  const sv = api.getSignerVerifier('jsprov://projects/p/keys/k', { keyVersion: '3', remoteVerification: true, timeoutMs: 60000 });
  assert.deepEqual(refs, ['projects/p/keys/k']);
  assert.equal(sv.programPath, null);
  assert.equal(await sv.defaultAlgorithm(), 'ecdsa-p256');
  const { ctx } = seen.find((s) => s.method === 'defaultAlgorithm');
  assert.equal(ctx.keyResourceID, 'projects/p/keys/k');
  assert.equal(ctx.hashFunc, 'sha256');
  assert.equal(ctx.keyVersion, '3');
  assert.equal(ctx.remoteVerification, true);
  assert.ok(ctx.deadline instanceof Date && ctx.deadline.getTime() > Date.now() + 50000);
  assert.ok(Object.isFrozen(ctx));

  assert.deepEqual(await sv.supportedAlgorithms(), ['ecdsa-p256']);
  assert.equal(await sv.publicKey(), fixturePubPem);
  assert.equal(await sv.createKey('ecdsa-p256'), fixturePubPem, 'a KeyObject is exported as SPKI PEM');
  assert.equal(seen.find((s) => s.method === 'createKey').algorithm, 'ecdsa-p256');

  const data = Buffer.from('hello provider');
  const sig = await sv.signMessage(data);
  assert.ok(crypto.verify('sha256', data, crypto.createPublicKey(key), sig));
  await sv.verifySignature(sig, data);
  const bad = await rejection(sv.verifySignature(sig, Buffer.from('other')));
  assert.equal(bad.code, codes.PLUGIN_RETURNED);
  assert.equal(bad.pluginMessage, 'invalid signature');
  assert.equal(bad.plugin, 'jsprov://');
  assert.equal(bad.pluginPath, null);

  // A digest reaches the handler as opts.digest, with its hash function.
  const digest = crypto.createHash('sha384').update('x').digest();
  await sv.signDigest(digest, 'sha384');
  const opts = seen.filter((s) => s.method === 'signMessage').at(-1).opts;
  assert.deepEqual(opts.digest, digest);
  assert.equal(opts.hashFunc, 'sha384');
});

test('a large message is streamed to the provider in chunks', async (t) => {
  const seen = [];
  api.registerProvider('jsstream', () => cryptoHandler(seen));
  t.after(() => api.unregisterProvider('jsstream://'));
  const sv = api.getSignerVerifier('jsstream://k');
  const size = 64 * 1024 * 1024 + 3;
  const sig = await sv.signMessage(patternStream(size));
  assert.equal(seen.find((s) => s.bytes !== undefined).bytes, size);
  const expected = crypto.createVerify('sha256');
  const block = Buffer.alloc(1024 * 1024, 'x');
  for (let left = size; left > 0; left -= block.length) expected.update(left >= block.length ? block : block.subarray(0, left));
  assert.ok(expected.verify(crypto.createPublicKey(key), sig));
});

test('handler failures become ERR_PLUGIN_RETURNED with the handler message', async (t) => {
  api.registerProvider('jsfail', () => ({
    defaultAlgorithm() {
      throw new Error('the KMS said no');
    },
    supportedAlgorithms: async () => {
      throw 'a bare string'; // eslint-disable-line no-throw-literal
    },
    publicKey: () => 42,
    signMessage: () => 'not bytes',
    verifySignature: () => false,
  }));
  t.after(() => api.unregisterProvider('jsfail'));
  const sv = api.getSignerVerifier('jsfail://k');
  const cases = [
    [() => sv.defaultAlgorithm(), 'the KMS said no'],
    [() => sv.supportedAlgorithms(), 'a bare string'],
    [() => sv.publicKey(), 'handler.publicKey() must return a PEM string or a public KeyObject, got a number'],
    [() => sv.signMessage(Buffer.from('x')), 'handler.signMessage() must return a Buffer or Uint8Array, got a string'],
    [() => sv.verifySignature(Buffer.from('s'), Buffer.from('x')), 'invalid signature'],
    [() => sv.createKey('x'), 'unsupported method: createKey'],
  ];
  for (const [call, message] of cases) {
    const err = await rejection(call());
    assert.ok(err instanceof KmsPluginError);
    assert.equal(err.code, codes.PLUGIN_RETURNED);
    assert.equal(err.pluginMessage, message);
  }
});

test('a provider that never answers fails at the call deadline', async (t) => {
  api.registerProvider('jsstuck', () => ({ defaultAlgorithm: () => new Promise(() => {}) }));
  t.after(() => api.unregisterProvider('jsstuck'));
  const started = Date.now();
  const err = await rejection(api.getSignerVerifier('jsstuck://k', { timeoutMs: 300 }).defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_RETURNED);
  assert.match(err.pluginMessage, /did not answer defaultAlgorithm before the call's deadline/);
  assert.ok(Date.now() - started < 5000);
});

test('factory failures are reported by getSignerVerifier', (t) => {
  api.registerProvider('jsbadfactory', () => {
    throw new Error('no credentials');
  });
  api.registerProvider('jsasyncfactory', async () => ({}));
  api.registerProvider('jsnullfactory', () => null);
  t.after(() => ['jsbadfactory', 'jsasyncfactory', 'jsnullfactory'].forEach((p) => api.unregisterProvider(p)));
  const err = thrown(() => api.getSignerVerifier('jsbadfactory://k'));
  assert.equal(err.code, codes.PLUGIN_RETURNED);
  assert.match(err.message, /provider factory failed: no credentials/);
  assert.match(thrown(() => api.getSignerVerifier('jsasyncfactory://k')).message, /returned a Promise/);
  assert.match(thrown(() => api.getSignerVerifier('jsnullfactory://k')).message, /must be an object/);
});

test('a provider wins over a plugin program of the same name; unregistering restores it', async () => {
  api.registerProvider('fixture', () => ({ defaultAlgorithm: () => 'from-provider' }));
  try {
    const sv = api.getSignerVerifier('fixture://k', { path: fixturePath });
    assert.equal(sv.programPath, null);
    assert.equal(await sv.defaultAlgorithm(), 'from-provider');
  } finally {
    assert.equal(api.unregisterProvider('fixture://'), true);
  }
  assert.equal(api.unregisterProvider('fixture://'), false);
  const sv = api.getSignerVerifier('fixture://k', { path: fixturePath, stderr: 'capture' });
  assert.ok(sv.programPath.endsWith('sigstore-kms-fixture'));
  assert.equal(await sv.defaultAlgorithm(), 'ecdsa-p256');
});

test('a provider is found by the parsed plugin name: pkcs11 serves RFC 7512 URIs; inspect hides the PIN', async (t) => {
  const given = [];
  api.registerProvider('pkcs11', (keyRef) => {
    given.push(keyRef);
    return { defaultAlgorithm: (ctx) => `alg-for ${ctx.keyResourceID}` };
  });
  t.after(() => api.unregisterProvider('pkcs11'));
  const reference = 'token=ci;object=k?module-path=/m.so&pin-value=8264';
  for (const uri of [`pkcs11:${reference}`, `pkcs11://${reference}`]) {
    const sv = api.getSignerVerifier(uri);
    assert.equal(sv.programPath, null, `${uri} reached the provider`);
    assert.equal(sv.keyRef, reference);
    assert.equal(await sv.defaultAlgorithm(), `alg-for ${reference}`);
    const shown = util.inspect(sv);
    assert.ok(!shown.includes('8264') && shown.includes('pin-value=[redacted]'), shown);
  }
  assert.deepEqual(given, [reference, reference]);
  // A name that merely starts like a registered one is another plugin.
  assert.equal(thrown(() => api.getSignerVerifier('pkcs11x://k', { path: fixturePath })).code, codes.PLUGIN_NOT_FOUND);
});

test('inspecting a plugin program\'s signer-verifier hides a PIN in its key reference', () => {
  const sv = api.getSignerVerifier('fixture://token=t;object=k?pin-value=8264', { path: fixturePath });
  const shown = util.inspect(sv);
  assert.ok(shown.includes('sigstore-kms-fixture') && shown.includes('pin-value=[redacted]'), shown);
  assert.ok(!shown.includes('8264'), shown);
});

test('bad provider prefixes are refused', () => {
  for (const prefix of ['a/b', '', '-x', 'sp ace']) {
    assert.equal(thrown(() => api.registerProvider(prefix, () => ({}))).code, codes.INVALID_KEY_URI, prefix);
  }
  assert.equal(thrown(() => api.registerProvider('ok', 'not a function')).code, 'ERR_INVALID_ARG_TYPE');
});

test('a registered provider does not keep the process alive', () => {
  const script = `
    const api = require(${JSON.stringify(path.join(root, 'node', 'index.js'))});
    api.registerProvider('idle', () => ({ defaultAlgorithm: async () => 'x' }));
    api.getSignerVerifier('idle://k').defaultAlgorithm().then((a) => console.log('answered', a));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'answered x\n');
});

test('providers run many calls concurrently', async (t) => {
  let inFlight = 0;
  let peak = 0;
  api.registerProvider('jsconc', () => ({
    async defaultAlgorithm() {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 50));
      inFlight -= 1;
      return 'ok';
    },
  }));
  t.after(() => api.unregisterProvider('jsconc'));
  const sv = api.getSignerVerifier('jsconc://k');
  const answers = await Promise.all(Array.from({ length: 16 }, () => sv.defaultAlgorithm()));
  assert.deepEqual(answers, Array(16).fill('ok'));
  assert.ok(peak > 1, `peak concurrency ${peak}`);
});
