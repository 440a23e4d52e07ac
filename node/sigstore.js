'use strict';
// sigstoreSigner(sv): a KMS key as a signer for sigstore-js (@sigstore/sign's `Signer`).

const crypto = require('node:crypto');

/**
 * How sigstore-js verifies what this signer signs (@sigstore/verify 3.x):
 *  - message signatures: crypto.verify('sha256', artifact, key, sig), whatever the key;
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

module.exports = { sigstoreSigner };
