//! The one error type of this crate.

use std::fmt;

/// What went wrong, for matching: stable across releases (new kinds may be added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bundle is not a Sigstore bundle this crate can read: not JSON, a field of the wrong
    /// type, bad base64, an unknown media type, a required field missing, or a DSSE envelope
    /// without exactly one signature.
    Malformed,
    /// The bundle holds the other kind of content (a DSSE envelope where a message signature was
    /// expected, or the reverse).
    WrongContent,
    /// The bundle's key hint (or the DSSE signature's `keyid`) is not the hint of the given key:
    /// the bundle names another key.
    HintMismatch,
    /// The artifact's digest is not the bundle's `messageDigest`: it is not the signed artifact.
    DigestMismatch,
    /// The signature does not verify with the given key.
    BadSignature,
    /// The artifact matches no subject of the in-toto statement the DSSE envelope carries.
    SubjectMismatch,
    /// Something this crate does not verify: a certificate (keyless) bundle, a key or curve
    /// other than ECDSA P-256/P-384, RSA and Ed25519, or a digest algorithm other than SHA-2.
    Unsupported,
    /// The public key given to verify with is not a PEM SubjectPublicKeyInfo.
    InvalidKey,
    /// Reading the artifact (or writing a temporary copy of it) failed.
    Io,
    /// The plugin call failed: [`Error::plugin_error`] has the core's error.
    Plugin,
}

impl ErrorKind {
    /// The kind as a short snake_case word (`"digest_mismatch"`, ...): what the Python and
    /// JavaScript bindings expose as the error's `reason`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::WrongContent => "wrong_content",
            ErrorKind::HintMismatch => "hint_mismatch",
            ErrorKind::DigestMismatch => "digest_mismatch",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::SubjectMismatch => "subject_mismatch",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::Io => "io",
            ErrorKind::Plugin => "plugin",
        }
    }
}

/// An error: its [`ErrorKind`] and a message that says what was wrong and what to do.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
}

#[derive(Debug)]
enum Source {
    Io(std::io::Error),
    Plugin(sigstore_kms_plugins::Error),
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Malformed, format!("malformed bundle: {}", message.into()))
    }

    pub(crate) fn io(context: &str, err: std::io::Error) -> Self {
        Error { kind: ErrorKind::Io, message: format!("{context}: {err}"), source: Some(Source::Io(err)) }
    }

    /// The kind of error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The failed plugin call, for [`ErrorKind::Plugin`].
    #[must_use]
    pub fn plugin_error(&self) -> Option<&sigstore_kms_plugins::Error> {
        match &self.source {
            Some(Source::Plugin(e)) => Some(e),
            _ => None,
        }
    }

    /// The I/O error, for [`ErrorKind::Io`].
    #[must_use]
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match &self.source {
            Some(Source::Io(e)) => Some(e),
            _ => None,
        }
    }

    /// Turns the error back into the core's plugin error, when it is one.
    pub fn into_plugin_error(self) -> Result<sigstore_kms_plugins::Error, Error> {
        match self.source {
            Some(Source::Plugin(e)) => Ok(e),
            source => Err(Error { source, ..self }),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.source {
            Some(Source::Io(e)) => Some(e),
            Some(Source::Plugin(e)) => Some(e),
            None => None,
        }
    }
}

impl From<sigstore_kms_plugins::Error> for Error {
    fn from(e: sigstore_kms_plugins::Error) -> Self {
        Error { kind: ErrorKind::Plugin, message: e.to_string(), source: Some(Source::Plugin(e)) }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
