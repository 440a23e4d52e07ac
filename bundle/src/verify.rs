//! Verifying a bundle against a public key.
//!
//! What is checked, in order: the content is of the kind asked for; the bundle names the given
//! key (its hint, and a DSSE signature's `keyid`, when not empty, are the key's hint); for a
//! message signature, the artifact's digest (computed here, with the algorithm the bundle
//! names) is the bundle's `messageDigest`, and the signature verifies over the artifact; for a
//! DSSE envelope, the signature verifies over its pre-authentication encoding (PAE) and, given
//! an artifact, the in-toto statement names it as a subject.
//!
//! What is **not** checked: transparency-log entries and RFC 3161 timestamps (there is no trust
//! root here), and certificates (keyless bundles). [`Verified`] counts the entries and timestamps
//! that were present but not verified.

use std::io::Read;

use sigstore_kms_plugins::HashFunc;
use sigstore_kms_provider_kit::hash::Hasher;

use crate::error::{Error, ErrorKind, Result};
use crate::key::{KeyKind, VerificationKey};
use crate::model::{Bundle, DigestAlgorithm, HashOutput, KeyMaterial};
use crate::sign::pae;
use crate::statement;

/// What a verified bundle says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// For a message signature: the artifact's digest, as computed here.
    pub digest: Option<HashOutput>,
    /// For a DSSE envelope: its payload type.
    pub payload_type: Option<String>,
    /// For a DSSE envelope: its payload.
    pub payload: Option<Vec<u8>>,
    /// For a DSSE envelope checked against an artifact: the subject name that matched.
    pub subject: Option<String>,
    /// Transparency-log entries in the bundle, not verified (no trust root).
    pub tlog_entries_not_verified: usize,
    /// RFC 3161 timestamps in the bundle, not verified (no trust root).
    pub timestamps_not_verified: usize,
}

impl Verified {
    fn of(bundle: &Bundle) -> Verified {
        Verified {
            digest: None,
            payload_type: None,
            payload: None,
            subject: None,
            tlog_entries_not_verified: bundle.tlog_entries.len(),
            timestamps_not_verified: bundle.rfc3161_timestamps.len(),
        }
    }
}

/// Verifies a message-signature bundle over `artifact` (read once, streamed).
pub fn verify_message(bundle: &Bundle, key: &VerificationKey, artifact: &mut dyn Read) -> Result<Verified> {
    let Some(message) = bundle.message_signature() else {
        return Err(Error::new(
            ErrorKind::WrongContent,
            "the bundle holds a DSSE envelope, not a message signature: verify it as a DSSE bundle",
        ));
    };
    check_key_material(bundle, key)?;
    // cosign writes "messageDigest":{} for pure Ed25519; sigstore-go puts the artifact itself
    // there with no algorithm: both carry nothing to compare.
    let declared = message.message_digest.as_ref().filter(|d| d.algorithm != DigestAlgorithm::Unspecified);
    let algorithm = declared.map_or_else(|| key.digest_algorithm(), |d| d.algorithm);
    let Some(hash) = algorithm.hash_func() else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("the bundle's digest algorithm {algorithm} is not supported (SHA2_256, SHA2_384 and SHA2_512 are)"),
        ));
    };
    let mut hashing = HashingReader::new(artifact, hash)?;
    // ECDSA and RSA sign the digest of the algorithm the bundle names (sigstore-js signs SHA-256
    // whatever the curve; cosign the curve's hash); Ed25519 signs the artifact itself.
    let verdict = if key.kind() == KeyKind::Ed25519 {
        key.verify_data(&message.signature, &mut hashing, hash)
    } else {
        hashing.drain()?;
        Ok(())
    };
    let digest = hashing.finish()?;
    if let Some(d) = declared.filter(|d| !d.digest.is_empty()) {
        if d.digest != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "the artifact's {algorithm} digest is {}, but the bundle's messageDigest is {}: \
                     this is not the artifact that was signed",
                    hex(&digest),
                    hex(&d.digest)
                ),
            ));
        }
    }
    verdict?;
    if key.kind() != KeyKind::Ed25519 {
        key.verify_digest(&message.signature, &digest, hash)?;
    }
    Ok(Verified { digest: Some(HashOutput { algorithm, digest }), ..Verified::of(bundle) })
}

/// Verifies a DSSE bundle's envelope; returns its payload type and payload in [`Verified`].
pub fn verify_dsse(bundle: &Bundle, key: &VerificationKey) -> Result<Verified> {
    let Some(envelope) = bundle.dsse_envelope() else {
        return Err(Error::new(
            ErrorKind::WrongContent,
            "the bundle holds a message signature, not a DSSE envelope: verify it against the artifact",
        ));
    };
    check_key_material(bundle, key)?;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(Error::malformed(format!(
            "the DSSE envelope has {} signatures; a bundle's envelope has exactly one",
            envelope.signatures.len()
        )));
    };
    // A keyid in the hint's form (base64 of a SHA-256) must name the given key, as the bundle's
    // hint must; other forms (go-securesystemslib writes SSH fingerprints) are not ours to read.
    let hint_like = crate::model::decode_base64(&signature.keyid).is_some_and(|d| d.len() == 32);
    if hint_like && signature.keyid != key.hint() {
        return Err(Error::new(
            ErrorKind::HintMismatch,
            format!(
                "the DSSE signature's keyid {:?} is not the given key's hint {:?}: the envelope names another key",
                signature.keyid,
                key.hint()
            ),
        ));
    }
    let signed = pae(&envelope.payload_type, &envelope.payload);
    match key.signing_hash() {
        None => key.verify_data(&signature.sig, &mut signed.as_slice(), HashFunc::Sha512)?,
        Some(hash) => {
            let first = verify_over(key, &signature.sig, &signed, hash);
            // sigstore-js signs DSSE envelopes over SHA-256 whatever the key (Node's default
            // digest), so a P-384 envelope may be over SHA-256 (PKIX_ECDSA_P384_SHA_256 in the
            // spec's registry, deprecated but "used by most Sigstore clients").
            if first.is_err() && hash != HashFunc::Sha256 {
                verify_over(key, &signature.sig, &signed, HashFunc::Sha256).or(first)?;
            } else {
                first?;
            }
        }
    }
    Ok(Verified {
        payload_type: Some(envelope.payload_type.clone()),
        payload: Some(envelope.payload.clone()),
        ..Verified::of(bundle)
    })
}

/// Verifies a DSSE bundle and checks that its in-toto statement names `artifact` as a subject.
pub fn verify_dsse_artifact(bundle: &Bundle, key: &VerificationKey, artifact: &mut dyn Read) -> Result<Verified> {
    let mut verified = verify_dsse(bundle, key)?;
    let (Some(payload_type), Some(payload)) = (&verified.payload_type, &verified.payload) else {
        return Err(Error::malformed("the DSSE envelope has no payload"));
    };
    verified.subject = Some(statement::match_subject(payload_type, payload, artifact)?);
    Ok(verified)
}

/// Verifies `bundle` whatever it holds: a message signature over `artifact`, or a DSSE
/// envelope (whose in-toto statement must name `artifact` as a subject, when one is given).
pub fn verify(bundle: &Bundle, key: &VerificationKey, artifact: Option<&mut dyn Read>) -> Result<Verified> {
    match (bundle.message_signature(), artifact) {
        (Some(_), Some(a)) => verify_message(bundle, key, a),
        (Some(_), None) => Err(Error::new(
            ErrorKind::WrongContent,
            "the bundle holds a message signature: give the artifact it signs to verify it",
        )),
        (None, Some(a)) => verify_dsse_artifact(bundle, key, a),
        (None, None) => verify_dsse(bundle, key),
    }
}

fn verify_over(key: &VerificationKey, signature: &[u8], data: &[u8], hash: HashFunc) -> Result<()> {
    let mut hasher = Hasher::new(hash).map_err(|e| Error::new(ErrorKind::Unsupported, e.to_string()))?;
    hasher.update(data);
    key.verify_digest(signature, &hasher.finish(), hash)
}

/// The bundle must name `key`: an empty hint names none (accepted); a certificate is keyless.
fn check_key_material(bundle: &Bundle, key: &VerificationKey) -> Result<()> {
    match &bundle.key_material {
        KeyMaterial::PublicKey { hint } if hint.is_empty() || *hint == key.hint() => Ok(()),
        KeyMaterial::PublicKey { hint } => Err(Error::new(
            ErrorKind::HintMismatch,
            format!(
                "the bundle's key hint {hint:?} is not the given key's hint {:?} (base64 SHA-256 of its \
                 SubjectPublicKeyInfo): the bundle names another key",
                key.hint()
            ),
        )),
        KeyMaterial::Certificate(_) | KeyMaterial::CertificateChain(_) => Err(Error::new(
            ErrorKind::Unsupported,
            "the bundle is signed with a certificate (keyless Sigstore), which is verified against a trust root \
             (Fulcio, Rekor): use sigstore-python, sigstore-js or cosign for it; this verifier checks bundles \
             signed by a known public key",
        )),
    }
}

/// Hashes what is read through it.
struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Option<Hasher>,
    error: Option<std::io::Error>,
}

impl<'a> HashingReader<'a> {
    fn new(inner: &'a mut dyn Read, hash: HashFunc) -> Result<Self> {
        let hasher = Hasher::new(hash).map_err(|e| Error::new(ErrorKind::Unsupported, e.to_string()))?;
        Ok(HashingReader { inner, hasher: Some(hasher), error: None })
    }

    /// Reads the rest.
    fn drain(&mut self) -> Result<()> {
        std::io::copy(self, &mut std::io::sink()).map(drop).map_err(|e| Error::io("reading the artifact failed", e))
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        if let Some(e) = self.error.take() {
            return Err(Error::io("reading the artifact failed", e));
        }
        self.drain()?;
        self.hasher.take().map(Hasher::finish).ok_or_else(|| Error::new(ErrorKind::Io, "the artifact was hashed twice"))
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                if let Some(h) = &mut self.hasher {
                    h.update(&buf[..n]);
                }
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let substitute = std::io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(substitute)
            }
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
