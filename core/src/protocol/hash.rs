//! Go's `crypto.Hash` numbering, which the protocol uses for `hashFunc`.

use std::fmt;
use std::str::FromStr;

/// A hash function, numbered exactly as Go's `crypto.Hash` (the protocol sends the number).
///
/// Parse one from a name with [`str::parse`]: names are matched case-insensitively and
/// ignoring `-`, `_`, `/` and `+`, so `"sha256"`, `"SHA-256"` (Go's own spelling) and
/// `"sha_256"` are all [`HashFunc::Sha256`]. `"none"` is [`HashFunc::None`].
///
/// ```
/// use sigstore_kms_plugins::HashFunc;
/// let h: HashFunc = "SHA-384".parse().unwrap();
/// assert_eq!(h, HashFunc::Sha384);
/// assert_eq!(h.number(), 6);
/// assert_eq!(h.digest_len(), Some(48));
/// assert_eq!(HashFunc::from_number(5), Some(HashFunc::Sha256));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
#[allow(missing_docs)] // the variant names are the hash names
pub enum HashFunc {
    /// No hash: Go's zero `crypto.Hash`.
    None = 0,
    Md4 = 1,
    Md5 = 2,
    Sha1 = 3,
    Sha224 = 4,
    /// The default, as cosign asks KMS keys for SHA-256.
    #[default]
    Sha256 = 5,
    Sha384 = 6,
    Sha512 = 7,
    Md5Sha1 = 8,
    Ripemd160 = 9,
    Sha3_224 = 10,
    Sha3_256 = 11,
    Sha3_384 = 12,
    Sha3_512 = 13,
    Sha512_224 = 14,
    Sha512_256 = 15,
    Blake2s256 = 16,
    Blake2b256 = 17,
    Blake2b384 = 18,
    Blake2b512 = 19,
}

/// Every hash function with its canonical (lower-case) name, Go's name and digest length.
const TABLE: [(HashFunc, &str, &str, Option<usize>); 20] = [
    (HashFunc::None, "none", "none", None),
    (HashFunc::Md4, "md4", "MD4", Some(16)),
    (HashFunc::Md5, "md5", "MD5", Some(16)),
    (HashFunc::Sha1, "sha1", "SHA-1", Some(20)),
    (HashFunc::Sha224, "sha224", "SHA-224", Some(28)),
    (HashFunc::Sha256, "sha256", "SHA-256", Some(32)),
    (HashFunc::Sha384, "sha384", "SHA-384", Some(48)),
    (HashFunc::Sha512, "sha512", "SHA-512", Some(64)),
    (HashFunc::Md5Sha1, "md5sha1", "MD5+SHA1", Some(36)),
    (HashFunc::Ripemd160, "ripemd160", "RIPEMD-160", Some(20)),
    (HashFunc::Sha3_224, "sha3-224", "SHA3-224", Some(28)),
    (HashFunc::Sha3_256, "sha3-256", "SHA3-256", Some(32)),
    (HashFunc::Sha3_384, "sha3-384", "SHA3-384", Some(48)),
    (HashFunc::Sha3_512, "sha3-512", "SHA3-512", Some(64)),
    (HashFunc::Sha512_224, "sha512-224", "SHA-512/224", Some(28)),
    (HashFunc::Sha512_256, "sha512-256", "SHA-512/256", Some(32)),
    (HashFunc::Blake2s256, "blake2s-256", "BLAKE2s-256", Some(32)),
    (HashFunc::Blake2b256, "blake2b-256", "BLAKE2b-256", Some(32)),
    (HashFunc::Blake2b384, "blake2b-384", "BLAKE2b-384", Some(48)),
    (HashFunc::Blake2b512, "blake2b-512", "BLAKE2b-512", Some(64)),
];

impl HashFunc {
    /// Every hash function, in Go's numeric order.
    pub const ALL: [HashFunc; 20] = {
        let mut all = [HashFunc::None; 20];
        let mut i = 0;
        while i < 20 {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn entry(self) -> &'static (HashFunc, &'static str, &'static str, Option<usize>) {
        &TABLE[self as usize]
    }

    /// Go's `crypto.Hash` number, as written on the wire.
    #[must_use]
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The hash function with Go's `crypto.Hash` number `n`, if there is one.
    #[must_use]
    pub fn from_number(n: u64) -> Option<HashFunc> {
        usize::try_from(n).ok().and_then(|i| TABLE.get(i)).map(|e| e.0)
    }

    /// Our canonical lower-case name, e.g. `"sha256"`, `"sha3-256"`, `"none"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// Go's `crypto.Hash.String()` spelling, e.g. `"SHA-256"`.
    #[must_use]
    pub fn go_name(self) -> &'static str {
        self.entry().2
    }

    /// The digest length in bytes, or `None` for [`HashFunc::None`].
    #[must_use]
    pub fn digest_len(self) -> Option<usize> {
        self.entry().3
    }
}

/// Folds a hash name so that spellings differing only in case and separators compare equal.
fn normalize(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '-' | '_' | '/' | '+' | ' ')).flat_map(char::to_lowercase).collect()
}

impl FromStr for HashFunc {
    type Err = UnknownHashFunc;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = normalize(s);
        TABLE.iter().find(|e| normalize(e.1) == wanted).map(|e| e.0).ok_or_else(|| UnknownHashFunc(s.to_owned()))
    }
}

impl fmt::Display for HashFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown hash function name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash function {0:?}: expected one of none, sha224, sha256, sha384, sha512, sha3-256, ... (or Go's crypto.Hash number 0-19)")]
pub struct UnknownHashFunc(pub String);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for (i, h) in HashFunc::ALL.iter().enumerate() {
            assert_eq!(h.number() as usize, i);
            assert_eq!(HashFunc::from_number(i as u64), Some(*h));
            assert_eq!(h.name().parse::<HashFunc>(), Ok(*h));
            assert_eq!(h.go_name().parse::<HashFunc>(), Ok(*h));
        }
        assert_eq!(HashFunc::from_number(20), None);
        assert!("sha-1024".parse::<HashFunc>().is_err());
        assert_eq!("SHA_256".parse::<HashFunc>(), Ok(HashFunc::Sha256));
    }
}
