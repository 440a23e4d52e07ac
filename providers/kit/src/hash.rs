//! Streaming SHA-2 hashing, and the rule that picks the hash function of a call.

use std::io::{self, Read};

use sha2::digest::DynDigest;
use sigstore_kms_plugins::HashFunc;

use crate::Error;

/// Size of the chunks a message is read in.
const CHUNK: usize = 64 * 1024;

/// The hash functions the providers compute: the SHA-2 family (what KMSs sign with).
pub const SUPPORTED_HASHES: [HashFunc; 6] = [
    HashFunc::Sha224,
    HashFunc::Sha256,
    HashFunc::Sha384,
    HashFunc::Sha512,
    HashFunc::Sha512_224,
    HashFunc::Sha512_256,
];

/// A running hash of one of [`SUPPORTED_HASHES`].
pub struct Hasher {
    hash: HashFunc,
    inner: Box<dyn DynDigest>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("hash", &self.hash).finish_non_exhaustive()
    }
}

impl Hasher {
    /// A new hasher for `hash`, or an error naming the supported ones.
    pub fn new(hash: HashFunc) -> Result<Self, Error> {
        let inner: Box<dyn DynDigest> = match hash {
            HashFunc::Sha224 => Box::new(sha2::Sha224::default()),
            HashFunc::Sha256 => Box::new(sha2::Sha256::default()),
            HashFunc::Sha384 => Box::new(sha2::Sha384::default()),
            HashFunc::Sha512 => Box::new(sha2::Sha512::default()),
            HashFunc::Sha512_224 => Box::new(sha2::Sha512_224::default()),
            HashFunc::Sha512_256 => Box::new(sha2::Sha512_256::default()),
            other => {
                return Err(Error::new(format!(
                    "hash function {} (Go crypto.Hash {}) is not supported; use one of {}",
                    other.go_name(),
                    other.number(),
                    SUPPORTED_HASHES.iter().map(|h| h.name()).collect::<Vec<_>>().join(", ")
                )))
            }
        };
        Ok(Hasher { hash, inner })
    }

    /// Which hash function this is.
    #[must_use]
    pub fn hash_func(&self) -> HashFunc {
        self.hash
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The digest.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.inner.finalize().into_vec()
    }
}

/// Hashes everything `reader` yields, in fixed-size chunks (memory stays flat).
pub fn digest_reader(hash: HashFunc, reader: &mut dyn Read) -> Result<Vec<u8>, Error> {
    let mut hasher = Hasher::new(hash)?;
    for_each_chunk(reader, |chunk| hasher.update(chunk))
        .map_err(|e| Error::new(format!("reading the message failed: {e}")))?;
    Ok(hasher.finish())
}

/// Calls `f` with successive chunks of `reader` until end of file.
pub fn for_each_chunk(reader: &mut dyn Read, mut f: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => f(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The hash function a call uses, given the request's hash functions and the key's default.
///
/// 1. `messageOptions.hashFunc`, when the request carries one other than 0 ("none");
/// 2. otherwise `initOptions.hashFunc` (what the host's client was loaded with: cosign loads
///    every KMS key with SHA-256), unless it is 0;
/// 3. otherwise the key's own default (SHA-384 for P-384, SHA-256 for P-256 and RSA).
///
/// This is what Go's example plugin does (its `hashFunc` is `initOptions.hashFunc`, replaced by
/// the call's `hashFunc` when given), except that where Go would crash on hash 0 we fall back.
#[must_use]
pub fn effective_hash(init: HashFunc, message: Option<HashFunc>, key_default: HashFunc) -> HashFunc {
    [message.unwrap_or(HashFunc::None), init].into_iter().find(|h| *h != HashFunc::None).unwrap_or(key_default)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_answers() {
        let d = digest_reader(HashFunc::Sha256, &mut &b"abc"[..]).unwrap();
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
        for h in SUPPORTED_HASHES {
            assert_eq!(Some(digest_reader(h, &mut &b""[..]).unwrap().len()), h.digest_len());
        }
        let e = Hasher::new(HashFunc::Md5).unwrap_err().to_string();
        assert!(e.contains("MD5") && e.contains("sha256"), "{e}");
    }

    #[test]
    fn the_hash_rule() {
        use HashFunc::{None, Sha256, Sha384, Sha512};
        assert_eq!(effective_hash(Sha256, Some(Sha512), Sha384), Sha512);
        assert_eq!(effective_hash(Sha256, Option::None, Sha384), Sha256);
        assert_eq!(effective_hash(Sha256, Some(None), Sha384), Sha256);
        assert_eq!(effective_hash(None, Some(None), Sha384), Sha384);
        assert_eq!(effective_hash(None, Option::None, Sha256), Sha256);
    }
}
