//! [`Call`] and [`Reply`]: one call of the protocol with its arguments, and its result, typed.
//!
//! A host builds a `Call`, and gets a `Reply` back whichever way the call runs ([`crate::Route`]);
//! a plugin's request decodes to the same `Call`, which the one handler dispatcher serves.

use std::time::SystemTime;

use super::Options;
use crate::error::{CallSite, Error, Result, StderrTail};
use crate::protocol::{
    CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, InitOptions, MessageOptions, Method, MethodArgs, MethodResult,
    PluginArgs, PublicKeyArgs, PublicKeyOptions, RpcOptions, SignMessageArgs, SignOptions, SupportedAlgorithmsArgs,
    VerifySignatureArgs,
};
use crate::public_key::PublicKey;

/// One call of the protocol, with its arguments (the message itself, for `signMessage` and
/// `verifySignature`, goes separately: see [`crate::Message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// `defaultAlgorithm`.
    DefaultAlgorithm,
    /// `supportedAlgorithms`.
    SupportedAlgorithms,
    /// `createKey`.
    CreateKey {
        /// The algorithm of the key to create.
        algorithm: String,
    },
    /// `publicKey`.
    PublicKey,
    /// `signMessage`: of the message, or of `options.digest` when given.
    SignMessage {
        /// The digest and its hash function, if signing a precomputed digest.
        options: MessageOptions,
    },
    /// `verifySignature`: over the message, or over `options.digest` when given.
    VerifySignature {
        /// The signature to verify.
        signature: Vec<u8>,
        /// The digest and its hash function, if verifying over a precomputed digest.
        options: MessageOptions,
    },
}

impl Call {
    /// `createKey` with `algorithm`.
    pub fn create_key(algorithm: impl Into<String>) -> Call {
        Call::CreateKey { algorithm: algorithm.into() }
    }

    /// `signMessage` of the message.
    #[must_use]
    pub fn sign_message() -> Call {
        Call::SignMessage { options: MessageOptions::default() }
    }

    /// `signMessage` of a precomputed `digest` made with `hash` (Go's `CryptoSigner` path).
    pub fn sign_digest(digest: impl Into<Vec<u8>>, hash: HashFunc) -> Call {
        Call::SignMessage { options: MessageOptions { digest: Some(Some(digest.into())), hash_func: Some(hash) } }
    }

    /// `verifySignature` of `signature` over the message.
    pub fn verify_signature(signature: impl Into<Vec<u8>>) -> Call {
        Call::VerifySignature { signature: signature.into(), options: MessageOptions::default() }
    }

    /// `verifySignature` of `signature` over a precomputed `digest` made with `hash`.
    pub fn verify_digest(signature: impl Into<Vec<u8>>, digest: impl Into<Vec<u8>>, hash: HashFunc) -> Call {
        Call::VerifySignature {
            signature: signature.into(),
            options: MessageOptions { digest: Some(Some(digest.into())), hash_func: Some(hash) },
        }
    }

    /// The method called.
    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Call::DefaultAlgorithm => Method::DefaultAlgorithm,
            Call::SupportedAlgorithms => Method::SupportedAlgorithms,
            Call::CreateKey { .. } => Method::CreateKey,
            Call::PublicKey => Method::PublicKey,
            Call::SignMessage { .. } => Method::SignMessage,
            Call::VerifySignature { .. } => Method::VerifySignature,
        }
    }

    /// Checks the arguments as the Python and Node APIs do before they run a call: a digest
    /// must have its hash function's length (a digest made with another hash would be signed as
    /// if it were this one's). The Rust API, like Go's, sends what it is given (a conformance
    /// check must be able to send a malformed digest); call this to refuse one early.
    pub fn check(&self) -> Result<()> {
        let (Call::SignMessage { options } | Call::VerifySignature { options, .. }) = self else { return Ok(()) };
        let (Some(digest), Some(hash)) = (options.digest(), options.hash_func) else { return Ok(()) };
        match hash.digest_len() {
            Some(want) if want != digest.len() => Err(Error::InvalidOption {
                option: "digest".into(),
                reason: format!(
                    "is not a {0} digest: a {0} digest is {want} bytes, got {1} bytes; give the hash function the \
                     digest was made with",
                    hash.go_name(),
                    digest.len()
                ),
                problem: crate::client::OptionProblem::BadValue,
            }),
            _ => Ok(()),
        }
    }

    /// The request JSON for this call with `options` and `deadline`, exactly as the Go client
    /// would write it.
    pub(crate) fn request(&self, key_ref: &str, o: &Options, deadline: Option<SystemTime>) -> PluginArgs {
        let rpc = || RpcOptions::packed(deadline, o.key_version.as_deref(), o.remote_verification);
        let mut init = InitOptions::new(
            key_ref,
            o.hash_func,
            RpcOptions::packed(None, o.key_version.as_deref(), o.remote_verification),
        );
        init.ctx_deadline = deadline;
        // The Go client always writes the digest (`null` when there is none).
        let message = |m: &MessageOptions| MessageOptions {
            digest: Some(m.digest().map(<[u8]>::to_vec)),
            hash_func: m.hash_func,
        };
        let args = match self {
            Call::DefaultAlgorithm => MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
            Call::SupportedAlgorithms => MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs {}),
            Call::CreateKey { algorithm } => {
                MethodArgs::CreateKey(CreateKeyArgs { ctx_deadline: deadline, algorithm: algorithm.clone() })
            }
            Call::PublicKey => MethodArgs::PublicKey(PublicKeyArgs {
                public_key_options: Some(PublicKeyOptions { rpc_options: rpc() }),
            }),
            Call::SignMessage { options } => MethodArgs::SignMessage(SignMessageArgs {
                sign_options: Some(SignOptions { rpc_options: rpc(), message_options: message(options) }),
            }),
            Call::VerifySignature { signature, options } => MethodArgs::VerifySignature(VerifySignatureArgs {
                signature: Some(signature.clone()),
                verify_options: Some(SignOptions { rpc_options: rpc(), message_options: message(options) }),
            }),
        };
        PluginArgs::new(init, args)
    }
}

/// The result of a successful call, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// The algorithm `createKey` uses by default.
    DefaultAlgorithm(String),
    /// The algorithms keys can be created with.
    SupportedAlgorithms(Vec<String>),
    /// The created (or existing) key's public key.
    CreateKey(PublicKey),
    /// The public key.
    PublicKey(PublicKey),
    /// The signature.
    SignMessage(Vec<u8>),
    /// The signature is valid.
    VerifySignature,
}

impl Reply {
    /// The method this replies to.
    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Reply::DefaultAlgorithm(_) => Method::DefaultAlgorithm,
            Reply::SupportedAlgorithms(_) => Method::SupportedAlgorithms,
            Reply::CreateKey(_) => Method::CreateKey,
            Reply::PublicKey(_) => Method::PublicKey,
            Reply::SignMessage(_) => Method::SignMessage,
            Reply::VerifySignature => Method::VerifySignature,
        }
    }

    /// The reply for a decoded `result` of a call made at `site`: the PEM of a key is parsed
    /// (a key the host cannot read is an invalid response).
    pub(crate) fn from_result(site: &CallSite, result: MethodResult) -> Result<Reply> {
        Ok(match result {
            MethodResult::DefaultAlgorithm(a) => Reply::DefaultAlgorithm(a),
            MethodResult::SupportedAlgorithms(a) => Reply::SupportedAlgorithms(a),
            MethodResult::CreateKey { public_key_pem } => Reply::CreateKey(parse_key(site, &public_key_pem)?),
            MethodResult::PublicKey { public_key_pem } => Reply::PublicKey(parse_key(site, &public_key_pem)?),
            MethodResult::SignMessage { signature } => Reply::SignMessage(signature),
            MethodResult::VerifySignature => Reply::VerifySignature,
        })
    }

    /// `defaultAlgorithm`'s algorithm.
    pub(crate) fn into_default_algorithm(self) -> Result<String> {
        match self {
            Reply::DefaultAlgorithm(a) => Ok(a),
            other => Err(mismatch(&other)),
        }
    }

    /// `supportedAlgorithms`' algorithms.
    pub(crate) fn into_supported_algorithms(self) -> Result<Vec<String>> {
        match self {
            Reply::SupportedAlgorithms(a) => Ok(a),
            other => Err(mismatch(&other)),
        }
    }

    /// The public key of `createKey` or `publicKey`.
    pub(crate) fn into_public_key(self) -> Result<PublicKey> {
        match self {
            Reply::CreateKey(k) | Reply::PublicKey(k) => Ok(k),
            other => Err(mismatch(&other)),
        }
    }

    /// `signMessage`'s signature.
    pub(crate) fn into_signature(self) -> Result<Vec<u8>> {
        match self {
            Reply::SignMessage(s) => Ok(s),
            other => Err(mismatch(&other)),
        }
    }

    /// `verifySignature`'s success.
    pub(crate) fn into_verified(self) -> Result<()> {
        match self {
            Reply::VerifySignature => Ok(()),
            other => Err(mismatch(&other)),
        }
    }
}

fn parse_key(site: &CallSite, pem: &[u8]) -> Result<PublicKey> {
    PublicKey::from_pem(pem).map_err(|reason| {
        Error::invalid_response(site.clone(), format!("publicKeyPEM: {reason}"), pem, StderrTail::default())
    })
}

/// A reply of another method than the call's: never happens (the response is decoded for the
/// call's method), but is an error rather than a panic.
fn mismatch(got: &Reply) -> Error {
    Error::invalid_response(
        CallSite { plugin: String::new(), path: None, method: got.method() },
        format!("internal: got a {} reply", got.method()),
        b"",
        StderrTail::default(),
    )
}
