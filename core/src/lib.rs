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
//! * **in-process providers** ([`register_provider`]), consulted before `PATH`.
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

mod client;
pub mod discovery;
mod error;
mod handler;
pub mod plugin;
pub mod process;
pub mod protocol;
mod provider;
mod public_key;
mod uri;

pub use client::{
    get_signer_verifier, Message, Options, PluginSignerVerifier, RunningCall, DEFAULT_STDOUT_LIMIT, DEFAULT_TIMEOUT,
};
pub use discovery::{discover, discover_in, find_program, find_program_in, PluginInfo, PluginSource};
pub use error::{escape_text, preview_bytes, CallSite, Error, ErrorKind, Result, StderrTail};
pub use handler::{CallContext, HandlerError, KmsHandler};
pub use plugin::{serve, serve_with};
pub use process::StderrMode;
pub use protocol::{HashFunc, MessageOptions, Method, UnknownHashFunc};
pub use provider::{register_provider, registered_providers, unregister_provider, ProviderFactory};
pub use public_key::{encode_pem, PublicKey};
pub use uri::{redact_key_uri, validate_plugin_name, KeyUri, PKCS11_SCHEME};

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
