//! The public key a bundle is signed by: its hint, and which algorithms it implies.

use std::io::Read;

use sha2::{Digest as _, Sha256};
use sigstore_kms_plugins::HashFunc;
use sigstore_kms_provider_kit::hash::Hasher;
use sigstore_kms_provider_kit::{HashChoice, Input, PublicKey, RsaPadding};

use crate::error::{Error, ErrorKind, Result};
use crate::model::{encode_base64, DigestAlgorithm};

/// The kinds of key this crate signs and verifies bundles with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// ECDSA on NIST P-256: SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384: SHA-384.
    EcdsaP384,
    /// ECDSA on NIST P-521: SHA-512.
    EcdsaP521,
    /// RSA: SHA-256, PKCS#1 v1.5 signatures (RSA-PSS ones are accepted too).
    Rsa {
        /// The modulus size in bits.
        bits: usize,
    },
    /// Ed25519 (pure: the signature is over the data itself).
    Ed25519,
}

/// A public key to verify bundles with, or that a [`crate::BundleSigner`] signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    key: PublicKey,
    spki_der: Vec<u8>,
    kind: KeyKind,
}

impl VerificationKey {
    /// Parses a `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` PEM block, as Go's
    /// `cryptoutils.UnmarshalPEMToPublicKey` reads it.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let parsed = sigstore_kms_plugins::PublicKey::from_pem(pem)
            .map_err(|e| Error::new(ErrorKind::InvalidKey, format!("the public key is not usable: {e}")))?;
        Self::from_spki_der(parsed.spki_der())
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let key = PublicKey::from_spki_der(der).map_err(|e| {
            let text = e.to_string();
            let kind = if text.contains("not supported") { ErrorKind::Unsupported } else { ErrorKind::InvalidKey };
            Error::new(
                kind,
                format!(
                    "{text} (Sigstore bundles are verified here with ECDSA P-256/P-384/P-521, RSA and Ed25519 keys)"
                ),
            )
        })?;
        let kind = match (&key, key.describe()) {
            (PublicKey::P256(_), _) => KeyKind::EcdsaP256,
            (PublicKey::P384(_), _) => KeyKind::EcdsaP384,
            (PublicKey::P521(_), _) => KeyKind::EcdsaP521,
            (PublicKey::Ed25519(_), _) => KeyKind::Ed25519,
            (PublicKey::Rsa(_), name) => {
                KeyKind::Rsa { bits: name.trim_start_matches("rsa-").parse().unwrap_or_default() }
            }
        };
        Ok(VerificationKey { key, spki_der: der.to_vec(), kind })
    }

    /// What kind of key this is.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as a `PUBLIC KEY` PEM block.
    #[must_use]
    pub fn spki_pem(&self) -> String {
        sigstore_kms_plugins::encode_pem("PUBLIC KEY", &self.spki_der)
    }

    /// The key hint cosign and sigstore-js write: base64(SHA-256(SubjectPublicKeyInfo DER)).
    #[must_use]
    pub fn hint(&self) -> String {
        encode_base64(&Sha256::digest(&self.spki_der))
    }

    /// A short name: `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`, `ed25519`, ...
    #[must_use]
    pub fn describe(&self) -> String {
        self.key.describe()
    }

    /// The digest algorithm the key implies (protobuf-specs' algorithm registry): SHA2_256 for
    /// P-256 and RSA, SHA2_384 for P-384, SHA2_512 for P-521 and for Ed25519 (whose
    /// message-signature digest only identifies the artifact: the signature is over the data).
    #[must_use]
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        match self.kind {
            KeyKind::EcdsaP256 | KeyKind::Rsa { .. } => DigestAlgorithm::Sha2_256,
            KeyKind::EcdsaP384 => DigestAlgorithm::Sha2_384,
            KeyKind::EcdsaP521 | KeyKind::Ed25519 => DigestAlgorithm::Sha2_512,
        }
    }

    /// The hash function signatures are made over (for ECDSA and RSA), or `None` for Ed25519.
    #[must_use]
    pub fn signing_hash(&self) -> Option<HashFunc> {
        match self.kind {
            KeyKind::Ed25519 => None,
            _ => self.digest_algorithm().hash_func(),
        }
    }

    /// The protobuf-specs `PublicKeyDetails` name of the key and the signatures made here:
    /// `PKIX_ECDSA_P256_SHA_256`, `PKIX_ECDSA_P384_SHA_384`, `PKIX_RSA_PKCS1V15_2048_SHA256`,
    /// `PKIX_ED25519`, ...
    #[must_use]
    pub fn key_details(&self) -> String {
        match self.kind {
            KeyKind::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256".into(),
            KeyKind::EcdsaP384 => "PKIX_ECDSA_P384_SHA_384".into(),
            KeyKind::EcdsaP521 => "PKIX_ECDSA_P521_SHA_512".into(),
            KeyKind::Rsa { bits } => format!("PKIX_RSA_PKCS1V15_{bits}_SHA256"),
            KeyKind::Ed25519 => "PKIX_ED25519".into(),
        }
    }

    /// Checks an ECDSA or RSA signature over a digest made with `hash`.
    pub fn verify_digest(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<()> {
        if self.kind == KeyKind::Ed25519 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "an Ed25519 signature is over the data itself, not over a digest",
            ));
        }
        let choice = HashChoice::explicit(hash);
        let verdict = self.key.verify(signature, Input::Digest(digest), choice);
        // RSA: PKCS#1 v1.5 (what cosign and sigstore-js verify) or PSS (the KMSs' other scheme);
        // the padding leaves no ambiguity.
        let verdict = match (verdict, self.kind) {
            (Err(e), KeyKind::Rsa { .. }) => {
                self.key.verify_with(signature, Input::Digest(digest), choice, RsaPadding::Pss).map_err(|_| e)
            }
            (v, _) => v,
        };
        verdict.map_err(|e| self.bad(&e, hash))
    }

    /// Checks a signature over the data `reader` yields: ECDSA and RSA over its `hash` digest,
    /// Ed25519 over the data itself.
    pub fn verify_data(&self, signature: &[u8], reader: &mut dyn Read, hash: HashFunc) -> Result<()> {
        let mut io_error = None;
        let mut reader = ErrorKeeping { inner: reader, error: &mut io_error };
        let verdict = self.key.verify(signature, Input::Message(&mut reader), HashChoice::explicit(hash));
        if let Some(e) = io_error {
            return Err(Error::io("reading the artifact failed", e));
        }
        verdict.map_err(|e| self.bad(&e, hash))
    }

    /// Checks a signature over the data `reader` yields (as [`VerificationKey::verify_data`])
    /// and returns the data's `hash` digest, reading the data once.
    pub fn verify_data_digest(&self, signature: &[u8], reader: &mut dyn Read, hash: HashFunc) -> Result<Vec<u8>> {
        let mut hasher = Hasher::new(hash).map_err(|e| Error::new(ErrorKind::Unsupported, e.to_string()))?;
        let mut tee = Tee { inner: reader, hasher: &mut hasher };
        self.verify_data(signature, &mut tee, hash)?;
        std::io::copy(&mut tee, &mut std::io::sink()).map_err(|e| Error::io("reading the artifact failed", e))?;
        Ok(hasher.finish())
    }

    fn bad(&self, err: &dyn std::fmt::Display, hash: HashFunc) -> Error {
        let scheme = match self.kind {
            KeyKind::Ed25519 => "Ed25519".to_owned(),
            KeyKind::Rsa { .. } => format!("RSA PKCS#1 v1.5 or PSS, {}", hash.name()),
            _ => format!("ECDSA, {}", hash.name()),
        };
        Error::new(
            ErrorKind::BadSignature,
            format!("the signature does not verify with the given {} key ({scheme}): {err}", self.describe()),
        )
    }
}

/// A reader that keeps the first I/O error it returns, so that it is reported as an I/O error
/// and not as a bad signature.
struct ErrorKeeping<'a> {
    inner: &'a mut dyn Read,
    error: &'a mut Option<std::io::Error>,
}

impl Read for ErrorKeeping<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted && self.error.is_none() => {
                let substitute = std::io::Error::new(e.kind(), e.to_string());
                *self.error = Some(e);
                Err(substitute)
            }
            other => other,
        }
    }
}

struct Tee<'a> {
    inner: &'a mut dyn Read,
    hasher: &'a mut Hasher,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
