//! The native addon of the npm package `sigstore-kms-plugins` (napi-rs).
//!
//! The JavaScript API is in `node/index.js`, `node/plugin.js` and their `.d.ts` files; this
//! crate is what they call into. The generated `node/native.d.ts` types it. Every error
//! crosses into JavaScript through [`error`], the one place errors are converted.
//!
//! * [`signer`] has `getSignerVerifier` and the native signer-verifier (async methods; the
//!   JavaScript thread never waits for a plugin);
//! * [`event_loop`] drives plugin calls on Node's own event loop, through the libuv handles of
//!   [`uv`];
//! * [`stream`] has a bounded, backpressured queue feeding a `Readable` to a plugin's stdin;
//! * [`handler`] runs KMS handlers written in JavaScript (in-process providers and plugins
//!   served with the JavaScript SDK), called from Rust worker threads;
//! * [`plugin`] has the plugin side (`serve()` on the core's plugin SDK) and the wire codec;
//! * [`bundle`] has `verifyBundle`'s native half (the `sigstore-kms-bundle` crate);
//! * [`discovery`] has `listPlugins`;
//! * [`entry`] runs the `sigstore-kms` CLI and the bundled `sigstore-kms-localkms` plugin for
//!   the package's `bin` scripts.

// Two conventions of napi-rs that pedantic clippy flags everywhere in a binding:
// - `#[napi]` functions receive their arguments by value from the generated glue;
// - JavaScript values borrow their environment (`Object<'env>` from `&'env Env`), so helpers
//   take `&Env` like the generated code does, though `Env` is a small `Copy` handle.
#![allow(clippy::needless_pass_by_value, clippy::trivially_copy_pass_by_ref)]

pub mod bundle;
pub mod discovery;
pub mod entry;
pub mod error;
pub mod event_loop;
pub mod handler;
pub mod plugin;
pub mod signer;
pub mod stream;
pub mod uv;

use napi_derive::napi;

/// The version of this package and of the Rust core it was built from.
#[napi]
#[must_use]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Whether the addon was built without optimisations (benchmarks warn about it).
#[napi]
#[must_use]
pub fn native_debug_build() -> bool {
    cfg!(debug_assertions)
}
