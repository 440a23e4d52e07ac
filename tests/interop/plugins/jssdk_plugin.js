#!/usr/bin/env node
// An interop test plugin written with the JavaScript SDK (`sigstore-kms-plugins/plugin`).
//
// Key URIs `jssdk://PATH`: PATH is an ECDSA P-256/P-384 key file, an unencrypted PKCS#8 PEM
// shared with the Go (sigstore-kms-gokms), Rust (sigstore-kms-localkms) and Python
// (sigstore-kms-pysdk) plugins of the interop tests. Hash rules as in Go's example plugin and
// our localkms: the call's hashFunc, else the client's, else SHA-256; a non-empty digest is
// signed as it is (its length checked) and stdin is not read.
//
// node:crypto cannot sign a precomputed digest with ECDSA (it always hashes), so the ECDSA
// arithmetic is done here with BigInt (keys and nonces still come from node:crypto). Fine for
// a test plugin; never shipped.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const pkgRoot = process.env.INTEROP_NODE_PACKAGE || path.resolve(__dirname, '..', '..', '..');
const { serve } = require(path.join(pkgRoot, 'node', 'plugin.js'));

const CURVES = {
  'ecdsa-p256': {
    node: 'prime256v1',
    jwk: 'P-256',
    bytes: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  },
  'ecdsa-p384': {
    node: 'secp384r1',
    jwk: 'P-384',
    bytes: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  },
};
const DEFAULT = 'ecdsa-p256';
const HASHES = { sha224: 28, sha256: 32, sha384: 48, sha512: 64 };
const BY_LENGTH = { 28: 'sha224', 32: 'sha256', 48: 'sha384', 64: 'sha512' };
const INVALID = 'invalid signature when validating ASN.1 encoded signature';

// ----- ECDSA over a digest, with BigInt ------------------------------------------------------

const mod = (a, m) => ((a % m) + m) % m;
function powmod(b, e, m) {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
const inv = (a, m) => powmod(a, m - 2n, m);

// Affine points; null is the point at infinity. a = -3 for both curves.
function add(c, P, Q) {
  if (P === null) return Q;
  if (Q === null) return P;
  const { p } = c;
  if (P[0] === Q[0]) {
    if (mod(P[1] + Q[1], p) === 0n) return null;
    const l = mod((3n * P[0] * P[0] - 3n) * inv(2n * P[1], p), p);
    const x = mod(l * l - 2n * P[0], p);
    return [x, mod(l * (P[0] - x) - P[1], p)];
  }
  const l = mod((Q[1] - P[1]) * inv(Q[0] - P[0], p), p);
  const x = mod(l * l - P[0] - Q[0], p);
  return [x, mod(l * (P[0] - x) - P[1], p)];
}
function mul(c, k, P) {
  let R = null;
  for (let i = BigInt(k.toString(2).length) - 1n; i >= 0n; i--) {
    R = add(c, R, R);
    if ((k >> i) & 1n) R = add(c, R, P);
  }
  return R;
}
const big = (buf) => (buf.length ? BigInt('0x' + Buffer.from(buf).toString('hex')) : 0n);
function truncate(c, digest) {
  const nbits = c.n.toString(2).length;
  let e = big(digest);
  const dbits = digest.length * 8;
  if (dbits > nbits) e >>= BigInt(dbits - nbits);
  return e;
}
function derInt(v) {
  let h = v.toString(16);
  if (h.length % 2) h = '0' + h;
  let b = Buffer.from(h, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}
function derLen(n) {
  return n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]);
}
function encodeSig(r, s) {
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return Buffer.concat([Buffer.from([0x30]), derLen(body.length), body]);
}
function decodeSig(sig) {
  // Strict enough for a test plugin: SEQUENCE { INTEGER r, INTEGER s }, nothing after.
  let i = 0;
  const take = () => {
    if (i >= sig.length) throw new Error('short');
    return sig[i++];
  };
  const len = () => {
    let l = take();
    if (l === 0x81) l = take();
    else if (l & 0x80) throw new Error('length');
    return l;
  };
  if (take() !== 0x30) throw new Error('not a sequence');
  const total = len();
  if (i + total !== sig.length) throw new Error('trailing data');
  const int = () => {
    if (take() !== 0x02) throw new Error('not an integer');
    const l = len();
    if (l === 0 || i + l > sig.length) throw new Error('integer');
    const v = big(sig.subarray(i, i + l));
    i += l;
    return v;
  };
  const r = int();
  const s = int();
  if (i !== sig.length) throw new Error('trailing data');
  return [r, s];
}
function randomScalar(c) {
  for (;;) {
    const k = big(crypto.randomBytes(c.bytes));
    if (k > 0n && k < c.n) return k;
  }
}
function sign(c, d, digest) {
  const e = truncate(c, digest);
  for (;;) {
    const k = randomScalar(c);
    const R = mul(c, k, [c.gx, c.gy]);
    const r = mod(R[0], c.n);
    if (r === 0n) continue;
    const s = mod(inv(k, c.n) * (e + r * d), c.n);
    if (s === 0n) continue;
    return encodeSig(r, s);
  }
}
function verify(c, Q, digest, sig) {
  let r;
  let s;
  try {
    [r, s] = decodeSig(sig);
  } catch {
    return false;
  }
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const w = inv(s, c.n);
  const e = truncate(c, digest);
  const X = add(c, mul(c, mod(e * w, c.n), [c.gx, c.gy]), mul(c, mod(r * w, c.n), Q));
  return X !== null && mod(X[0], c.n) === r;
}

// ----- the key file -----------------------------------------------------------------------------

function load(file) {
  if (!file) throw new Error('empty key reference: expected a key file path');
  const key = crypto.createPrivateKey(fs.readFileSync(file));
  const jwk = key.export({ format: 'jwk' });
  const c = Object.values(CURVES).find((x) => x.jwk === jwk.crv);
  if (key.asymmetricKeyType !== 'ec' || !c) throw new Error('this plugin only handles ECDSA P-256 and P-384 keys');
  const n = (s) => big(Buffer.from(s, 'base64url'));
  return { c, d: n(jwk.d), Q: [n(jwk.x), n(jwk.y)], publicPem: crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }) };
}

function createKey(file, algorithm) {
  algorithm = algorithm || DEFAULT;
  if (!CURVES[algorithm]) throw new Error(`algorithm ${algorithm} not supported (supported: ${Object.keys(CURVES)})`);
  if (fs.existsSync(file)) return load(file).publicPem;
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: CURVES[algorithm].node });
  const tmp = path.join(path.dirname(path.resolve(file)), `.jssdk-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  fs.writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file); // never replaces a key that appeared meanwhile
  } catch (e) {
    if (e.code === 'EEXIST') return load(file).publicPem;
    throw e;
  } finally {
    fs.unlinkSync(tmp);
  }
  return publicKey.export({ type: 'spki', format: 'pem' });
}

async function digestOf(ctx, message, opts) {
  const explicit = opts.hashFunc !== undefined && opts.hashFunc !== 'none';
  let hash = explicit ? opts.hashFunc : ctx.hashFunc;
  if (!hash || hash === 'none') hash = 'sha256';
  if (!HASHES[hash]) throw new Error(`hash function ${hash} is not supported`);
  if (opts.digest && opts.digest.length > 0) {
    const d = opts.digest;
    if (explicit && d.length !== HASHES[hash]) throw new Error(`digest has ${d.length} bytes, ${hash} needs ${HASHES[hash]}`);
    if (!explicit && !BY_LENGTH[d.length]) throw new Error(`digest has ${d.length} bytes, not the length of a SHA-2 digest`);
    return d;
  }
  const h = crypto.createHash(hash);
  for await (const chunk of message) h.update(chunk);
  return h.digest();
}

serve({
  defaultAlgorithm: () => DEFAULT,
  supportedAlgorithms: () => Object.keys(CURVES),
  createKey: (ctx, algorithm) => createKey(ctx.keyResourceID, algorithm),
  publicKey: (ctx) => load(ctx.keyResourceID).publicPem,
  signMessage: async (ctx, message, opts) => {
    const k = load(ctx.keyResourceID);
    return sign(k.c, k.d, await digestOf(ctx, message, opts));
  },
  verifySignature: async (ctx, signature, message, opts) => {
    const k = load(ctx.keyResourceID);
    if (!verify(k.c, k.Q, await digestOf(ctx, message, opts), signature)) throw new Error(INVALID);
  },
});
