//! The [`KmsHandler`] trait: a key-management backend with the six methods of the protocol.
//!
//! Implement it once, then either serve it as a plugin program (see [`crate::plugin`]) or
//! use it in-process ([`crate::register_provider`], [`crate::PluginSignerVerifier::with_handler`]).
//! Both go through one dispatcher, so a handler behaves the same either way.

use std::fmt;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::SystemTime;

use crate::client::Call;
use crate::protocol::{HashFunc, MessageOptions, MethodResult};

/// What a handler knows about the call it is serving.
///
/// `Debug` hides the value of a `pin-value` attribute in the key reference (see
/// [`crate::redact_key_uri`]), so a handler may log its context.
#[derive(Clone, PartialEq, Eq)]
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

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("key_resource_id", &crate::uri::redact_key_uri(&self.key_resource_id))
            .field("hash_func", &self.hash_func)
            .field("key_version", &self.key_version)
            .field("remote_verification", &self.remote_verification)
            .field("deadline", &self.deadline)
            .finish()
    }
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

/// The error behind a [`HandlerError`](struct@HandlerError): anything a handler wants its caller to get back.
pub type HandlerSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error a handler reports. Its message travels to the host as `errorMessage`; its source
/// (if any) stays in this process: an in-process provider's caller gets it back as the
/// [`std::error::Error::source`] of the [`crate::Error::PluginReturned`] it sees (the Python
/// binding makes it the `__cause__`: a Python handler's own exception).
#[derive(Debug)]
pub struct HandlerError {
    message: String,
    source: Option<HandlerSource>,
}

impl HandlerError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError { message: message.into(), source: None }
    }

    /// An error with `message`, caused by `source`.
    pub fn with_source(message: impl Into<String>, source: impl Into<HandlerSource>) -> Self {
        HandlerError { message: message.into(), source: Some(source.into()) }
    }

    /// The message (what the host receives as `errorMessage`).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message and the source, taken apart.
    #[must_use]
    pub fn into_parts(self) -> (String, Option<HandlerSource>) {
        (self.message, self.source)
    }
}

/// Builds a [`HandlerError`](struct@HandlerError) from its message: the tuple-struct constructor of earlier versions
/// (`HandlerError(text)`, `.map_err(HandlerError)`), kept so that handlers written for them
/// still compile. Prefer [`HandlerError::new`] or `.into()`; read the text with
/// [`HandlerError::message`].
#[allow(non_snake_case)]
#[must_use]
pub fn HandlerError(message: String) -> HandlerError {
    HandlerError::new(message)
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for HandlerError {
    /// Errors are equal when their messages are (sources are not comparable).
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl From<String> for HandlerError {
    fn from(s: String) -> Self {
        HandlerError::new(s)
    }
}

impl From<&str> for HandlerError {
    fn from(s: &str) -> Self {
        HandlerError::new(s)
    }
}

impl From<std::io::Error> for HandlerError {
    fn from(e: std::io::Error) -> Self {
        HandlerError::with_source(e.to_string(), e)
    }
}

/// The six operations of a KMS key, as a plugin implements them.
///
/// Methods take `&self` and may be called from several threads at once when the handler is
/// used in-process.
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

/// Runs `call` on `handler`: the one place where a call becomes a handler method call, for the
/// plugin SDK and for in-process providers alike. A panic in the handler is caught and becomes
/// an error `"{who} panicked: {message}"`.
pub(crate) fn dispatch(
    handler: &dyn KmsHandler,
    ctx: &CallContext,
    call: &Call,
    message: &mut dyn Read,
    who: &str,
) -> Result<MethodResult, HandlerError> {
    let run = || -> Result<MethodResult, HandlerError> {
        Ok(match call {
            Call::DefaultAlgorithm => MethodResult::DefaultAlgorithm(handler.default_algorithm(ctx)?),
            Call::SupportedAlgorithms => MethodResult::SupportedAlgorithms(handler.supported_algorithms(ctx)?),
            Call::CreateKey { algorithm } => {
                MethodResult::CreateKey { public_key_pem: handler.create_key(ctx, algorithm)?.into_bytes() }
            }
            Call::PublicKey => MethodResult::PublicKey { public_key_pem: handler.public_key(ctx)?.into_bytes() },
            Call::SignMessage { options } => {
                MethodResult::SignMessage { signature: handler.sign_message(ctx, message, options)? }
            }
            Call::VerifySignature { signature, options } => {
                handler.verify_signature(ctx, signature, message, options)?;
                MethodResult::VerifySignature
            }
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            Err(HandlerError::new(format!("{who} panicked: {what}")))
        }
    }
}
