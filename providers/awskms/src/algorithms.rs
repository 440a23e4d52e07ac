//! Key specs (what `createKey` makes) and signing algorithms (what a key signs with), in the
//! names AWS KMS and Go's provider use.

use aws_sdk_kms::types::{KeySpec, SigningAlgorithmSpec};
use sigstore_kms_plugins::HashFunc;
use sigstore_kms_provider_kit::RsaPadding;

use crate::Error;

/// The algorithms `createKey` accepts, in Go's `SupportedAlgorithms` order, with the names of
/// the bundled localkms plugin that are accepted as synonyms.
pub const SUPPORTED: [(&str, &str); 6] = [
    ("RSA_2048", "rsa-2048"),
    ("RSA_3072", "rsa-3072"),
    ("RSA_4096", "rsa-4096"),
    ("ECC_NIST_P256", "ecdsa-p256"),
    ("ECC_NIST_P384", "ecdsa-p384"),
    ("ECC_NIST_P521", "ecdsa-p521"),
];

/// Go's `DefaultAlgorithm`.
pub const DEFAULT: &str = "ECC_NIST_P256";

/// The key spec for `createKey`'s algorithm: a Go name (`ECC_NIST_P256`), a localkms name
/// (`ecdsa-p256`), or `""` for the default.
pub fn key_spec(algorithm: &str) -> Result<KeySpec, Error> {
    let name = if algorithm.is_empty() {
        DEFAULT
    } else {
        SUPPORTED.iter().find(|(go, ours)| *go == algorithm || *ours == algorithm).map(|(go, _)| *go).ok_or_else(
            || {
                Error::new(format!(
                    "algorithm {algorithm:?} is not supported for AWS KMS keys; use one of {}",
                    SUPPORTED.iter().map(|(go, _)| *go).collect::<Vec<_>>().join(", ")
                ))
            },
        )?
    };
    Ok(KeySpec::from(name))
}

/// How a key signs: its first signing algorithm (as Go's provider picks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    /// The algorithm sent with `Sign` and `Verify`.
    pub algorithm: SigningAlgorithmSpec,
    /// Its hash function.
    pub hash: HashFunc,
    /// The RSA padding (ignored for ECDSA). PSS signatures verify with any salt length, as Go's
    /// provider verifies them (AWS KMS signs with a salt as long as the digest).
    pub padding: RsaPadding,
}

impl Scheme {
    /// The scheme of a key whose `SigningAlgorithms` are `algorithms`: the first one, as Go's
    /// provider does (`KeyMetadata.SigningAlgorithms[0]`: RSASSA-PSS with SHA-256 for RSA keys,
    /// ECDSA with the curve's hash for EC keys).
    pub fn of_key(key: &str, algorithms: &[SigningAlgorithmSpec]) -> Result<Self, Error> {
        let Some(first) = algorithms.first() else {
            return Err(Error::new(format!(
                "the AWS KMS key {key} has no signing algorithms: it is not a signing key (its key usage must be \
                 SIGN_VERIFY); use an asymmetric key created for signing"
            )));
        };
        Self::of(first).ok_or_else(|| {
            Error::new(format!(
                "the AWS KMS key {key} signs with {}, which this plugin (like cosign's own AWS provider) does not \
                 support; use an RSA or NIST P-256/P-384/P-521 key",
                first.as_str()
            ))
        })
    }

    /// The scheme of one signing algorithm, if supported.
    #[must_use]
    pub fn of(algorithm: &SigningAlgorithmSpec) -> Option<Self> {
        use SigningAlgorithmSpec as S;
        let (hash, padding) = match algorithm {
            // The padding is not used for ECDSA.
            S::EcdsaSha256 | S::RsassaPkcs1V15Sha256 => (HashFunc::Sha256, RsaPadding::Pkcs1v15),
            S::EcdsaSha384 | S::RsassaPkcs1V15Sha384 => (HashFunc::Sha384, RsaPadding::Pkcs1v15),
            S::EcdsaSha512 | S::RsassaPkcs1V15Sha512 => (HashFunc::Sha512, RsaPadding::Pkcs1v15),
            S::RsassaPssSha256 => (HashFunc::Sha256, RsaPadding::PssAnySalt),
            S::RsassaPssSha384 => (HashFunc::Sha384, RsaPadding::PssAnySalt),
            S::RsassaPssSha512 => (HashFunc::Sha512, RsaPadding::PssAnySalt),
            _ => return None,
        };
        Some(Scheme { algorithm: algorithm.clone(), hash, padding })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_specs() {
        assert_eq!(key_spec("").unwrap(), KeySpec::EccNistP256);
        assert_eq!(key_spec("ECC_NIST_P384").unwrap(), KeySpec::EccNistP384);
        assert_eq!(key_spec("rsa-2048").unwrap(), KeySpec::Rsa2048);
        assert_eq!(key_spec("ECC_NIST_P521").unwrap(), KeySpec::EccNistP521);
        let e = key_spec("any-algorithm").unwrap_err().to_string();
        assert!(e.contains("\"any-algorithm\"") && e.contains("RSA_2048, RSA_3072"), "{e}");
        // Only these: not SYMMETRIC_DEFAULT, not secp256k1 (which Go cannot parse either).
        assert!(key_spec("SYMMETRIC_DEFAULT").is_err() && key_spec("ECC_SECG_P256K1").is_err());
        for (go, _) in SUPPORTED {
            assert_eq!(key_spec(go).unwrap().as_str(), go, "AWS's name is Go's name");
        }
    }

    #[test]
    fn the_first_signing_algorithm_counts() {
        let rsa = [SigningAlgorithmSpec::RsassaPssSha256, SigningAlgorithmSpec::RsassaPkcs1V15Sha256];
        let s = Scheme::of_key("k", &rsa).unwrap();
        assert_eq!((s.hash, s.padding), (HashFunc::Sha256, RsaPadding::PssAnySalt));
        let s = Scheme::of_key("k", &[SigningAlgorithmSpec::EcdsaSha384]).unwrap();
        assert_eq!(s.hash, HashFunc::Sha384);
        let e = Scheme::of_key("alias/enc", &[]).unwrap_err().to_string();
        assert!(e.contains("alias/enc") && e.contains("SIGN_VERIFY"), "{e}");
        let e = Scheme::of_key("k", &[SigningAlgorithmSpec::Sm2Dsa]).unwrap_err().to_string();
        assert!(e.contains("SM2DSA"), "{e}");
    }
}
