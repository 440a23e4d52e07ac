'use strict';
// The bundled plugin `sigstore-kms-localkms` as the npm package ships it: the native program in
// the platform package's plugins/ (node/plugins in a source checkout), found after PATH with no
// PATH change, and the `bin` launcher in node/bin (the Rust plugin inside the addon).

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { api, bundledDir, systemPath, rejection, tempDir, patternStream } = require('./helpers.js');
const { codes, protocol } = api;

const program = path.join(api.bundledPluginDir, 'sigstore-kms-localkms');
const launcher = path.join(bundledDir, 'sigstore-kms-localkms');

// Only the system directories on the search path: the plugin comes from the plugin directory.
function localkms(file, options = {}) {
  return api.getSignerVerifier(`localkms://${file}`, { path: systemPath, stderr: 'capture', ...options });
}

test('the bundled plugin is a native program found after PATH, in bundledPluginDir', () => {
  assert.ok(path.isAbsolute(api.bundledPluginDir));
  assert.equal(path.basename(api.bundledPluginDir), 'plugins');
  assert.deepEqual(api.pluginDirs()[0], api.bundledPluginDir);
  // An ELF program, not a script needing an interpreter on PATH.
  assert.deepEqual([...fs.readFileSync(program).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  const found = api.listPlugins(api.bundledPluginDir);
  assert.deepEqual(found.map((p) => [p.name, p.usable]), [['localkms', true], ['pkcs11', true]]);
  assert.equal(localkms('/k').programPath, program);
  // A program of the same name on the search path wins: the launcher in node/bin here.
  assert.equal(localkms('/k', { path: `${bundledDir}:${systemPath}` }).programPath, launcher);
  const listed = api.listPlugins(`${bundledDir}:${systemPath}`).filter((p) => p.name === 'localkms');
  assert.deepEqual(
    listed.map((p) => [p.path, p.source, p.usable, p.shadowedBy]),
    [
      [launcher, 'path', true, undefined],
      [program, 'bundled', false, launcher],
    ],
  );
});

test('the bin launcher signs what the native program verifies', async (t) => {
  const key = path.join(tempDir(t), 'k.pem');
  const viaLauncher = localkms(key, { path: `${bundledDir}:${systemPath}` });
  await viaLauncher.createKey('ecdsa-p256');
  const sig = await viaLauncher.signMessage(Buffer.from('both'));
  await localkms(key).verifySignature(sig, Buffer.from('both'));
});

test('every algorithm: create, sign (bytes, file, stream, digest), verify', async (t) => {
  const dir = tempDir(t);
  const artifact = path.join(dir, 'artifact.bin');
  fs.writeFileSync(artifact, crypto.randomBytes(300000));
  const data = fs.readFileSync(artifact);
  const sv0 = localkms(path.join(dir, 'none.pem'));
  assert.equal(await sv0.defaultAlgorithm(), 'ecdsa-p256');
  const supported = await sv0.supportedAlgorithms();
  for (const [algorithm, keyType, hash] of [
    ['ecdsa-p256', 'ecdsa-p256', 'sha256'],
    ['ecdsa-p384', 'ecdsa-p384', 'sha256'],
    ['rsa-2048', 'rsa', 'sha256'],
    ['ed25519', 'ed25519', null],
  ]) {
    assert.ok(supported.includes(algorithm), algorithm);
    const sv = localkms(path.join(dir, `${algorithm}.pem`));
    const pem = await sv.createKey(algorithm);
    assert.equal((await sv.publicKeyInfo()).keyType, keyType);
    assert.equal(await sv.publicKey(), pem);
    const pub = crypto.createPublicKey(pem);
    for (const message of [data, { path: artifact }, fs.createReadStream(artifact)]) {
      const sig = await sv.signMessage(message);
      assert.ok(crypto.verify(hash, data, pub, sig), `${algorithm}: signature over the artifact`);
      await sv.verifySignature(sig, { path: artifact });
    }
    const sig = await sv.signMessage(data);
    const bad = await rejection(sv.verifySignature(sig, Buffer.from('tampered')));
    assert.equal(bad.code, codes.PLUGIN_RETURNED, algorithm);
    if (hash) {
      const digest = crypto.createHash('sha256').update(data).digest();
      const dsig = await sv.signDigest(digest, 'sha256');
      assert.ok(crypto.verify('sha256', data, pub, dsig), `${algorithm}: digest signature`);
      await sv.verifyDigest(dsig, digest, 'sha256');
    } else {
      const err = await rejection(sv.signDigest(Buffer.alloc(32), 'sha256'));
      assert.equal(err.code, codes.PLUGIN_RETURNED);
    }
  }
});

test('a key created with hashFunc sha384 signs with SHA-384', async (t) => {
  const sv = localkms(path.join(tempDir(t), 'p384.pem'), { hashFunc: 'sha384' });
  const pub = crypto.createPublicKey(await sv.createKey('ecdsa-p384'));
  const sig = await sv.signMessage(Buffer.from('x'));
  assert.ok(crypto.verify('sha384', Buffer.from('x'), pub, sig));
});

const direct = [
  ['native program', program],
  ['bin launcher', launcher],
];
for (const [what, file] of direct) test(`run directly (${what}): one JSON value on stdout, stdin read raw`, (t) => {
  const program = file;
  const dir = tempDir(t);
  const keyFile = path.join(dir, 'k.pem');
  const req = (method, body, ref = keyFile) =>
    `{"initOptions":{"protocolVersion":"v1","keyResourceID":${JSON.stringify(ref)},"hashFunc":5},"methodName":"${method}","${method}":${body}}`;
  let r = spawnSync(program, ['v1', req('defaultAlgorithm', '{}')]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout.toString(), protocol.encodeResponse('defaultAlgorithm', { defaultAlgorithm: 'ecdsa-p256' }));
  r = spawnSync(program, ['v1', req('createKey', '{"algorithm":"ecdsa-p256"}')]);
  const pem = Buffer.from(JSON.parse(r.stdout).createKey.publicKeyPEM, 'base64').toString();
  // Every byte value, and bytes that look like UTF-8 trouble, go through stdin untouched.
  const message = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a])]);
  const body = '{"signOptions":{"rpcOptions":{"keyVersion":"","remoteVerification":false},"messageOptions":{"digest":null}}}';
  r = spawnSync(program, ['v1', req('signMessage', body)], { input: message });
  assert.equal(r.status, 0, r.stderr.toString());
  const out = r.stdout.toString();
  assert.equal(out, JSON.stringify(JSON.parse(out)), 'exactly one compact JSON value');
  const sig = Buffer.from(JSON.parse(out).signMessage.signature, 'base64');
  assert.ok(crypto.verify('sha256', message, crypto.createPublicKey(pem), sig));
  // Bad invocations are answered, not crashed on.
  r = spawnSync(program, ['v9', req('defaultAlgorithm', '{}')]);
  assert.match(JSON.parse(r.stdout).errorMessage, /unsupported protocol version "v9"/);
});

test('a 256 MiB stream to localkms', async (t) => {
  const sv = localkms(path.join(tempDir(t), 'k.pem'));
  const pub = crypto.createPublicKey(await sv.createKey('ecdsa-p256'));
  const size = 256 * 1024 * 1024;
  const sig = await sv.signMessage(patternStream(size, 1024 * 1024));
  const v = crypto.createVerify('sha256');
  const block = Buffer.alloc(1024 * 1024, 'x');
  for (let i = 0; i < size / block.length; i += 1) v.update(block);
  assert.ok(v.verify(pub, sig));
});
