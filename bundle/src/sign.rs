//! Making bundles: the pieces (PAE, assembling a bundle from a signature) and [`BundleSigner`],
//! which signs through a plugin.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::OnceLock;

use sigstore_kms_plugins::{HashFunc, PluginSignerVerifier};
use sigstore_kms_provider_kit::hash::Hasher;

use crate::error::{Error, ErrorKind, Result};
use crate::key::VerificationKey;
use crate::model::{
    Bundle, Content, DsseEnvelope, DsseSignature, HashOutput, KeyMaterial, MessageSignature, MEDIA_TYPE,
};

/// DSSE's pre-authentication encoding: what a DSSE signature is over.
///
/// `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, lengths in ASCII decimal.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A message-signature bundle for `key` (no check is made here).
#[must_use]
pub fn message_bundle(key: &VerificationKey, digest: HashOutput, signature: Vec<u8>) -> Bundle {
    Bundle {
        media_type: MEDIA_TYPE.to_owned(),
        key_material: KeyMaterial::PublicKey { hint: key.hint() },
        tlog_entries: Vec::new(),
        rfc3161_timestamps: Vec::new(),
        content: Content::MessageSignature(MessageSignature { message_digest: Some(digest), signature }),
    }
}

/// A DSSE bundle for `key` (no check is made here).
///
/// The signature carries no `keyid`, as cosign writes it: sigstore-go (and so cosign) skips a
/// DSSE signature whose `keyid` is not the key's SSH-style fingerprint, so the key hint there
/// (which the spec asks for, and sigstore-js writes) makes cosign refuse the bundle.
#[must_use]
pub fn dsse_bundle(key: &VerificationKey, payload_type: &str, payload: Vec<u8>, signature: Vec<u8>) -> Bundle {
    Bundle {
        media_type: MEDIA_TYPE.to_owned(),
        key_material: KeyMaterial::PublicKey { hint: key.hint() },
        tlog_entries: Vec::new(),
        rfc3161_timestamps: Vec::new(),
        content: Content::DsseEnvelope(DsseEnvelope {
            payload,
            payload_type: payload_type.to_owned(),
            signatures: vec![DsseSignature { sig: signature, keyid: String::new() }],
        }),
    }
}

/// The artifact a message signature is made over.
pub enum Artifact<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// A file, opened (and, for Ed25519 keys, read twice) here.
    Path(&'a Path),
    /// Any reader (spooled to an unnamed temporary file for Ed25519 keys, which need the
    /// artifact twice: to sign it and to check the signature).
    Reader(&'a mut (dyn Read + Send)),
}

impl std::fmt::Debug for Artifact<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Artifact::Bytes(b) => write!(f, "Artifact::Bytes({} bytes)", b.len()),
            Artifact::Path(p) => write!(f, "Artifact::Path({})", p.display()),
            Artifact::Reader(_) => f.write_str("Artifact::Reader(..)"),
        }
    }
}

/// Signs bundles with a key held by a KMS, through its plugin.
///
/// The public key is fetched once (on first use) and reused, so that every bundle after the
/// first costs one plugin call. ECDSA and RSA keys sign the artifact's digest, computed here
/// with the key's hash (SHA-256 for P-256 and RSA, SHA-384 for P-384) and sent as Go's
/// `CryptoSigner` sends it; Ed25519 keys sign the artifact itself, streamed to the plugin. Every
/// signature is checked against the public key before the bundle is returned.
///
/// ```no_run
/// use sigstore_kms_bundle::{verify_message, Artifact, BundleSigner};
/// use sigstore_kms_plugins::{get_signer_verifier, Options};
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let signer = BundleSigner::new(get_signer_verifier("localkms:///keys/release.pem", Options::default())?);
/// let bundle = signer.sign_artifact_blocking(Artifact::Path("app.tar.gz".as_ref()))?;
/// std::fs::write("app.tar.gz.sigstore.json", bundle.to_json())?;
/// verify_message(&bundle, signer.key_blocking()?, &mut std::fs::File::open("app.tar.gz")?)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BundleSigner {
    sv: PluginSignerVerifier,
    key: OnceLock<VerificationKey>,
}

impl BundleSigner {
    /// A signer for the key `sv` reaches.
    #[must_use]
    pub fn new(sv: PluginSignerVerifier) -> Self {
        BundleSigner { sv, key: OnceLock::new() }
    }

    /// The plugin's signer-verifier.
    #[must_use]
    pub fn signer_verifier(&self) -> &PluginSignerVerifier {
        &self.sv
    }

    /// The key's public key, fetched from the plugin on first use (a failure is not kept: the
    /// next call asks again).
    pub fn key_blocking(&self) -> Result<&VerificationKey> {
        if let Some(k) = self.key.get() {
            return Ok(k);
        }
        let pem = self.sv.public_key_blocking()?;
        let key = VerificationKey::from_spki_der(pem.spki_der())?;
        Ok(self.key.get_or_init(|| key))
    }

    /// A message-signature bundle over `artifact`.
    pub fn sign_artifact_blocking(&self, artifact: Artifact<'_>) -> Result<Bundle> {
        let key = self.key_blocking()?;
        let algorithm = key.digest_algorithm();
        let Some(hash) = key.signing_hash() else {
            return self.sign_ed25519(key, artifact);
        };
        let digest = match artifact {
            Artifact::Bytes(b) => digest_of(hash, &mut &b[..])?,
            Artifact::Path(p) => digest_of(hash, &mut open(p)?)?,
            Artifact::Reader(r) => digest_of(hash, r)?,
        };
        let signature = self.sv.sign_digest_blocking(&digest, hash)?;
        key.verify_digest(&signature, &digest, hash).map_err(|e| self.not_verified(&e))?;
        Ok(message_bundle(key, HashOutput { algorithm, digest }, signature))
    }

    /// A DSSE bundle of `payload` (of type `payload_type`, e.g.
    /// [`crate::IN_TOTO_PAYLOAD_TYPE`]), signed over its pre-authentication encoding.
    pub fn sign_dsse_blocking(&self, payload_type: &str, payload: &[u8]) -> Result<Bundle> {
        let key = self.key_blocking()?;
        let signed = pae(payload_type, payload);
        let signature = if let Some(hash) = key.signing_hash() {
            let digest = digest_of(hash, &mut signed.as_slice())?;
            let signature = self.sv.sign_digest_blocking(&digest, hash)?;
            key.verify_digest(&signature, &digest, hash).map_err(|e| self.not_verified(&e))?;
            signature
        } else {
            let signature = self.sv.sign_message_blocking(signed.as_slice())?;
            key.verify_data(&signature, &mut signed.as_slice(), HashFunc::Sha512).map_err(|e| self.not_verified(&e))?;
            signature
        };
        Ok(dsse_bundle(key, payload_type, payload.to_vec(), signature))
    }

    fn sign_ed25519(&self, key: &VerificationKey, artifact: Artifact<'_>) -> Result<Bundle> {
        let algorithm = key.digest_algorithm();
        let hash = algorithm.hash_func().unwrap_or(HashFunc::Sha512);
        let (signature, digest) = match artifact {
            Artifact::Bytes(b) => {
                let signature = self.sv.sign_message_blocking(b)?;
                (signature.clone(), self.check_and_digest(key, &signature, &mut &b[..], hash)?)
            }
            Artifact::Path(p) => {
                let signature = self.sv.sign_message_blocking(open(p)?)?;
                (signature.clone(), self.check_and_digest(key, &signature, &mut open(p)?, hash)?)
            }
            Artifact::Reader(r) => {
                let mut spool = tempfile::tempfile().map_err(|e| Error::io("cannot create a temporary file", e))?;
                io::copy(r, &mut spool).map_err(|e| Error::io("reading the artifact failed", e))?;
                rewind(&mut spool)?;
                let signature = self.sv.sign_message_blocking(&mut spool)?;
                rewind(&mut spool)?;
                (signature.clone(), self.check_and_digest(key, &signature, &mut spool, hash)?)
            }
        };
        Ok(message_bundle(key, HashOutput { algorithm, digest }, signature))
    }

    /// Checks an Ed25519 signature over what `reader` yields, and hashes it (one pass).
    fn check_and_digest(
        &self,
        key: &VerificationKey,
        signature: &[u8],
        reader: &mut dyn Read,
        hash: HashFunc,
    ) -> Result<Vec<u8>> {
        key.verify_data_digest(signature, reader, hash).map_err(|e| self.not_verified(&e))
    }

    /// A signature from the plugin that does not verify against the plugin's own public key.
    fn not_verified(&self, err: &Error) -> Error {
        if err.kind() != ErrorKind::BadSignature {
            return Error::new(err.kind(), err.to_string());
        }
        let plugin =
            self.sv.program_path().map_or_else(|| "the in-process provider".to_owned(), |p| p.display().to_string());
        Error::new(
            ErrorKind::BadSignature,
            format!(
                "the signature made through {plugin} (key {:?}) does not verify against the key's public key, so no \
                 bundle was made: {err}",
                self.sv.key_ref()
            ),
        )
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(&format!("cannot open {}", path.display()), e))
}

fn rewind(file: &mut File) -> Result<()> {
    file.seek(SeekFrom::Start(0)).map(drop).map_err(|e| Error::io("cannot rewind the temporary file", e))
}

/// The `hash` digest of what `reader` yields, read in 64 KiB chunks (memory stays flat).
pub fn digest_of(hash: HashFunc, reader: &mut dyn Read) -> Result<Vec<u8>> {
    let mut hasher = Hasher::new(hash).map_err(|e| Error::new(ErrorKind::Unsupported, e.to_string()))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading the artifact failed", e)),
        }
    }
}
