'use strict';
// The JavaScript plugin SDK (`sigstore-kms-plugins/plugin`): the test plugin
// tests/node/plugins/sigstore-kms-jskms, written with serve(), driven by the addon's host, by
// the Rust CLI (`sigstore-kms`, through node/bin), and run directly like a host would.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { api, root, jsPluginsDir, pluginsPath, bundledDir, fixtureKeyPem, fixturePubPem, rejection, tempDir, patternStream } = require(
  './helpers.js',
);
const { codes, protocol } = api;

const plugin = path.join(jsPluginsDir, 'sigstore-kms-jskms');
const fixtureKey = path.join(root, 'tests', 'fixtures', 'keys', 'fixture-p256.pem');

function jskms(ref, options = {}) {
  return api.getSignerVerifier(`jskms://${ref}`, { path: pluginsPath, stderr: 'capture', ...options });
}

/** Runs the plugin program directly: [program, ...args], stdin. */
function run(args, input = '') {
  const r = spawnSync(plugin, args, { input, timeout: 30000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

const request = (method, body = '{}', ref = 'k') =>
  `{"initOptions":{"protocolVersion":"v1","keyResourceID":${JSON.stringify(ref)},"hashFunc":5},"methodName":"${method}","${method}":${body}}`;

test('the addon drives a JS-SDK plugin through every method', async (t) => {
  const sv = jskms(fixtureKey);
  assert.equal(await sv.defaultAlgorithm(), 'ecdsa-p256');
  assert.deepEqual(await sv.supportedAlgorithms(), ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048']);
  assert.equal(await sv.publicKey(), fixturePubPem);
  const data = Buffer.from('hello from node');
  const sig = await sv.signMessage(data);
  assert.ok(crypto.verify('sha256', data, crypto.createPublicKey(fixtureKeyPem), sig));
  await sv.verifySignature(sig, data);
  const bad = await rejection(sv.verifySignature(sig, Buffer.from('tampered')));
  assert.equal(bad.code, codes.PLUGIN_RETURNED);
  assert.equal(bad.pluginMessage, 'invalid signature');

  // createKey for each algorithm, then sign and verify with it.
  const dir = tempDir(t);
  for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048']) {
    const k = jskms(path.join(dir, `${alg}.pem`));
    const pem = await k.createKey(alg);
    assert.equal(await k.createKey(alg), pem, 'createKey of an existing key answers it');
    const s = await k.signMessage(data);
    await k.verifySignature(s, data);
    const pub = crypto.createPublicKey(pem);
    const hash = pub.asymmetricKeyType === 'ed25519' ? null : 'sha256';
    assert.ok(crypto.verify(hash, data, pub, s), alg);
  }
  // RSA signs a precomputed digest too (PKCS#1 v1.5 DigestInfo).
  const rsa = jskms(path.join(dir, 'rsa-2048.pem'));
  const digest = crypto.createHash('sha256').update(data).digest();
  const dsig = await rsa.signDigest(digest);
  assert.ok(crypto.verify('sha256', data, crypto.createPublicKey(await rsa.publicKey()), dsig));
  await rsa.verifyDigest(dsig, digest);
});

test('a large message is streamed through the JS plugin', async () => {
  const size = 48 * 1024 * 1024 + 5;
  const sig = await jskms(fixtureKey).signMessage(patternStream(size));
  const v = crypto.createVerify('sha256');
  const block = Buffer.alloc(1024 * 1024, 'x');
  for (let left = size; left > 0; left -= block.length) v.update(left >= block.length ? block : block.subarray(0, left));
  assert.ok(v.verify(crypto.createPublicKey(fixtureKeyPem), sig));
});

test('console.log in a plugin goes to stderr; stdout holds exactly the response', async () => {
  const r = run(['v1', request('defaultAlgorithm')]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256"}}');
  assert.equal(r.stdout, protocol.encodeResponse('defaultAlgorithm', { defaultAlgorithm: 'ecdsa-p256' }));
  assert.match(r.stderr, /jskms: this log line must go to stderr/);
  // Through the host, with stderr captured: the call succeeds.
  const err = await rejection(jskms('error:the KMS is down').defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_RETURNED);
  assert.equal(err.pluginMessage, 'the KMS is down');
});

test('bad invocations are answered with errorMessage, exactly as by the Rust SDK', () => {
  const cases = [
    [['v2', request('defaultAlgorithm')], /^unsupported protocol version "v2": this plugin speaks v1$/],
    [['v1'], /^expected at least 3 arguments \(program, protocol version, request JSON\), got 2/],
    [[], /got 1/],
    [['v1', 'not json'], /^cannot decode the request \(argv\[2\]\)/],
    [['v1', request('frobnicate')], /^unsupported method: frobnicate$/],
    [['v1', '{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5},"methodName":"createKey"}'],
      /^invalid request: methodName is "createKey" but there is no "createKey" object$/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(args);
    assert.equal(r.status, 0, r.stderr);
    const answer = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(answer), ['errorMessage'], r.stdout);
    assert.match(answer.errorMessage, pattern);
    // Byte for byte what the Go handler writes for that errorMessage.
    assert.equal(r.stdout, protocol.encodeResponse('defaultAlgorithm', { errorMessage: answer.errorMessage }));
  }
  // Extra arguments are ignored, as Go's GetPluginArgs does.
  assert.equal(run(['v1', request('supportedAlgorithms'), 'extra']).stdout,
    '{"supportedAlgorithms":{"supportedAlgorithms":["ecdsa-p256","ecdsa-p384","ed25519","rsa-2048"]}}');
});

test('a JS plugin answers the Go client\'s requests (the request vectors)', () => {
  for (const v of require('./helpers.js').vectors('requests')) {
    if (v.fields.method !== 'defaultAlgorithm' && v.fields.method !== 'supportedAlgorithms') continue;
    const r = run(['v1', v.expected]);
    assert.equal(r.status, 0);
    assert.ok(r.stdout.startsWith(`{"${v.fields.method}":`), `${v.name}: ${r.stdout}`);
  }
  // A verifySignature request as the Go client writes it, with the message on stdin.
  const data = 'message on stdin';
  const sig = crypto.sign('sha256', Buffer.from(data), crypto.createPrivateKey(fixtureKeyPem));
  const body = JSON.stringify({
    signature: sig.toString('base64'),
    verifyOptions: { rpcOptions: { keyVersion: '', remoteVerification: false }, messageOptions: { digest: null } },
  });
  const r = run(['v1', request('verifySignature', body, fixtureKey)], data);
  assert.equal(r.stdout, '{"verifySignature":{}}');
});

function cli(args, options = {}) {
  const r = spawnSync(path.join(bundledDir, 'sigstore-kms'), args, {
    encoding: 'utf8',
    timeout: 120000,
    env: { ...process.env, PATH: `${pluginsPath}` },
    ...options,
  });
  return r;
}

test('the Rust CLI drives the JS plugin: generate-key, sign, verify, check', (t) => {
  const dir = tempDir(t);
  const keyUri = `jskms://${path.join(dir, 'key.pem')}`;
  let r = cli(['generate-key', '--key', keyUri, '--algorithm', 'ecdsa-p256']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /-----BEGIN PUBLIC KEY-----/);
  fs.writeFileSync(path.join(dir, 'pub.pem'), r.stdout);
  const artifact = path.join(dir, 'artifact.txt');
  fs.writeFileSync(artifact, 'signed by a JS plugin through the Rust CLI\n');
  r = cli(['sign', '--key', keyUri, artifact]);
  assert.equal(r.status, 0, r.stderr);
  fs.writeFileSync(path.join(dir, 'artifact.sig'), r.stdout);
  r = cli(['verify', '--key', keyUri, '--signature', path.join(dir, 'artifact.sig'), artifact]);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['verify', '--public-key', path.join(dir, 'pub.pem'), '--signature', path.join(dir, 'artifact.sig'), artifact]);
  assert.equal(r.status, 0, r.stderr);
  fs.appendFileSync(artifact, 'tampered');
  r = cli(['verify', '--key', keyUri, '--signature', path.join(dir, 'artifact.sig'), artifact]);
  assert.equal(r.status, 1);
  // The CLI's conformance check of a plugin. It signs precomputed digests, which node:crypto
  // can only do for RSA keys (there is no prehashed ECDSA in Node), so check an RSA key.
  const rsaUri = `jskms://${path.join(dir, 'rsa.pem')}`;
  r = cli(['generate-key', '--key', rsaUri, '--algorithm', 'rsa-2048']);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['check', '--key', rsaUri]);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  r = cli(['list']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /jskms/);
  assert.match(r.stdout, /localkms/);
});
