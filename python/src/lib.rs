//! The native half of the Python package `sigstore-kms-plugins`: the module
//! `sigstore_kms_plugins._native`.
//!
//! Everything here is private to the package; the public, documented API is the Python code in
//! `python/sigstore_kms_plugins/`, which wraps these classes and functions. The split is:
//!
//! * [`signer`]: the host side ([`sigstore_kms_plugins::PluginSignerVerifier`]) with blocking
//!   methods that release the GIL and awaitable twins, driven by the running asyncio loop
//!   ([`event_loop`]) or resolved from a Tokio runtime ([`runtime`]);
//! * [`message`]: how a Python message (bytes, path, file object) becomes a streamed reader;
//! * [`handler`]: Python objects as [`sigstore_kms_plugins::KmsHandler`]s, for in-process
//!   providers and for plugins written in Python;
//! * [`codec`]: the plugin side (the Rust SDK's `serve_with` and the protocol codec);
//! * [`error`]: the one place where errors cross the language boundary;
//! * [`event_loop`]: awaitable plugin calls (message in memory, or none) driven by the running
//!   asyncio loop itself, through one epoll descriptor per loop (`loop.add_reader`): no thread;
//! * [`runtime`]: the Tokio runtime and the bridge from Rust futures to asyncio futures, for the
//!   other awaitable calls (messages read from files, in-process providers);
//! * [`plugin_dirs`]: where the bundled plugin programs are installed, searched after `PATH`;
//! * [`bundle`]: Sigstore bundles (the `sigstore-kms-bundle` crate) for
//!   `sigstore_kms_plugins.sigstore`;
//! * [`entry`]: the bundled `sigstore-kms` CLI and `sigstore-kms-localkms` plugin as functions
//!   for the package's console scripts.

use pyo3::prelude::*;

pub mod bundle;
pub mod codec;
pub mod entry;
pub mod error;
pub mod event_loop;
pub mod handler;
pub mod message;
pub mod options;
pub mod plugin_dirs;
pub mod runtime;
pub mod signer;

/// The module `sigstore_kms_plugins._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD_PROFILE", if cfg!(debug_assertions) { "debug" } else { "release" })?;
    signer::register(m)?;
    handler::register(m)?;
    codec::register(m)?;
    bundle::register(m)?;
    options::register(m)?;
    runtime::register(m)?;
    entry::register(m)?;
    plugin_dirs::register(m)?;
    Ok(())
}
