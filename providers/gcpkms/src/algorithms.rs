//! The signing algorithms: the names Go's provider uses, Cloud KMS's own names, and what each
//! means for hashing and verification.

use sigstore_kms_plugins::HashFunc;
use sigstore_kms_provider_kit::RsaPadding;

use crate::Error;

/// The kind of key an algorithm signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
    /// RSA of this many bits.
    Rsa(u32),
}

/// One asymmetric signing algorithm of Cloud KMS that the plugin supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithm {
    /// The name in Go's provider (`ecdsa-p256-sha256`), used by `createKey`.
    pub name: &'static str,
    /// Cloud KMS's name (`EC_SIGN_P256_SHA256`).
    pub kms_name: &'static str,
    /// The digest the key signs: Cloud KMS fixes it per algorithm.
    pub hash: HashFunc,
    /// The key.
    pub key: KeyKind,
    /// RSA padding (PKCS#1 v1.5 for ECDSA keys, where it is not used).
    pub padding: RsaPadding,
}

const fn alg(
    name: &'static str,
    kms_name: &'static str,
    hash: HashFunc,
    key: KeyKind,
    padding: RsaPadding,
) -> Algorithm {
    Algorithm { name, kms_name, hash, key, padding }
}

use HashFunc::{Sha256, Sha384, Sha512};
use KeyKind::{Rsa, P256, P384};
use RsaPadding::{Pkcs1v15, Pss};

/// Every supported algorithm, the default first: Go's `algorithmMap`, in a fixed order.
pub const ALGORITHMS: [Algorithm; 10] = [
    alg("ecdsa-p256-sha256", "EC_SIGN_P256_SHA256", Sha256, P256, Pkcs1v15),
    alg("ecdsa-p384-sha384", "EC_SIGN_P384_SHA384", Sha384, P384, Pkcs1v15),
    alg("rsa-pkcs1v15-2048-sha256", "RSA_SIGN_PKCS1_2048_SHA256", Sha256, Rsa(2048), Pkcs1v15),
    alg("rsa-pkcs1v15-3072-sha256", "RSA_SIGN_PKCS1_3072_SHA256", Sha256, Rsa(3072), Pkcs1v15),
    alg("rsa-pkcs1v15-4096-sha256", "RSA_SIGN_PKCS1_4096_SHA256", Sha256, Rsa(4096), Pkcs1v15),
    alg("rsa-pkcs1v15-4096-sha512", "RSA_SIGN_PKCS1_4096_SHA512", Sha512, Rsa(4096), Pkcs1v15),
    alg("rsa-pss-2048-sha256", "RSA_SIGN_PSS_2048_SHA256", Sha256, Rsa(2048), Pss),
    alg("rsa-pss-3072-sha256", "RSA_SIGN_PSS_3072_SHA256", Sha256, Rsa(3072), Pss),
    alg("rsa-pss-4096-sha256", "RSA_SIGN_PSS_4096_SHA256", Sha256, Rsa(4096), Pss),
    alg("rsa-pss-4096-sha512", "RSA_SIGN_PSS_4096_SHA512", Sha512, Rsa(4096), Pss),
];

/// The default algorithm, as in Go: `ecdsa-p256-sha256`.
pub const DEFAULT: Algorithm = ALGORITHMS[0];

impl Algorithm {
    /// The algorithm `createKey` was asked for: Go's name, Cloud KMS's (any case), or the
    /// bundled localkms plugin's (`ecdsa-p256`, `rsa-2048`, ...); empty means the default.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        let name = name.trim();
        if name.is_empty() {
            return Ok(DEFAULT);
        }
        // The bundled localkms plugin's names (what hosts and the harness default to).
        let name = match name.to_ascii_lowercase().as_str() {
            "ecdsa-p256" => "ecdsa-p256-sha256",
            "ecdsa-p384" => "ecdsa-p384-sha384",
            "rsa-2048" => "rsa-pkcs1v15-2048-sha256",
            "rsa-3072" => "rsa-pkcs1v15-3072-sha256",
            "rsa-4096" => "rsa-pkcs1v15-4096-sha256",
            _ => name,
        };
        ALGORITHMS
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name) || a.kms_name.eq_ignore_ascii_case(name))
            .copied()
            .ok_or_else(|| {
                Error::new(format!(
                    "unsupported algorithm {name:?} for Cloud KMS keys: use one of {} (or leave it empty for {})",
                    names().join(", "),
                    DEFAULT.name
                ))
            })
    }

    /// The algorithm of a key version, by Cloud KMS's name; an error for the algorithms the
    /// plugin cannot sign with (Go's provider refuses the same ones).
    pub fn from_kms_name(kms_name: &str, version: &str) -> Result<Self, Error> {
        ALGORITHMS.iter().find(|a| a.kms_name == kms_name).copied().ok_or_else(|| {
            Error::new(format!(
                "key version {version} has algorithm {kms_name}, which this plugin does not sign with: use a key \
                 whose algorithm is one of {}",
                ALGORITHMS.iter().map(|a| a.kms_name).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// Go's names of the supported algorithms, the default first.
#[must_use]
pub fn names() -> Vec<String> {
    ALGORITHMS.iter().map(|a| a.name.to_owned()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_both_ways() {
        assert_eq!(Algorithm::from_name("").unwrap(), DEFAULT);
        assert_eq!(Algorithm::from_name("rsa-pss-4096-sha512").unwrap().kms_name, "RSA_SIGN_PSS_4096_SHA512");
        assert_eq!(Algorithm::from_name("ec_sign_p384_sha384").unwrap().name, "ecdsa-p384-sha384");
        assert_eq!(Algorithm::from_name("ecdsa-p256").unwrap(), DEFAULT);
        assert_eq!(Algorithm::from_name("rsa-3072").unwrap().kms_name, "RSA_SIGN_PKCS1_3072_SHA256");
        let e = Algorithm::from_name("any-algorithm").unwrap_err().to_string();
        assert!(e.contains("\"any-algorithm\"") && e.contains("ecdsa-p256-sha256"), "{e}");
        let e = Algorithm::from_kms_name("EC_SIGN_ED25519", "v/1").unwrap_err().to_string();
        assert!(e.contains("EC_SIGN_ED25519") && e.contains("EC_SIGN_P256_SHA256"), "{e}");
        assert_eq!(names().len(), 10);
        for a in ALGORITHMS {
            assert_eq!(Algorithm::from_kms_name(a.kms_name, "v").unwrap(), a);
        }
    }
}
