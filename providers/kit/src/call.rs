//! What every provider method does with the call before it talks to its KMS: refuse a passed
//! deadline, turn the deadline into a timeout for network calls, and pick what to sign (the
//! host's digest, or the message hashed here).

use std::io::Read;
use std::time::{Duration, SystemTime};

use sigstore_kms_plugins::{CallContext, HashFunc, MessageOptions};

use crate::hash::{self, effective_hash};
use crate::public_key::HashChoice;
use crate::Error;

/// How long a KMS call may take when the host sent no deadline: long enough for a slow HSM or a
/// cold cloud endpoint, short enough that a dead endpoint does not hang the host forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Refuses a call whose deadline already passed, as Go's `ctx.Err()` check does.
pub fn check_deadline(ctx: &CallContext) -> Result<(), Error> {
    time_left(ctx).map(|_| ())
}

/// The time left until the host's deadline (`ctxDeadline`), or [`DEFAULT_TIMEOUT`] without one;
/// an error if it already passed. Every network call of a provider is bounded by this.
pub fn time_left(ctx: &CallContext) -> Result<Duration, Error> {
    match ctx.deadline {
        None => Ok(DEFAULT_TIMEOUT),
        Some(deadline) => match deadline.duration_since(SystemTime::now()) {
            Ok(left) if !left.is_zero() => Ok(left),
            _ => Err(Error::new("context deadline exceeded: the host's deadline passed before the call started")),
        },
    }
}

/// The time a call may spend: [`time_left`] less a margin (a tenth, at most half a second), so
/// that the provider's own error, which says what timed out, reaches the host before the host
/// gives up and kills the plugin.
pub fn budget(ctx: &CallContext) -> Result<Duration, Error> {
    let left = time_left(ctx)?;
    Ok(left.saturating_sub((left / 10).min(Duration::from_millis(500))))
}

/// How long an SDK may keep retrying within a call of `budget`: all but a tenth (at most a
/// second), so that after the retries the answer is the service's last error (throttled,
/// unavailable, refused) rather than a bare timeout.
#[must_use]
pub fn retry_window(budget: Duration) -> Duration {
    budget.saturating_sub((budget / 10).min(Duration::from_secs(1)))
}

/// The digest the host sent (`messageOptions.digest`), if it sent a non-empty one; an empty
/// digest counts as none, as in Go.
#[must_use]
pub fn given_digest(opts: &MessageOptions) -> Option<&[u8]> {
    opts.digest().filter(|d| !d.is_empty())
}

/// The hash of a call and whether the call named it: see [`effective_hash`].
#[must_use]
pub fn hash_choice(ctx: &CallContext, opts: &MessageOptions, key_default: HashFunc) -> HashChoice {
    HashChoice {
        hash: effective_hash(ctx.hash_func, opts.hash_func, key_default),
        explicit: opts.hash_func.is_some_and(|h| h != HashFunc::None),
    }
}

/// A digest to send to a KMS, and the hash function it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The hash function.
    pub hash: HashFunc,
    /// The digest bytes.
    pub bytes: Vec<u8>,
}

/// What a KMS signs for this call: the digest the host sent (checked to have `hash`'s length),
/// or the message read from `message` and hashed with `hash` here, so that only the digest
/// travels to the KMS.
///
/// `hash` is the hash the key signs with (the KMSs fix it per key: SHA-256 for a P-256 key,
/// SHA-384 for P-384, ...). A host that asks for another hash gets an error that says which
/// one the key uses, rather than a signature no verifier would accept.
pub fn digest_for_key(
    ctx: &CallContext,
    opts: &MessageOptions,
    message: &mut dyn Read,
    hash: HashFunc,
) -> Result<Digest, Error> {
    let asked = hash_choice(ctx, opts, hash);
    if let Some(d) = given_digest(opts) {
        if Some(d.len()) != hash.digest_len() {
            return Err(Error::new(format!(
                "the digest is {} bytes, but this key signs {} digests ({} bytes): send a {} digest",
                d.len(),
                hash.go_name(),
                hash.digest_len().unwrap_or(0),
                hash.go_name()
            )));
        }
        if asked.explicit && asked.hash != hash {
            return Err(wrong_hash(asked.hash, hash));
        }
        return Ok(Digest { hash, bytes: d.to_vec() });
    }
    if asked.explicit && asked.hash != hash {
        return Err(wrong_hash(asked.hash, hash));
    }
    Ok(Digest { hash, bytes: hash::digest_reader(hash, message)? })
}

fn wrong_hash(asked: HashFunc, key: HashFunc) -> Error {
    Error::new(format!(
        "the call asks for {} but this key signs with {}: use hash function {} (or leave it unset)",
        asked.go_name(),
        key.go_name(),
        key.name()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opts(digest: Option<&[u8]>, hash: Option<HashFunc>) -> MessageOptions {
        MessageOptions { digest: digest.map(|d| Some(d.to_vec())), hash_func: hash }
    }

    #[test]
    fn deadlines() {
        let mut ctx = CallContext::new("k");
        assert_eq!(time_left(&ctx).unwrap(), DEFAULT_TIMEOUT);
        ctx.deadline = Some(SystemTime::now() + Duration::from_secs(30));
        let left = time_left(&ctx).unwrap();
        assert!(left > Duration::from_secs(20) && left <= Duration::from_secs(30), "{left:?}");
        ctx.deadline = Some(SystemTime::now() + Duration::from_secs(30));
        let b = budget(&ctx).unwrap();
        assert!(b > Duration::from_secs(20) && b <= Duration::from_millis(29_500), "{b:?}");
        ctx.deadline = Some(SystemTime::now() + Duration::from_secs(2));
        let b = budget(&ctx).unwrap();
        assert!(b > Duration::from_millis(1500) && b <= Duration::from_millis(1800), "{b:?}");
        assert_eq!(retry_window(Duration::from_secs(30)), Duration::from_secs(29));
        assert_eq!(retry_window(Duration::from_secs(4)), Duration::from_millis(3600));
        ctx.deadline = Some(SystemTime::now() - Duration::from_secs(1));
        assert!(check_deadline(&ctx).unwrap_err().to_string().contains("deadline exceeded"));
        assert!(budget(&ctx).is_err());
    }

    #[test]
    fn digests_for_a_key() {
        let ctx = CallContext::new("k");
        let d = digest_for_key(&ctx, &opts(None, None), &mut &b"abc"[..], HashFunc::Sha256).unwrap();
        assert_eq!(d.bytes, hash::digest_reader(HashFunc::Sha256, &mut &b"abc"[..]).unwrap());
        // The client's SHA-256 is the default: a P-384 key still hashes with SHA-384 (cosign).
        let d = digest_for_key(&ctx, &opts(None, None), &mut &b"abc"[..], HashFunc::Sha384).unwrap();
        assert_eq!(d.bytes.len(), 48);
        let given = [7u8; 32];
        let d = digest_for_key(&ctx, &opts(Some(&given), Some(HashFunc::Sha256)), &mut &b""[..], HashFunc::Sha256);
        assert_eq!(d.unwrap().bytes, given);
        let e = digest_for_key(&ctx, &opts(Some(&given), None), &mut &b""[..], HashFunc::Sha384).unwrap_err();
        assert!(e.to_string().contains("32 bytes") && e.to_string().contains("SHA-384"), "{e}");
        let e =
            digest_for_key(&ctx, &opts(None, Some(HashFunc::Sha512)), &mut &b"x"[..], HashFunc::Sha256).unwrap_err();
        assert!(e.to_string().contains("asks for SHA-512"), "{e}");
        // An empty digest counts as none.
        let d = digest_for_key(&ctx, &opts(Some(&[]), None), &mut &b"abc"[..], HashFunc::Sha256).unwrap();
        assert_eq!(d.bytes.len(), 32);
    }
}
