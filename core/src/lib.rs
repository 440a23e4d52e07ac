//! # sigstore-kms-plugins
//!
//! Both sides of Sigstore's KMS plugin protocol (v1), byte-compatible with the Go reference
//! (`github.com/sigstore/sigstore/pkg/signature/kms/cliplugin`).
//!
//! A key URI `NAME://REF` makes the host run the program `sigstore-kms-NAME` found on `PATH`
//! with `argv = [program, "v1", REQUEST-JSON]`, the message on stdin, and read one JSON
//! response from stdout. This crate gives you:
//!
//! * the **host** side: [`get_signer_verifier`] → [`PluginSignerVerifier`] with async methods
//!   and `_blocking` twins, timeouts that kill the plugin's process group, a cap on stdout,
//!   streaming of large messages, and errors that say which plugin, which method, and what;
//! * **discovery**: [`discover`] lists plugins like `kubectl plugin list`; plugin directories
//!   searched after `PATH` ([`Options::plugin_dirs`]) find plugins bundled with a package;
//! * the **wire format** in [`protocol`], shared with the plugin-author side;
//! * **in-process providers** ([`register_provider`]), consulted before `PATH`, or given
//!   directly ([`PluginSignerVerifier::with_handler`]);
//! * for **bindings and event loops**: typed calls ([`Call`], [`Reply`]), the one routing
//!   decision ([`PluginSignerVerifier::route`]: an event loop or a thread), the [`Reactor`]
//!   (many calls behind one descriptor), the option vocabulary ([`OPTIONS`], [`Options::set`]),
//!   and [`sys`], where every system call is.
//!
//! # Vocabulary
//!
//! One word per meaning, in the core and in both bindings:
//!
//! | word | means | type |
//! |---|---|---|
//! | call | one method invocation with its arguments | [`Call`] |
//! | reply | a call's successful, typed result | [`Reply`] |
//! | message | what `signMessage`/`verifySignature` send on stdin | [`Message`] |
//! | route | how a call runs: on an event loop or on a thread | [`Route`] |
//! | run | one plugin process, from spawn to reap | [`process::run`], [`process::RunResult`] |
//! | exchange | a run as a state machine that a driver feeds readiness | [`process::Exchange`] |
//! | reactor | many running calls behind one descriptor, for a host's loop | [`Reactor`] |
//! | completion | the callback a reactor calls with a call's result | [`reactor::Completion`] |
//! | dispatch | the reactor doing what is due (and the one handler dispatcher, on the plugin side) | [`Reactor::dispatch`] |
//! | settle | a binding setting a future or promise from a completion | (in the bindings) |
//! | handler | a KMS backend's six methods | [`KmsHandler`] |
//! | option | a setting of a signer-verifier, in every language's spelling | [`Options`], [`OPTIONS`] |
//!
//! ```no_run
//! use sigstore_kms_plugins::{get_signer_verifier, Options};
//!
//! # async fn demo() -> Result<(), sigstore_kms_plugins::Error> {
//! let sv = get_signer_verifier("mykms://my-key", Options::default())?;
//! let public_key = sv.public_key().await?;
//! let signature = sv.sign_message(b"hello".to_vec()).await?;
//! sv.verify_signature(&signature, b"hello".to_vec()).await?;
//! println!("{}", public_key.pem());
//! # Ok(()) }
//! ```

pub mod client;
pub mod discovery;
mod error;
mod handler;
pub mod plugin;
pub mod process;
pub mod protocol;
mod provider;
mod public_key;
pub mod reactor;
pub mod sys;
mod uri;

pub use client::{
    get_signer_verifier, option_spec, Call, Lang, LoopCall, Message, OptionKey, OptionProblem, OptionSpec, OptionValue,
    Options, PluginSignerVerifier, Reply, Route, RunningCall, Spelling, ThreadCall, DEFAULT_STDOUT_LIMIT,
    DEFAULT_TIMEOUT, MAX_SAFE_INTEGER, MAX_TIMEOUT, OPTIONS,
};
pub use discovery::{discover, discover_in, find_program, find_program_in, PluginInfo, PluginSource};
pub use error::{escape_text, preview_bytes, CallSite, Error, ErrorKind, Result, StderrTail};
pub use handler::{CallContext, HandlerError, HandlerSource, KmsHandler};
pub use plugin::{serve, serve_with};
pub use process::StderrMode;
pub use protocol::{HashFunc, MessageOptions, Method, UnknownHashFunc};
pub use provider::{register_provider, registered_providers, unregister_provider, ProviderFactory};
pub use public_key::{encode_pem, PublicKey};
pub use reactor::{CallId, Reactor};
pub use uri::{redact_key_uri, validate_plugin_name, KeyUri, PKCS11_SCHEME};

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
