//! The native half of the Python package `sigstore-kms-plugins`: the module
//! `sigstore_kms_plugins._native`.
//!
//! Everything here is private to the package; the public, documented API is the Python code in
//! `python/sigstore_kms_plugins/`, which wraps these classes and functions. The Rust core does
//! the work (routing, the reactor, options, the wire format); each file here only converts
//! between Python and the core, and the Node binding (`node/src`) has a file of the same name for
//! the same job:
//!
//! * [`signer`]: the host side ([`sigstore_kms_plugins::PluginSignerVerifier`]): typed calls from
//!   Python arguments, replies as Python values; blocking methods release the GIL;
//! * [`reactor`]: awaitable calls: the core's reactor on the running asyncio loop (one
//!   descriptor per loop, `loop.add_reader`), completions set the futures;
//! * [`options`]: Python values as the core's option vocabulary (every check is the core's);
//! * [`message`]: a Python message (bytes, path, file object) as the core's message;
//! * [`handler`]: Python objects as [`sigstore_kms_plugins::KmsHandler`]s;
//! * [`provider`]: in-process providers served by such handlers;
//! * [`plugin`]: the plugin side (the Rust SDK with a Python handler) and the wire codec;
//! * [`discovery`]: `list_plugins` and the plugin directories searched after `PATH`; [`keys`]:
//!   public key DER;
//! * [`error`]: the one place where errors cross the language boundary;
//! * [`bundle`]: Sigstore bundles (the `sigstore-kms-bundle` crate) for
//!   `sigstore_kms_plugins.sigstore` (Python-only);
//! * [`entry`]: the bundled `sigstore-kms` CLI and `sigstore-kms-localkms` plugin as functions
//!   for the package's console scripts.

use pyo3::prelude::*;

pub mod bundle;
pub mod discovery;
pub mod entry;
pub mod error;
pub mod handler;
pub mod keys;
pub mod message;
pub mod options;
pub mod plugin;
pub mod provider;
pub mod reactor;
pub mod signer;

/// The module `sigstore_kms_plugins._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD_PROFILE", if cfg!(debug_assertions) { "debug" } else { "release" })?;
    signer::register(m)?;
    discovery::register(m)?;
    keys::register(m)?;
    handler::register(m)?;
    provider::register(m)?;
    plugin::register(m)?;
    bundle::register(m)?;
    options::register(m)?;
    entry::register(m)?;
    Ok(())
}
