'use strict';
// The host API against the fixture plugins, well-behaved and misbehaving: the same
// expectations as core/tests/host.rs.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { api, fixture, fixturePath, fixturePubPem, sha256, rejection, thrown, patternStream, processDead, tempDir } = require(
  './helpers.js',
);
const { KmsPluginError, codes } = api;

test('a well-behaved plugin: every method', async () => {
  const sv = fixture('fixture://my-key');
  assert.ok(path.isAbsolute(sv.programPath));
  assert.equal(sv.keyRef, 'my-key');
  assert.equal(sv.uri, 'fixture://my-key');
  assert.equal(sv.hashFunc, 'sha256');
  assert.equal(await sv.defaultAlgorithm(), 'ecdsa-p256');
  assert.deepEqual(await sv.supportedAlgorithms(), ['ecdsa-p256', 'ed25519']);
  assert.equal(await sv.publicKey(), fixturePubPem);
  assert.equal(await sv.createKey('ecdsa-p256'), fixturePubPem);
  const info = await sv.publicKeyInfo();
  assert.equal(info.keyType, 'ecdsa-p256');
  assert.equal(info.algorithmOid, '1.2.840.10045.2.1');
  assert.equal(info.spkiPem, fixturePubPem);
  assert.ok(Buffer.isBuffer(info.spkiDer) && info.spkiDer.length === 91);

  const sig = await sv.signMessage(Buffer.from('hello\n'));
  assert.ok(Buffer.isBuffer(sig));
  assert.deepEqual(sig, sha256('hello\n'));
  assert.equal(sig.toString('base64'), 'WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=');
  await sv.verifySignature(sig, new TextEncoder().encode('hello\n'));
  const bad = await rejection(sv.verifySignature(sig, Buffer.from('tampered')));
  assert.ok(bad instanceof KmsPluginError && bad instanceof Error);
  assert.equal(bad.name, 'KmsPluginError');
  assert.equal(bad.code, codes.PLUGIN_RETURNED);
  assert.equal(bad.kind, 'PluginReturned');
  assert.equal(bad.pluginMessage, 'invalid signature');
  assert.equal(bad.plugin, 'sigstore-kms-fixture');
  assert.equal(bad.method, 'verifySignature');
  assert.equal(bad.pluginPath, sv.programPath);

  // Go's CryptoSigner path: the digest in the request, an empty stdin.
  const digest = sha256('abc');
  assert.deepEqual(await sv.signDigest(digest), Buffer.concat([Buffer.from('digest:'), digest]));
  assert.deepEqual(await sv.signDigest(digest, 'SHA-256'), Buffer.concat([Buffer.from('digest:'), digest]));
  await sv.verifyDigest(Buffer.concat([Buffer.from('digest:'), digest]), digest, 5);
  assert.equal((await rejection(sv.verifyDigest(Buffer.from('x'), digest))).code, codes.PLUGIN_RETURNED);
});

test('messages: bytes of every kind, files, streams, async iterables', async (t) => {
  const sv = fixture('fixture://stdin-count');
  const dir = tempDir(t);
  const file = path.join(dir, 'artifact');
  fs.writeFileSync(file, Buffer.alloc(100003, 7));
  const count = async (m) => (await sv.signMessage(m)).toString();
  assert.equal(await count(Buffer.alloc(10)), '10');
  assert.equal(await count(new Uint8Array(11)), '11');
  assert.equal(await count(new ArrayBuffer(12)), '12');
  assert.equal(await count(new DataView(new ArrayBuffer(13))), '13');
  assert.equal(await count(new Float64Array(2)), '16');
  assert.equal(await count({ path: file }), '100003');
  assert.equal(await count({ path: new URL(`file://${file}`) }), '100003');
  assert.equal(await count(fs.createReadStream(file)), '100003');
  assert.equal(await count(patternStream(1000003, 4096)), '1000003');
  assert.equal(await count((async function* gen() {
    yield Buffer.from('ab');
    yield 'cd';
    yield new Uint8Array(300 * 1024); // cut into queue-sized pieces
  })()), String(4 + 300 * 1024));
  assert.equal(await count(new Blob(['hello']).stream()), '5');
  assert.equal(await count(new Blob(['hello', new Uint8Array(3)])), '8');

  // verifySignature takes the same kinds.
  const v = fixture('fixture://k');
  await v.verifySignature(sha256('hello\n'), (async function* one() {
    yield Buffer.from('hello\n');
  })());
  const sigOfFile = sha256(fs.readFileSync(file));
  await v.verifySignature(sigOfFile, { path: file });
  await v.verifySignature(sigOfFile, fs.createReadStream(file));
});

test('bad arguments are TypeErrors / RangeErrors with Node codes, and nothing runs', async () => {
  const sv = fixture('fixture://k');
  for (const [value, code] of [
    ['a string', 'ERR_INVALID_ARG_TYPE'],
    [42, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [{ path: 3 }, 'ERR_INVALID_ARG_TYPE'],
    [{}, 'ERR_INVALID_ARG_TYPE'],
  ]) {
    const err = await rejection(sv.signMessage(value));
    assert.equal(err.code, code, String(value));
    assert.ok(err instanceof TypeError);
  }
  assert.equal((await rejection(sv.signDigest('abc'))).code, 'ERR_INVALID_ARG_TYPE');
  assert.equal((await rejection(sv.signDigest(Buffer.alloc(32), 'sha-1024'))).code, 'ERR_INVALID_ARG_VALUE');
  assert.equal((await rejection(sv.signDigest(Buffer.alloc(32), 99))).code, 'ERR_OUT_OF_RANGE');
  assert.equal((await rejection(sv.createKey())).code, 'ERR_INVALID_ARG_TYPE');
  const typeErrors = [
    () => api.getSignerVerifier(42),
    () => api.getSignerVerifier('fixture://k', 'opts'),
    () => api.getSignerVerifier('fixture://k', { timeoutMs: '5' }),
    () => api.getSignerVerifier('fixture://k', { remoteVerification: 1 }),
  ];
  for (const f of typeErrors) assert.equal(thrown(f).code, 'ERR_INVALID_ARG_TYPE');
  assert.equal(thrown(() => api.getSignerVerifier('fixture://k', { timeout: 5 })).code, 'ERR_INVALID_ARG_VALUE');
  assert.equal(thrown(() => fixture('fixture://k', { hashFunc: 'md6' })).code, 'ERR_INVALID_ARG_VALUE');
  assert.equal(thrown(() => fixture('fixture://k', { stderr: 'pipe' })).code, 'ERR_INVALID_ARG_VALUE');
  assert.equal(thrown(() => fixture('fixture://k', { timeoutMs: -1 })).code, 'ERR_OUT_OF_RANGE');
  assert.equal(thrown(() => fixture('fixture://k', { stdoutLimit: 0 })).code, 'ERR_OUT_OF_RANGE');
  assert.equal(thrown(() => fixture('fixture://k', { stdoutLimit: 1.5 })).code, 'ERR_OUT_OF_RANGE');
  assert.throws(() => new api.SignerVerifier(), TypeError);
});

test('options reach the plugin: hash function, key version, deadline', async (t) => {
  const dir = tempDir(t);
  const sv = fixture('fixture://k', { hashFunc: 'sha384', keyVersion: '7', remoteVerification: true, timeoutMs: 60000 });
  process.env.FIXTURE_RECORD_DIR = dir;
  try {
    assert.equal(sv.hashFunc, 'sha384');
    await sv.defaultAlgorithm();
  } finally {
    delete process.env.FIXTURE_RECORD_DIR;
  }
  const [argv2] = fs.readdirSync(dir).filter((f) => f.endsWith('.argv2'));
  const request = JSON.parse(fs.readFileSync(path.join(dir, argv2), 'utf8'));
  assert.equal(request.initOptions.hashFunc, 6);
  assert.equal(request.initOptions.keyResourceID, 'k');
  assert.deepEqual(request.initOptions.rpcOptions, { keyVersion: '7', remoteVerification: true });
  const deadline = Date.parse(request.initOptions.ctxDeadline);
  assert.ok(deadline > Date.now() + 50000 && deadline <= Date.now() + 60000, request.initOptions.ctxDeadline);
  // timeoutMs 0 (or Infinity): no timeout, and no deadline sent.
  assert.equal(await fixture('fixture://k', { timeoutMs: 0 }).defaultAlgorithm(), 'ecdsa-p256');
  assert.equal(await fixture('fixture://k', { timeoutMs: Infinity }).defaultAlgorithm(), 'ecdsa-p256');
});

test('the environment is inherited by plugins', async () => {
  assert.equal(await fixture('fixture://env:HOME').defaultAlgorithm(), process.env.HOME);
});

test('key URIs and discovery errors', async (t) => {
  for (const uri of ['no-separator', 'a/b://k', '-x://k', '.x://k', '://k', 'sp ace://k']) {
    const err = thrown(() => fixture(uri));
    assert.ok(err instanceof KmsPluginError, uri);
    assert.equal(err.code, codes.INVALID_KEY_URI, uri);
    assert.equal(err.uri, uri);
    assert.ok(err.reason.length > 0);
  }
  const missing = thrown(() => fixture('missing://k'));
  assert.equal(missing.code, codes.PLUGIN_NOT_FOUND);
  assert.equal(missing.program, 'sigstore-kms-missing');
  // The search path, then the package's plugin directories.
  assert.deepEqual(missing.searched, [...fixturePath.split(':'), ...api.pluginDirs()]);
  assert.match(missing.message, /sigstore-kms-missing/);
  // Not executable: skipped by the search, with a message that says so.
  const notexec = thrown(() => fixture('notexec://k', { path: fixturePath.split(':')[0] }));
  assert.equal(notexec.code, codes.PLUGIN_NOT_FOUND);
  assert.match(notexec.message, /not executable/);
  // Found through a relative PATH entry: refused, like Go's exec.ErrDot.
  const cwd = process.cwd();
  process.chdir(path.dirname(fixturePath.split(':')[0]));
  t.after(() => process.chdir(cwd));
  const dot = thrown(() => api.getSignerVerifier('fixture://k', { path: 'plugins' }));
  assert.equal(dot.code, codes.PLUGIN_NOT_FOUND);
  assert.match(dot.message, /relative PATH entry/);
});

test('a hanging plugin times out, and its whole process group is killed', async () => {
  const started = Date.now();
  const err = await rejection(fixture('hang://k', { timeoutMs: 300 }).defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_TIMEOUT);
  assert.equal(err.kind, 'Timeout');
  assert.equal(err.timeoutMs, 300);
  assert.match(err.message, /sigstore-kms-hang.*defaultAlgorithm.*timed out/s);
  assert.ok(Date.now() - started < 5000);

  const group = await rejection(fixture('hang-child://k', { timeoutMs: 500 }).defaultAlgorithm());
  assert.equal(group.code, codes.PLUGIN_TIMEOUT);
  assert.match(group.message, /plugin stderr \(last lines\):\ngrandchild=/);
  const pid = Number(/grandchild=(\d+)/.exec(group.stderrTail)[1]);
  const deadline = Date.now() + 5000;
  while (!processDead(pid)) {
    assert.ok(Date.now() < deadline, `grandchild ${pid} survived the timeout`);
    await new Promise((r) => setTimeout(r, 20));
  }
});

test('stdout is capped', async () => {
  const endless = await rejection(fixture('endless://k', { stdoutLimit: 1 << 20 }).defaultAlgorithm());
  assert.equal(endless.code, codes.OUTPUT_TOO_LARGE);
  assert.equal(endless.limit, 1 << 20);
  assert.match(endless.message, /1048576/);
  const huge = await rejection(fixture('huge-answer://k').defaultAlgorithm());
  assert.equal(huge.code, codes.OUTPUT_TOO_LARGE);
  assert.equal(huge.limit, api.DEFAULT_STDOUT_LIMIT);
});

test('malformed answers are ERR_PLUGIN_RESPONSE', async () => {
  for (const [name, needle] of [
    ['garbage', 'this is not json'],
    ['logline', 'starting plugin'],
    ['twojson', 'trailing'],
    ['empty-object', 'no "defaultAlgorithm" object'],
    ['wrong-types', 'defaultAlgorithm.defaultAlgorithm: expected a string, got a number'],
    ['invalid-utf8', 'not valid UTF-8'],
    ['exit-noanswer', 'empty output'],
  ]) {
    const err = await rejection(fixture(`${name}://k`).defaultAlgorithm());
    assert.equal(err.code, codes.PLUGIN_RESPONSE, `${name}: ${err.message}`);
    assert.equal(err.kind, 'InvalidResponse');
    assert.ok(err.message.includes(needle), `${name}: ${err.message}`);
    assert.ok(err.message.includes(`sigstore-kms-${name}`) && err.message.includes('defaultAlgorithm'), err.message);
  }
  const b64 = await rejection(fixture('bad-base64://k').signMessage(Buffer.from('x')));
  assert.equal(b64.code, codes.PLUGIN_RESPONSE);
  assert.match(b64.message, /signMessage\.signature: invalid base64/);
  assert.match((await rejection(fixture('invalid-utf8://k').defaultAlgorithm())).message, /\\xff\\xfe/);
});

test('errorMessage answers are ERR_PLUGIN_RETURNED, with the message kept', async () => {
  const err = await rejection(fixture('errmsg://k').defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_RETURNED);
  assert.equal(err.pluginMessage, 'key not found: the KMS said no');
  const both = await rejection(fixture('errmsg-result://k').signMessage(Buffer.from('x')));
  assert.equal(both.code, codes.PLUGIN_RETURNED);
});

test('the exit status is ignored, but death by a signal is not', async () => {
  assert.equal(await fixture('exit1://k').defaultAlgorithm(), 'ecdsa-p256');
  const err = await rejection(fixture('sigkill://k').defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_EXEC);
  assert.equal(err.kind, 'Exec');
  assert.match(err.message, /signal 9 \(SIGKILL\)/);
});

test('a stderr flood is drained, captured or ignored', async () => {
  for (const stderr of ['capture', 'ignore']) {
    assert.equal(await fixture('stderr-flood://k', { stderr }).defaultAlgorithm(), 'ecdsa-p256');
  }
});

test('a plugin that ignores stdin is fine, and the stream stops being read', async () => {
  const source = patternStream(32 * 1024 * 1024);
  const sig = await fixture('ignore-stdin://k').signMessage(source);
  assert.deepEqual(sig, Buffer.from('sig'));
});

test('a grandchild holding stdout or stderr does not stall the call', async () => {
  for (const name of ['grandchild-stdout', 'grandchild-stderr']) {
    const started = Date.now();
    assert.equal(await fixture(`${name}://k`).defaultAlgorithm(), 'ecdsa-p256');
    assert.ok(Date.now() - started < 3000, `${name} stalled`);
  }
});

test('a slow plugin within its timeout is fine', async () => {
  assert.equal(await fixture('slow://k', { timeoutMs: 30000 }).defaultAlgorithm(), 'ecdsa-p256');
});

test('no #! line is an exec error, never a shell run', async () => {
  const err = await rejection(fixture('noshebang://k').defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_EXEC);
  assert.match(err.message, /#!/);
});

test('a request over the argument limit is refused before spawning', async () => {
  const err = await rejection(fixture(`fixture://${'k'.repeat(200 * 1024)}`).defaultAlgorithm());
  assert.equal(err.code, codes.PLUGIN_EXEC);
  assert.match(err.message, /nothing was run/);
});

test('a missing message file is an fs-style error, and nothing runs', async () => {
  const err = await rejection(fixture('fixture://k').signMessage({ path: '/nonexistent/file' }));
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.syscall, 'open');
  assert.equal(err.path, '/nonexistent/file');
  assert.equal(err.errno, -2);
  assert.match(err.message, /^ENOENT: no such file or directory, open '\/nonexistent\/file'$/);
});

test('a failing stream fails the call with ERR_PLUGIN_EXEC, keeping the cause', async () => {
  const boom = new Error('disk on fire');
  async function* failing() {
    yield Buffer.alloc(1000);
    throw boom;
  }
  const err = await rejection(fixture('fixture://stdin-count').signMessage(failing()));
  assert.equal(err.code, codes.PLUGIN_EXEC);
  assert.match(err.message, /disk on fire/);
  assert.equal(err.cause, boom);
  const bad = await rejection(fixture('fixture://stdin-count').signMessage((async function* g() {
    yield 42;
  })()));
  assert.equal(bad.code, codes.PLUGIN_EXEC);
  assert.match(bad.message, /must yield Buffers/);
  assert.equal(bad.cause.code, 'ERR_INVALID_ARG_TYPE');
});

test('listPlugins lists the sigstore-kms-* programs on the path', () => {
  const plugins = api.listPlugins(fixturePath);
  const byName = new Map(plugins.map((p) => [p.name, p]));
  assert.ok(byName.get('fixture').usable);
  assert.equal(byName.get('fixture').path, path.join(fixturePath.split(':')[0], 'sigstore-kms-fixture'));
  assert.equal(byName.get('notexec').executable, false);
  assert.equal(byName.get('notexec').usable, false);
  const twice = api.listPlugins(`${fixturePath.split(':')[0]}:${fixturePath}`);
  assert.equal(twice.filter((p) => p.name === 'fixture').length, 1, 'a directory named twice is listed once');
  assert.ok(byName.get('fixture').source === 'path' && byName.get('fixture').shadowedBy === undefined);
  // Only the package's own plugin directory: its programs, listed as bundled.
  const bundled = api.listPlugins('/nonexistent');
  assert.deepEqual(bundled.map((p) => [p.name, p.source, p.usable]), [
    ['localkms', 'bundled', true],
    ['pkcs11', 'bundled', true],
  ]);
  assert.equal(bundled[0].path, path.join(api.bundledPluginDir, 'sigstore-kms-localkms'));
  assert.equal(thrown(() => api.listPlugins(3)).code, 'ERR_INVALID_ARG_TYPE');
});
