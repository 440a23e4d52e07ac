'use strict';
// The Go-generated golden vectors (tests/vectors) through the addon's codec: the same checks
// as core/tests/vectors.rs, so the npm package is byte-compatible with the Go reference.

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { api, vectors } = require('./helpers.js');
const { protocol } = api;

/** `null` and absent mean the same on the way in; compare without that difference. */
function normalize(value) {
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== null && v !== undefined) out[k] = normalize(v);
    }
    return out;
  }
  return value;
}

test('requests encode byte for byte as the Go client writes them', () => {
  const all = vectors('requests');
  assert.ok(all.length >= 20, `only ${all.length} request vectors`);
  for (const v of all) {
    assert.equal(protocol.encodeRequest(v.fields), v.expected, v.name);
  }
});

test('requests decode back to their fields (Go rules)', () => {
  for (const v of vectors('requests')) {
    const decoded = protocol.decodeRequest(v.expected);
    assert.equal(decoded.method, v.fields.method, v.name);
    assert.deepEqual(normalize(decoded), normalize(v.fields), v.name);
    // From bytes as well as from a string.
    assert.deepEqual(protocol.decodeRequest(Buffer.from(v.expected)), decoded, v.name);
  }
});

test('a request that does not decode is an ERR_INVALID_ARG_VALUE', () => {
  assert.throws(() => protocol.decodeRequest('not json'), { code: 'ERR_INVALID_ARG_VALUE', message: /cannot decode the request/ });
  assert.throws(() => protocol.encodeRequest({ method: 'nope', keyResourceID: 'k', hashFunc: 5 }), { code: 'ERR_INVALID_ARG_VALUE' });
});

function stdoutOf(v) {
  return v.stdout !== undefined ? Buffer.from(v.stdout, 'utf8') : Buffer.from(v.stdoutBase64, 'base64');
}

test('responses decode as the vectors expect', () => {
  const all = vectors('responses');
  assert.ok(all.length >= 60, `only ${all.length} response vectors`);
  for (const v of all) {
    const got = protocol.decodeResponse(v.method, stdoutOf(v));
    if (v.expect.ok !== undefined) {
      assert.deepEqual(got, { ok: v.expect.ok }, v.name);
    } else {
      assert.equal(got.error, v.expect.error, `${v.name}: ${JSON.stringify(got)}`);
      assert.ok(got.message.length > 0, v.name);
    }
  }
});

test("handler responses re-encode byte for byte as the Go handler writes them", () => {
  let checked = 0;
  for (const v of vectors('responses')) {
    if (!v.name.startsWith('handler_')) continue;
    // A Go nil slice marshals as null; a list is never nil here, so we write [] (read the same).
    if (v.name === 'handler_supported_algorithms_nil') continue;
    const result = v.expect.ok !== undefined ? v.expect.ok : { errorMessage: JSON.parse(v.stdout).errorMessage };
    assert.equal(protocol.encodeResponse(v.method, result), v.stdout, v.name);
    checked += 1;
  }
  assert.ok(checked >= 9, `checked ${checked} handler vectors`);
});

test('Go-style escapes and exact spelling in what we encode', () => {
  assert.equal(
    protocol.encodeResponse('defaultAlgorithm', { errorMessage: 'a<b>&c\u2028' }),
    '{"errorMessage":"a\\u003cb\\u003e\\u0026c\\u2028"}',
  );
  assert.equal(protocol.encodeResponse('verifySignature', {}), '{"verifySignature":{}}');
  assert.throws(() => protocol.encodeResponse('signMessage', { signature: '***' }), { code: 'ERR_INVALID_ARG_VALUE' });
});
