//! Public keys of the kinds KMSs hold, and signature verification against them.
//!
//! Every provider verifies locally by default (the Go providers do too): the plugin asks the KMS
//! for the public key and checks the signature here, so `verifySignature` costs one KMS call and
//! behaves the same whatever the KMS.

use std::fmt;
use std::io::Read;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::traits::PublicKeyParts;
use sigstore_kms_plugins::HashFunc;
use spki::der::pem::LineEnding;
use spki::der::Decode as _;
use spki::{DecodePublicKey, EncodePublicKey, ObjectIdentifier};

use crate::hash::{self, Hasher};
use crate::Error;

const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// What to sign or verify: the message itself (streamed) or a precomputed digest.
pub enum Input<'a> {
    /// The message, read to its end.
    Message(&'a mut dyn Read),
    /// A digest made by the caller.
    Digest(&'a [u8]),
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Message(_) => f.write_str("Input::Message(..)"),
            Input::Digest(d) => write!(f, "Input::Digest({} bytes)", d.len()),
        }
    }
}

/// How the hash of a call was chosen: see [`crate::hash::effective_hash`].
///
/// A digest given with an `explicit` hash must have exactly its length; otherwise any SHA-2
/// digest length is accepted for ECDSA, because cosign sends a P-384 key a SHA-384 digest while
/// the client's hash is SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashChoice {
    /// The hash function used to hash a message, and the one a digest is taken to be made with.
    pub hash: HashFunc,
    /// Whether the request named it for this call (`messageOptions.hashFunc`), in which case a
    /// digest must have exactly its length.
    pub explicit: bool,
}

impl HashChoice {
    /// A hash chosen by the caller for this call.
    #[must_use]
    pub fn explicit(hash: HashFunc) -> Self {
        HashChoice { hash, explicit: true }
    }
}

/// The padding of an RSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2), what cosign and most KMS keys use.
    #[default]
    Pkcs1v15,
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the digest (the KMSs'
    /// `RSASSA_PSS_SHA_*` schemes).
    Pss,
    /// RSASSA-PSS with MGF1 over the same hash and a salt of any length: what Go's
    /// `rsa.VerifyPSS` accepts with `PSSSaltLengthAuto`, and so what Go's KMS providers (whose
    /// PSS verifiers pass no options) accept. A salt as long as the digest is tried first, then
    /// the longest possible one (what Go signs with by default), then every other length.
    PssAnySalt,
}

/// A public key of one of the supported kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// ECDSA P-521.
    P521(p521::PublicKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA.
    Rsa(rsa::RsaPublicKey),
}

impl PublicKey {
    /// Parses a `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1) PEM block,
    /// as the core crate's [`sigstore_kms_plugins::PublicKey`] does.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let parsed = sigstore_kms_plugins::PublicKey::from_pem(pem).map_err(Error::new)?;
        Self::from_spki_der(parsed.spki_der())
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let info =
            spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| Error::new(format!("invalid public key: {e}")))?;
        let bad = |e: spki::Error| Error::new(format!("invalid public key: {e}"));
        match info.algorithm.oid {
            OID_EC => match info.algorithm.parameters_oid().ok() {
                Some(OID_P256) => {
                    Ok(PublicKey::P256(p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(bad)?))
                }
                Some(OID_P384) => {
                    Ok(PublicKey::P384(p384::ecdsa::VerifyingKey::from_public_key_der(der).map_err(bad)?))
                }
                Some(OID_P521) => Ok(PublicKey::P521(p521::PublicKey::from_public_key_der(der).map_err(bad)?)),
                Some(other) => Err(Error::new(format!("EC curve {other} is not supported; use P-256, P-384 or P-521"))),
                None => Err(Error::new("the EC public key does not name its curve")),
            },
            OID_RSA => Ok(PublicKey::Rsa(rsa::RsaPublicKey::from_public_key_der(der).map_err(bad)?)),
            OID_ED25519 => Ok(PublicKey::Ed25519(ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(bad)?)),
            other => Err(Error::new(format!("public key algorithm {other} is not supported"))),
        }
    }

    /// The key as a `PUBLIC KEY` PEM block, as Go's `cryptoutils.MarshalPublicKeyToPEM` writes it.
    pub fn to_pem(&self) -> Result<String, Error> {
        let pem = match self {
            PublicKey::P256(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::P384(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::P521(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::Rsa(k) => k.to_public_key_pem(LineEnding::LF),
        };
        pem.map_err(|e| Error::new(format!("encoding the public key failed: {e}")))
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, Error> {
        let der = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::P521(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec()).map_err(|e| Error::new(format!("encoding the public key failed: {e}")))
    }

    /// A short description: `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ed25519`, `rsa-2048`, ...
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            PublicKey::P256(_) => "ecdsa-p256".into(),
            PublicKey::P384(_) => "ecdsa-p384".into(),
            PublicKey::P521(_) => "ecdsa-p521".into(),
            PublicKey::Ed25519(_) => "ed25519".into(),
            PublicKey::Rsa(k) => format!("rsa-{}", k.size() * 8),
        }
    }

    /// The hash used when the request names none: SHA-384 for P-384, SHA-512 for P-521,
    /// SHA-256 otherwise (what Go's `cryptoutils` and the KMSs pair with each curve).
    #[must_use]
    pub fn default_hash(&self) -> HashFunc {
        match self {
            PublicKey::P384(_) => HashFunc::Sha384,
            PublicKey::P521(_) => HashFunc::Sha512,
            _ => HashFunc::Sha256,
        }
    }

    /// Verifies `signature` over `input`; RSA signatures are PKCS#1 v1.5.
    ///
    /// * ECDSA: an ASN.1 DER signature over the message hashed with `hash.hash`, or over the
    ///   digest as given (see [`HashChoice`] for the digest length rule).
    /// * RSA: PKCS#1 v1.5 with the DigestInfo of `hash.hash`; a digest must have its length.
    /// * Ed25519: pure Ed25519 over the message; a digest is refused.
    pub fn verify(&self, signature: &[u8], input: Input<'_>, hash: HashChoice) -> Result<(), Error> {
        self.verify_with(signature, input, hash, RsaPadding::Pkcs1v15)
    }

    /// [`PublicKey::verify`] with the RSA padding of the key's signing scheme (ignored for
    /// other keys).
    pub fn verify_with(
        &self,
        signature: &[u8],
        input: Input<'_>,
        hash: HashChoice,
        padding: RsaPadding,
    ) -> Result<(), Error> {
        let failed = |what: &dyn fmt::Display| Error::new(format!("invalid signature: {what}"));
        match self {
            PublicKey::Ed25519(k) => {
                let Input::Message(message) = input else { return Err(ed25519_digest_error()) };
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| failed(&format_args!("an Ed25519 signature is 64 bytes, got {}", signature.len())))?;
                let mut verifier = k.verify_stream(&sig).map_err(|e| failed(&e))?;
                hash::for_each_chunk(message, |chunk| verifier.update(chunk))
                    .map_err(|e| Error::new(format!("reading the message failed: {e}")))?;
                verifier.finalize_and_verify().map_err(|_| failed(&"Ed25519 verification failed"))
            }
            PublicKey::P256(k) => {
                let digest = ecdsa_digest(input, hash)?;
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| failed(&"not an ASN.1 DER ECDSA signature"))?;
                k.verify_prehash(&digest, &sig).map_err(|_| failed(&"ECDSA verification failed"))
            }
            PublicKey::P384(k) => {
                let digest = ecdsa_digest(input, hash)?;
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| failed(&"not an ASN.1 DER ECDSA signature"))?;
                k.verify_prehash(&digest, &sig).map_err(|_| failed(&"ECDSA verification failed"))
            }
            PublicKey::P521(k) => {
                let digest = ecdsa_digest(input, hash)?;
                let sig = p521::ecdsa::Signature::from_der(signature)
                    .map_err(|_| failed(&"not an ASN.1 DER ECDSA signature"))?;
                let verifier = p521::ecdsa::VerifyingKey::from_affine(*k.as_affine())
                    .map_err(|_| failed(&"the P-521 key is not usable for ECDSA"))?;
                // The `ecdsa` crate refuses a prehash shorter than half the field (33 bytes for
                // P-521), so a SHA-256 digest (what cosign's clients hash with) would never
                // verify. A digest shorter than the curve order is taken whole as an integer
                // (SEC 1 section 4.1.4, as Go and OpenSSL do), so zeros on the left change nothing.
                let digest = if digest.len() < 66 { [vec![0u8; 66 - digest.len()], digest].concat() } else { digest };
                verifier.verify_prehash(&digest, &sig).map_err(|_| failed(&"ECDSA verification failed"))
            }
            PublicKey::Rsa(k) => {
                let digest = rsa_digest(input, hash)?;
                match padding {
                    RsaPadding::Pkcs1v15 => k
                        .verify(pkcs1v15(hash.hash)?, &digest, signature)
                        .map_err(|_| failed(&"RSA PKCS#1 v1.5 verification failed")),
                    RsaPadding::Pss => k
                        .verify(pss(hash.hash)?, &digest, signature)
                        .map_err(|_| failed(&"RSA-PSS verification failed")),
                    RsaPadding::PssAnySalt => {
                        let h_len = digest.len();
                        // RFC 8017 9.1.2: emLen = ceil((modBits - 1) / 8); a salt fits in emLen - hLen - 2.
                        let em_len = (k.n().bits() - 1).div_ceil(8);
                        let longest = em_len.saturating_sub(h_len + 2);
                        let mut lengths = vec![h_len, longest];
                        lengths.extend((0..=longest).filter(|l| *l != h_len && *l != longest));
                        for salt in lengths.into_iter().filter(|l| *l <= longest) {
                            if k.verify(pss_with_salt(hash.hash, salt)?, &digest, signature).is_ok() {
                                return Ok(());
                            }
                        }
                        Err(failed(&"RSA-PSS verification failed"))
                    }
                }
            }
        }
    }
}

/// The error for a digest given to an Ed25519 key.
#[must_use]
pub fn ed25519_digest_error() -> Error {
    Error::new(
        "Ed25519 keys sign the message itself (pure Ed25519): a precomputed digest cannot be signed or verified \
         (Ed25519ph is not supported); send the message without a digest",
    )
}

/// The digest ECDSA signs: the message hashed with `hash`, or the digest as given.
///
/// A given digest must have the length of the call's hash when the request named one for this
/// call; otherwise any SHA-2 digest length (28, 32, 48 or 64 bytes) is accepted, because
/// cosign sends a P-384 key a SHA-384 digest while the client's hash is SHA-256.
pub fn ecdsa_digest(input: Input<'_>, hash: HashChoice) -> Result<Vec<u8>, Error> {
    match input {
        Input::Message(message) => hash::digest_reader(hash.hash, message),
        Input::Digest(d) => {
            let want = hash.hash.digest_len();
            let ok = if hash.explicit { Some(d.len()) == want } else { matches!(d.len(), 28 | 32 | 48 | 64) };
            if ok {
                Ok(d.to_vec())
            } else if hash.explicit {
                Err(digest_length_error(d.len(), hash.hash))
            } else {
                Err(Error::new(format!(
                    "the digest is {} bytes, which is not the length of a SHA-2 digest (28, 32, 48 or 64 bytes)",
                    d.len()
                )))
            }
        }
    }
}

/// The digest RSA signs (and is verified against): it must have the length of the call's hash function.
pub fn rsa_digest(input: Input<'_>, hash: HashChoice) -> Result<Vec<u8>, Error> {
    match input {
        Input::Message(message) => hash::digest_reader(hash.hash, message),
        Input::Digest(d) if Some(d.len()) == hash.hash.digest_len() => Ok(d.to_vec()),
        Input::Digest(d) => Err(digest_length_error(d.len(), hash.hash)),
    }
}

fn digest_length_error(got: usize, hash: HashFunc) -> Error {
    Error::new(format!(
        "the digest is {got} bytes, but a {} digest is {} bytes: send the digest's hash function as hashFunc",
        hash.go_name(),
        hash.digest_len().unwrap_or(0)
    ))
}

/// The PKCS#1 v1.5 scheme for `hash` (its DigestInfo prefix).
pub fn pkcs1v15(hash: HashFunc) -> Result<rsa::Pkcs1v15Sign, Error> {
    Ok(match hash {
        HashFunc::Sha224 => rsa::Pkcs1v15Sign::new::<sha2::Sha224>(),
        HashFunc::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashFunc::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashFunc::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        HashFunc::Sha512_224 => rsa::Pkcs1v15Sign::new::<sha2::Sha512_224>(),
        HashFunc::Sha512_256 => rsa::Pkcs1v15Sign::new::<sha2::Sha512_256>(),
        other => return Err(Hasher::new(other).err().unwrap_or_else(|| Error::new("unsupported hash"))),
    })
}

fn pss_with_salt(hash: HashFunc, salt: usize) -> Result<rsa::Pss, Error> {
    Ok(match hash {
        HashFunc::Sha224 => rsa::Pss::new_with_salt::<sha2::Sha224>(salt),
        HashFunc::Sha256 => rsa::Pss::new_with_salt::<sha2::Sha256>(salt),
        HashFunc::Sha384 => rsa::Pss::new_with_salt::<sha2::Sha384>(salt),
        HashFunc::Sha512 => rsa::Pss::new_with_salt::<sha2::Sha512>(salt),
        HashFunc::Sha512_224 => rsa::Pss::new_with_salt::<sha2::Sha512_224>(salt),
        HashFunc::Sha512_256 => rsa::Pss::new_with_salt::<sha2::Sha512_256>(salt),
        other => return Err(Hasher::new(other).err().unwrap_or_else(|| Error::new("unsupported hash"))),
    })
}

fn pss(hash: HashFunc) -> Result<rsa::Pss, Error> {
    Ok(match hash {
        HashFunc::Sha224 => rsa::Pss::new::<sha2::Sha224>(),
        HashFunc::Sha256 => rsa::Pss::new::<sha2::Sha256>(),
        HashFunc::Sha384 => rsa::Pss::new::<sha2::Sha384>(),
        HashFunc::Sha512 => rsa::Pss::new::<sha2::Sha512>(),
        HashFunc::Sha512_224 => rsa::Pss::new::<sha2::Sha512_224>(),
        HashFunc::Sha512_256 => rsa::Pss::new::<sha2::Sha512_256>(),
        other => return Err(Hasher::new(other).err().unwrap_or_else(|| Error::new("unsupported hash"))),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    use super::*;

    fn implicit(hash: HashFunc) -> HashChoice {
        HashChoice { hash, explicit: false }
    }

    #[test]
    fn p521_keys_parse_and_verify() {
        let key = p521::ecdsa::SigningKey::from_slice(&[[1u8].as_slice(), &[3u8; 65]].concat()).unwrap();
        let public = p521::PublicKey::from_affine(*p521::ecdsa::VerifyingKey::from(&key).as_affine()).unwrap();
        let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
        let parsed = PublicKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(parsed.describe(), "ecdsa-p521");
        assert_eq!(parsed.default_hash(), HashFunc::Sha512);
        assert_eq!(PublicKey::from_spki_der(&parsed.to_spki_der().unwrap()).unwrap(), parsed);
        let digest = hash::digest_reader(HashFunc::Sha512, &mut &b"msg"[..]).unwrap();
        let sig: p521::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
        let der = sig.to_der();
        parsed.verify(der.as_bytes(), Input::Message(&mut &b"msg"[..]), implicit(HashFunc::Sha512)).unwrap();
        parsed.verify(der.as_bytes(), Input::Digest(&digest), implicit(HashFunc::Sha256)).unwrap();
        assert!(parsed.verify(der.as_bytes(), Input::Message(&mut &b"msG"[..]), implicit(HashFunc::Sha512)).is_err());
        // A SHA-256 digest, shorter than the ecdsa crate takes for P-521: signed over the digest
        // zero-padded on the left, which is the same integer (what Go's ecdsa.SignASN1 signs).
        let short = hash::digest_reader(HashFunc::Sha256, &mut &b"msg"[..]).unwrap();
        let padded = [vec![0u8; 34], short.clone()].concat();
        let sig: p521::ecdsa::Signature = key.sign_prehash(&padded).unwrap();
        let der = sig.to_der();
        parsed.verify(der.as_bytes(), Input::Message(&mut &b"msg"[..]), implicit(HashFunc::Sha256)).unwrap();
        parsed.verify(der.as_bytes(), Input::Digest(&short), implicit(HashFunc::Sha256)).unwrap();
        assert!(parsed.verify(der.as_bytes(), Input::Message(&mut &b"msG"[..]), implicit(HashFunc::Sha256)).is_err());
    }

    #[test]
    fn rsa_pss_and_pkcs1v15_are_told_apart() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let public = PublicKey::Rsa(key.to_public_key());
        let digest = hash::digest_reader(HashFunc::Sha256, &mut &b"msg"[..]).unwrap();
        let pss_sig = key.sign_with_rng(&mut rand_core::OsRng, pss(HashFunc::Sha256).unwrap(), &digest).unwrap();
        let sha = implicit(HashFunc::Sha256);
        public.verify_with(&pss_sig, Input::Digest(&digest), sha, RsaPadding::Pss).unwrap();
        let e = public.verify(&pss_sig, Input::Digest(&digest), sha).unwrap_err().to_string();
        assert!(e.contains("PKCS#1 v1.5"), "{e}");
        let v15 = key.sign(pkcs1v15(HashFunc::Sha256).unwrap(), &digest).unwrap();
        public.verify(&v15, Input::Message(&mut &b"msg"[..]), sha).unwrap();
        assert!(public.verify_with(&v15, Input::Digest(&digest), sha, RsaPadding::Pss).is_err());
    }

    #[test]
    fn pss_with_any_salt_length() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let public = PublicKey::Rsa(key.to_public_key());
        let digest = hash::digest_reader(HashFunc::Sha256, &mut &b"msg"[..]).unwrap();
        let sha = implicit(HashFunc::Sha256);
        // 2048-bit modulus, SHA-256: salts of 0 to 256 - 32 - 2 = 222 bytes.
        for salt in [0, 20, 32, 222] {
            let sig = key.sign_with_rng(&mut rand_core::OsRng, pss_with_salt(HashFunc::Sha256, salt).unwrap(), &digest);
            let sig = sig.unwrap();
            public.verify_with(&sig, Input::Digest(&digest), sha, RsaPadding::PssAnySalt).unwrap();
            assert_eq!(
                public.verify_with(&sig, Input::Digest(&digest), sha, RsaPadding::Pss).is_ok(),
                salt == 32,
                "{salt}"
            );
            let other = hash::digest_reader(HashFunc::Sha256, &mut &b"msG"[..]).unwrap();
            assert!(public.verify_with(&sig, Input::Digest(&other), sha, RsaPadding::PssAnySalt).is_err());
        }
        let v15 = key.sign(pkcs1v15(HashFunc::Sha256).unwrap(), &digest).unwrap();
        assert!(public.verify_with(&v15, Input::Digest(&digest), sha, RsaPadding::PssAnySalt).is_err());
    }

    #[test]
    fn unsupported_keys_say_so() {
        // secp256k1 (an AWS key spec Go cannot parse either).
        let k1 = "-----BEGIN PUBLIC KEY-----\nMFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEp8G0K1m0rKzyfUDk0t9w3V7zKQ8vR4jC\n\
                  Vp2oQ8m6n2L1tHk4sX9Fh2JkRg5mYl7TnW8pVq3cZk0rX1uY2eD4sA==\n-----END PUBLIC KEY-----\n";
        let e = PublicKey::from_pem(k1.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("not supported") || e.contains("invalid"), "{e}");
    }
}
