//! # sigstore-kms-provider-kit
//!
//! What every provider plugin of this repository (`sigstore-kms-awskms`, `-hashivault`,
//! `-pkcs11`, `-gcpkms`, `-azurekms`) and the bundled `sigstore-kms-localkms` share, so that
//! each provider crate holds only what is particular to its KMS:
//!
//! * [`hash`]: streaming SHA-2 hashing and the rule that picks a call's hash function;
//! * [`public_key`]: public keys (ECDSA P-256/P-384/P-521, RSA, Ed25519) parsed from PEM or
//!   DER, and local signature verification (`verifySignature` is local unless the host asks for
//!   remote verification, as in the Go providers);
//! * [`ecdsa`]: raw `r || s` and ASN.1 DER ECDSA signatures, each to the other;
//! * [`call`]: the host's deadline as a timeout, and the digest a KMS is asked to sign;
//! * `runtime` (feature `runtime`): a blocking bridge, with a timeout, for async KMS clients;
//! * [`secret`]: a wrapper that keeps tokens and PINs out of every message;
//! * [`error_text`]: an SDK error and its causes as one line.
//!
//! Errors are [`Error`]: one message, written to be shown to the user as the plugin's
//! `errorMessage` (what failed and what to check).

pub mod call;
pub mod ecdsa;
pub mod error_text;
pub mod hash;
pub mod public_key;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod secret;

pub use public_key::{HashChoice, Input, PublicKey, RsaPadding};
pub use secret::Secret;
use sigstore_kms_plugins::HandlerError;

/// An error of a provider: a message fit for the plugin's `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for HandlerError {
    fn from(e: Error) -> Self {
        HandlerError(e.0)
    }
}
