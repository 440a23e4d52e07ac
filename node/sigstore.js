'use strict';
// sigstoreSigner(sv): a KMS key as a signer for sigstore-js (@sigstore/sign's `Signer`).

const crypto = require('node:crypto');
const os = require('node:os');
const { fileURLToPath } = require('node:url');

const native = require('./binding.js');

/**
 * How sigstore-js verifies what this signer signs (@sigstore/verify 3 and 4):
 *  - message signatures: crypto.verify(ALG, artifact, key, sig) with the bundle's digest
 *    algorithm, which @sigstore/sign always writes as SHA2_256, whatever the key;
 *  - DSSE: crypto.verify(undefined, PAE, key, sig), i.e. SHA-256 for ECDSA and RSA (PKCS#1 v1.5)
 *    keys, pure Ed25519 for Ed25519 keys.
 * So ECDSA (any curve) and RSA keys sign SHA-256(data), which we compute here and hand to the
 * plugin as a digest (Go's CryptoSigner path: nothing is streamed); Ed25519 keys sign the data
 * itself (Ed25519 has no prehashed form the verifier accepts).
 */
function strategyFor(keyType) {
  if (keyType === 'ed25519') return 'message';
  if (keyType === 'rsa' || keyType.startsWith('ecdsa')) return 'digest';
  return null;
}

function signerError(message, cause) {
  const err = new Error(message, cause === undefined ? undefined : { cause });
  err.code = 'ERR_SIGSTORE_SIGNER';
  return err;
}

const MODES = ['auto', 'digest', 'message'];

/**
 * @param {import('./index').SignerVerifier} sv
 * @param {{ verify?: boolean, mode?: 'auto' | 'digest' | 'message' }} [options]
 */
function sigstoreSigner(sv, options = {}) {
  if (sv === null || typeof sv !== 'object' || typeof sv.publicKeyInfo !== 'function') {
    const err = new TypeError('The "sv" argument must be a SignerVerifier (from getSignerVerifier)');
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  const mode = options.mode ?? 'auto';
  if (!MODES.includes(mode)) {
    const err = new RangeError(`options.mode must be one of ${MODES.join(', ')}; got ${String(mode)}`);
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  const verifyLocally = options.verify !== false;
  let keyPromise;

  function key() {
    if (!keyPromise) {
      keyPromise = sv.publicKeyInfo().then((info) => {
        let strategy = strategyFor(info.keyType);
        if (!strategy) {
          throw signerError(`sigstore-js cannot verify signatures of ${info.keyType} keys (supported: ECDSA, RSA, Ed25519)`);
        }
        if (mode === 'digest' && strategy === 'message') {
          throw signerError('an Ed25519 key cannot sign a precomputed digest: use mode "auto" or "message"');
        }
        if (mode !== 'auto') strategy = mode;
        return {
          strategy,
          pem: info.spkiPem,
          keyObject: crypto.createPublicKey(info.spkiPem),
          // The key hint as cosign writes it: base64(SHA-256(SubjectPublicKeyInfo DER)).
          hint: crypto.createHash('sha256').update(info.spkiDer).digest('base64'),
        };
      });
      // A failure is not cached: the next sign() asks the plugin again.
      keyPromise.catch(() => {
        keyPromise = undefined;
      });
    }
    return keyPromise;
  }

  return {
    async sign(data) {
      const k = await key();
      const signature =
        k.strategy === 'message'
          ? await sv.signMessage(data)
          : await sv.signDigest(crypto.createHash('sha256').update(data).digest(), 'sha256');
      if (verifyLocally) {
        const ok = crypto.verify(k.keyObject.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, k.keyObject, signature);
        if (!ok) {
          throw signerError(
            `the signature made by ${sv.uri} does not verify against its public key as sigstore-js verifies it ` +
              `(${k.keyObject.asymmetricKeyType === 'ed25519' ? 'Ed25519 over the data' : 'SHA-256, PKCS#1 v1.5 for RSA'})`,
          );
        }
      }
      return { signature, key: { $case: 'publicKey', publicKey: k.pem, hint: k.hint } };
    },
  };
}

/**
 * A bundle that does not verify, or cannot be read: `code` is 'ERR_BUNDLE_VERIFICATION' and
 * `reason` says why (see REASONS); the message says it in full.
 */
class BundleVerificationError extends Error {}

Object.defineProperty(BundleVerificationError.prototype, 'name', {
  value: 'BundleVerificationError',
  writable: true,
  configurable: true,
  enumerable: false,
});

/** The `reason`s of a BundleVerificationError (the Rust crate's error kinds). */
const REASONS = Object.freeze([
  'malformed',
  'wrong_content',
  'hint_mismatch',
  'digest_mismatch',
  'bad_signature',
  'subject_mismatch',
  'unsupported',
  'invalid_key',
]);

function typeError(message) {
  const err = new TypeError(message);
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

function kind(value) {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an instance of ${value.constructor ? value.constructor.name : 'Object'}`;
  return `type ${typeof value}`;
}

/** The bundle as JSON bytes: its text, or the object a .sigstore.json file parses to. */
function bundleJson(bundle) {
  if (typeof bundle === 'string') return Buffer.from(bundle, 'utf8');
  if (bundle instanceof Uint8Array) return Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength);
  if (bundle !== null && typeof bundle === 'object') {
    if (bundle.content && typeof bundle.content === 'object' && '$case' in bundle.content) {
      // A sigstore-js Bundle (bundleFromJSON's result): back to its JSON form.
      let bundleToJSON;
      try {
        ({ bundleToJSON } = require('@sigstore/bundle'));
      } catch {
        throw typeError(
          'The "bundle" argument is a sigstore-js Bundle object: pass its JSON form (bundleToJSON(bundle) from @sigstore/bundle), the .sigstore.json text, or the object JSON.parse gives',
        );
      }
      return Buffer.from(JSON.stringify(bundleToJSON(bundle)), 'utf8');
    }
    return Buffer.from(JSON.stringify(bundle), 'utf8');
  }
  throw typeError(`The "bundle" argument must be the bundle's JSON (string, Buffer or parsed object). Received ${kind(bundle)}`);
}

/** The public key as SPKI PEM bytes. */
function publicKeyPem(publicKey) {
  if (typeof publicKey === 'string') return Buffer.from(publicKey, 'utf8');
  if (publicKey instanceof Uint8Array) return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength);
  if (publicKey instanceof crypto.KeyObject) {
    const key = publicKey.type === 'private' ? crypto.createPublicKey(publicKey) : publicKey;
    if (key.type !== 'public') throw typeError('The "publicKey" argument must be a public (or private) KeyObject, not a secret key');
    return Buffer.from(key.export({ type: 'spki', format: 'pem' }), 'utf8');
  }
  throw typeError(`The "publicKey" argument must be a PEM public key (string or Buffer) or a KeyObject. Received ${kind(publicKey)}`);
}

function errnoName(errno) {
  for (const [name, value] of Object.entries(os.constants.errno)) {
    if (value === errno) return name;
  }
  return undefined;
}

/**
 * Verifies a Sigstore bundle against a public key, offline, in one call: a message signature
 * over `data` (a Buffer/Uint8Array, or `{ path }` for a file read on the thread pool), or a DSSE
 * envelope (`data` null or undefined; given, its in-toto statement must name `data` as a
 * subject). The same checks as Python's verify_artifact/verify_dsse and `sigstore-kms verify
 * --bundle` (one Rust implementation); transparency-log entries and timestamps are not verified.
 *
 * @returns {Promise<object>} what was verified (content, digestAlgorithm, digest, payloadType,
 *   payload, subject, tlogEntriesNotVerified, timestampsNotVerified)
 */
async function verifyBundle(bundle, data, publicKey) {
  const json = bundleJson(bundle);
  const pem = publicKeyPem(publicKey);
  let bytes;
  let file;
  if (data === null || data === undefined) {
    // A DSSE bundle, checked without an artifact.
  } else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
    bytes = Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  } else if (typeof data === 'object' && 'path' in data) {
    file = data.path instanceof URL ? fileURLToPath(data.path) : data.path;
    if (typeof file !== 'string') throw typeError(`The "data.path" property must be a string or file: URL. Received ${kind(file)}`);
  } else {
    throw typeError(
      `The "data" argument must be a Buffer, Uint8Array or { path } (null for a DSSE bundle). Received ${kind(data)}` +
        (typeof data === 'string' ? ': pass Buffer.from(text), or { path } for a file' : ''),
    );
  }
  const result = await native.verifyBundleNative(json, pem, bytes, file);
  if (!result.ok) {
    if (result.reason === 'io') {
      const err = new Error(result.message);
      const name = result.errno === undefined || result.errno === null ? undefined : errnoName(result.errno);
      err.code = name ?? 'EIO';
      if (name) err.errno = -result.errno;
      if (file !== undefined) err.path = file;
      throw err;
    }
    const err = new BundleVerificationError(result.message);
    err.code = 'ERR_BUNDLE_VERIFICATION';
    err.reason = result.reason;
    throw err;
  }
  const verified = {
    content: result.content,
    tlogEntriesNotVerified: result.tlogEntriesNotVerified,
    timestampsNotVerified: result.timestampsNotVerified,
  };
  if (result.content === 'messageSignature') {
    verified.digestAlgorithm = result.digestAlgorithm;
    verified.digest = result.digest;
  } else {
    verified.payloadType = result.payloadType;
    verified.payload = result.payload;
    if (result.subject !== undefined && result.subject !== null) verified.subject = result.subject;
  }
  return verified;
}

module.exports = { sigstoreSigner, verifyBundle, BundleVerificationError, REASONS };
