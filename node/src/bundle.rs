//! `verifyBundle` (in `node/sigstore.js`): a Sigstore bundle checked against a public key by the
//! `sigstore-kms-bundle` crate, the same code as the CLI's `verify --bundle` and Python's
//! `verify_artifact`/`verify_dsse`. The work (reading and hashing the artifact) runs on libuv's
//! thread pool, never on the JavaScript thread.
//!
//! Failures are not thrown from here: the result says what failed (`reason`, `message`, and
//! the `errno` of an I/O error) and `node/sigstore.js` makes the `Error` with its stable `code`.

use std::fs::File;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;
use sigstore_kms_bundle::{verify, Bundle, VerificationKey, Verified};

/// What `verifyBundleNative` resolves.
#[napi(object)]
pub struct NativeBundleResult {
    /// Whether the bundle verified.
    pub ok: bool,
    /// Why not: `malformed`, `wrong_content`, `hint_mismatch`, `digest_mismatch`,
    /// `bad_signature`, `subject_mismatch`, `unsupported`, `invalid_key` or `io`.
    pub reason: Option<String>,
    /// The explanation.
    pub message: Option<String>,
    /// For `io`: the OS error number, when there is one.
    pub errno: Option<i32>,
    /// `messageSignature` or `dsseEnvelope`.
    pub content: Option<String>,
    /// Message signature: the digest algorithm (`SHA2_256`, ...) of the artifact.
    pub digest_algorithm: Option<String>,
    /// Message signature: the artifact's digest.
    pub digest: Option<Buffer>,
    /// DSSE: the payload type.
    pub payload_type: Option<String>,
    /// DSSE: the payload.
    pub payload: Option<Buffer>,
    /// DSSE checked against an artifact: the subject that matched.
    pub subject: Option<String>,
    /// Transparency-log entries in the bundle, not verified (no trust root).
    pub tlog_entries_not_verified: u32,
    /// RFC 3161 timestamps in the bundle, not verified (no trust root).
    pub timestamps_not_verified: u32,
}

/// The artifact to verify over.
pub enum Artifact {
    /// None (DSSE bundles).
    None,
    /// In memory (copied from the caller's buffer).
    Bytes(Vec<u8>),
    /// A file, opened and read on the thread pool.
    Path(String),
}

/// The verification, run on libuv's thread pool.
pub struct VerifyTask {
    bundle: Vec<u8>,
    key: Vec<u8>,
    artifact: Artifact,
}

/// What the thread pool hands back to the JavaScript thread.
pub enum Outcome {
    /// Verified: what, and the content kind.
    Verified(Verified, &'static str),
    /// Not verified, and why.
    Failed {
        /// The error kind's reason word.
        reason: &'static str,
        /// The explanation.
        message: String,
        /// The OS error number of an I/O error.
        errno: Option<i32>,
    },
}

impl Task for VerifyTask {
    type Output = Outcome;
    type JsValue = NativeBundleResult;

    fn compute(&mut self) -> napi::Result<Outcome> {
        let failed = |e: &sigstore_kms_bundle::Error| Outcome::Failed {
            reason: e.kind().reason(),
            message: e.to_string(),
            errno: e.io_error().and_then(std::io::Error::raw_os_error),
        };
        let bundle = match Bundle::from_json(&self.bundle) {
            Ok(b) => b,
            Err(e) => return Ok(failed(&e)),
        };
        let key = match VerificationKey::from_pem(&self.key) {
            Ok(k) => k,
            Err(e) => return Ok(failed(&e)),
        };
        let content = if bundle.message_signature().is_some() { "messageSignature" } else { "dsseEnvelope" };
        let result = match std::mem::replace(&mut self.artifact, Artifact::None) {
            Artifact::None => verify(&bundle, &key, None),
            Artifact::Bytes(b) => verify(&bundle, &key, Some(&mut b.as_slice())),
            Artifact::Path(p) => match File::open(&p) {
                Ok(mut f) => verify(&bundle, &key, Some(&mut f)),
                Err(e) => {
                    return Ok(Outcome::Failed {
                        reason: "io",
                        message: format!("cannot open {p}: {e}"),
                        errno: e.raw_os_error(),
                    })
                }
            },
        };
        Ok(match result {
            Ok(v) => Outcome::Verified(v, content),
            Err(e) => failed(&e),
        })
    }

    fn resolve(&mut self, _env: Env, output: Outcome) -> napi::Result<NativeBundleResult> {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(match output {
            Outcome::Verified(v, content) => NativeBundleResult {
                ok: true,
                reason: None,
                message: None,
                errno: None,
                content: Some(content.to_owned()),
                digest_algorithm: v.digest.as_ref().map(|d| d.algorithm.name().to_owned()),
                digest: v.digest.map(|d| d.digest.into()),
                payload_type: v.payload_type,
                payload: v.payload.map(Into::into),
                subject: v.subject,
                tlog_entries_not_verified: count(v.tlog_entries_not_verified),
                timestamps_not_verified: count(v.timestamps_not_verified),
            },
            Outcome::Failed { reason, message, errno } => NativeBundleResult {
                ok: false,
                reason: Some(reason.to_owned()),
                message: Some(message),
                errno,
                content: None,
                digest_algorithm: None,
                digest: None,
                payload_type: None,
                payload: None,
                subject: None,
                tlog_entries_not_verified: 0,
                timestamps_not_verified: 0,
            },
        })
    }
}

/// Verifies the bundle JSON `bundle` with the PEM public key `publicKey`, over the artifact
/// `data` (bytes) or the file `path` (or neither, for a DSSE bundle). Used by `verifyBundle`.
#[napi(ts_return_type = "Promise<NativeBundleResult>")]
#[must_use]
pub fn verify_bundle_native(
    bundle: Buffer,
    public_key: Buffer,
    data: Option<Buffer>,
    path: Option<String>,
) -> AsyncTask<VerifyTask> {
    let artifact = match (data, path) {
        (Some(d), _) => Artifact::Bytes(d.to_vec()),
        (None, Some(p)) => Artifact::Path(p),
        (None, None) => Artifact::None,
    };
    AsyncTask::new(VerifyTask { bundle: bundle.to_vec(), key: public_key.to_vec(), artifact })
}
