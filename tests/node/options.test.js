'use strict';
// The option vocabulary, as the Rust core defines it for every language (docs/options.md).
//
// The table test: every option of the core's table is accepted by getSignerVerifier under its
// Node name with a good value, and a bad one is refused with an error that names it and what it
// accepts. The Python suite runs the same test over the same table (tests/python/test_options.py).

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { api, fixturePath, thrown } = require('./helpers.js');

/** Per Node option name: a value it accepts, and values it refuses with the error code. */
const CASES = {
  hashFunc: ['sha384', [['sha-1024', 'ERR_INVALID_ARG_VALUE'], [20, 'ERR_OUT_OF_RANGE'], [true, 'ERR_INVALID_ARG_TYPE'], [5.5, 'ERR_INVALID_ARG_TYPE']]],
  keyVersion: ['7', [[7, 'ERR_INVALID_ARG_TYPE'], ['bad\udc80', 'ERR_INVALID_ARG_VALUE']]],
  remoteVerification: [true, [[1, 'ERR_INVALID_ARG_TYPE'], ['yes', 'ERR_INVALID_ARG_TYPE']]],
  timeoutMs: [1500, [[-1, 'ERR_OUT_OF_RANGE'], [NaN, 'ERR_OUT_OF_RANGE'], [-Infinity, 'ERR_OUT_OF_RANGE'], ['5', 'ERR_INVALID_ARG_TYPE']]],
  stdoutLimit: [1, [[0, 'ERR_OUT_OF_RANGE'], [-1, 'ERR_OUT_OF_RANGE'], [1.5, 'ERR_OUT_OF_RANGE'], [2 ** 60, 'ERR_OUT_OF_RANGE'], ['1', 'ERR_INVALID_ARG_TYPE']]],
  path: [fixturePath, [[5, 'ERR_INVALID_ARG_TYPE'], [['/a'], 'ERR_INVALID_ARG_TYPE']]],
  stderr: ['capture', [['loud', 'ERR_INVALID_ARG_VALUE'], ['null', 'ERR_INVALID_ARG_VALUE'], [1, 'ERR_INVALID_ARG_TYPE']]],
};

test('the table is the core\'s, and every option is here', () => {
  const names = api.options.map((o) => o.node.name);
  assert.deepEqual([...names].sort(), Object.keys(CASES).sort(), 'a new option needs a case here (and in the Python test)');
  for (const o of api.options) assert.ok(o.python.name && o.rust.name && o.meaning, JSON.stringify(o));
  assert.ok(Object.isFrozen(api.options));
  assert.equal(api.DEFAULT_TIMEOUT_MS, 300000);
  assert.equal(api.DEFAULT_STDOUT_LIMIT, 4 * 1024 * 1024);
  const timeout = api.options.find((o) => o.node.name === 'timeoutMs');
  assert.equal(timeout.node.default, String(api.DEFAULT_TIMEOUT_MS));
  assert.equal(timeout.python.name, 'timeout');
  assert.equal(timeout.cli.name, '--timeout');
});

for (const spec of api.options) {
  const name = spec.node.name;
  test(`option ${name}, by the table`, () => {
    const [good, bad] = CASES[name];
    assert.equal(api.getSignerVerifier('fixture://k', { path: fixturePath, [name]: good }).keyRef, 'k');
    for (const [value, code] of bad) {
      const err = thrown(() => api.getSignerVerifier('fixture://k', { path: fixturePath, [name]: value }));
      assert.equal(err.code, code, `${name}=${String(value)}: ${err.message}`);
      assert.ok(err instanceof (code === 'ERR_INVALID_ARG_TYPE' ? TypeError : RangeError), err.message);
      assert.ok(err.message.startsWith(`options.${name} `), err.message);
      assert.ok(err.message.includes(spec.node.accepts), err.message);
    }
  });
}

test('no timeout is 0 or Infinity in Node; an unknown option is refused by name', () => {
  assert.equal(api.getSignerVerifier('fixture://k', { path: fixturePath, timeoutMs: 0 }).keyRef, 'k');
  assert.equal(api.getSignerVerifier('fixture://k', { path: fixturePath, timeoutMs: Infinity }).keyRef, 'k');
  const err = thrown(() => api.getSignerVerifier('fixture://k', { timeout: 5 }));
  assert.equal(err.code, 'ERR_INVALID_ARG_VALUE');
  assert.match(err.message, /^options\.timeout is not an option; the options are hashFunc, keyVersion/);
});

test('a lone surrogate in the key URI is an invalid key URI, not a U+FFFD sent to the plugin', () => {
  for (const uri of ['fixture://k\udc80', '\ud800fixture://k', 'fixture://\ud83d']) {
    const err = thrown(() => api.getSignerVerifier(uri, { path: fixturePath }));
    assert.equal(err.code, 'ERR_INVALID_KEY_URI', `${JSON.stringify(uri)}: ${err.message}`);
    assert.ok(err instanceof api.KmsPluginError);
    assert.match(err.message, /lone surrogate/);
  }
  // A surrogate pair is text.
  assert.equal(api.getSignerVerifier('fixture://k\ud83d\ude00', { path: fixturePath }).keyRef, 'k😀');
});

test('a digest of the wrong length names the argument', async () => {
  const sv = api.getSignerVerifier('fixture://k', { path: fixturePath });
  await assert.rejects(sv.signDigest(Buffer.alloc(32), 'sha384'), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /^digest is not a SHA-384 digest: a SHA-384 digest is 48 bytes, got 32 bytes/,
  });
  await assert.rejects(sv.signDigest(Buffer.alloc(32), 'sha-1024'), { code: 'ERR_INVALID_ARG_VALUE', message: /^hashFunc / });
});

test('responses nested as deep as Go accepts are read; one level more is refused', () => {
  const answer = (levels) =>
    Buffer.from(`{"debug":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)},"signMessage":{"signature":"AQID"}}`);
  assert.deepEqual(api.protocol.decodeResponse('signMessage', answer(10000)), { ok: { signature: 'AQID' } });
  const refused = api.protocol.decodeResponse('signMessage', answer(10001));
  assert.equal(refused.error, 'InvalidResponse');
  assert.match(refused.message, /nested more than 10000 levels/);
});
