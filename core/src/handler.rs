//! The [`KmsHandler`] trait: a key-management backend with the six methods of the protocol.
//!
//! Implement it once, then either serve it as a plugin program (see [`crate::plugin`]) or
//! register it in-process with [`crate::register_provider`].

use std::fmt;
use std::io::Read;
use std::time::SystemTime;

use crate::protocol::{HashFunc, MessageOptions};

/// What a handler knows about the call it is serving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallContext {
    /// The key reference: the part of the key URI after `://`.
    pub key_resource_id: String,
    /// The hash function the client was created with (`initOptions.hashFunc`).
    pub hash_func: HashFunc,
    /// The requested key version, `""` for the default.
    pub key_version: String,
    /// Whether the caller asked for verification by the KMS itself.
    pub remote_verification: bool,
    /// When the caller stops waiting, if it said.
    pub deadline: Option<SystemTime>,
}

impl CallContext {
    /// A context for `key_resource_id` with defaults elsewhere (SHA-256, no deadline).
    #[must_use]
    pub fn new(key_resource_id: impl Into<String>) -> Self {
        CallContext {
            key_resource_id: key_resource_id.into(),
            hash_func: HashFunc::Sha256,
            key_version: String::new(),
            remote_verification: false,
            deadline: None,
        }
    }
}

/// An error a handler reports; it travels to the host as `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError(pub String);

impl HandlerError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError(message.into())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandlerError {}

impl From<String> for HandlerError {
    fn from(s: String) -> Self {
        HandlerError(s)
    }
}

impl From<&str> for HandlerError {
    fn from(s: &str) -> Self {
        HandlerError(s.to_owned())
    }
}

impl From<std::io::Error> for HandlerError {
    fn from(e: std::io::Error) -> Self {
        HandlerError(e.to_string())
    }
}

/// The six operations of a KMS key, as a plugin implements them.
///
/// Methods take `&self` and may be called from several threads at once when the handler is
/// registered in-process.
pub trait KmsHandler: Send + Sync {
    /// The algorithm [`KmsHandler::create_key`] uses by default, e.g. `"ecdsa-p256"`.
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError>;

    /// The algorithms keys can be created with.
    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError>;

    /// Creates the key (or returns the existing one) and answers its public key as PEM.
    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError>;

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError>;

    /// Signs `message`, or `opts.digest()` when given (then `message` is usually empty).
    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError>;

    /// Verifies `signature` over `message` (or over `opts.digest()` when given).
    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError>;
}
