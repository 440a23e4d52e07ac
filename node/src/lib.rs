//! The native addon of the npm package `sigstore-kms-plugins` (napi-rs).
//!
//! The JavaScript API is in `node/index.js`, `node/plugin.js` and their `.d.ts` files; this
//! crate is what they call into. The generated `node/native.d.ts` types it. The Rust core does
//! the work (routing, the reactor, options, the wire format); each file here only converts
//! between JavaScript and the core, and the Python binding (`python/src`) has a file of the same
//! name for the same job:
//!
//! * [`signer`]: `getSignerVerifier` and the native signer-verifier: typed calls from
//!   JavaScript arguments, replies as JavaScript values, every call a Promise;
//! * [`reactor`]: the core's reactor on Node's event loop (one libuv poll per environment),
//!   completions settle the promises, teardown ends every call; with [`uv`], the addon's
//!   `unsafe` layer;
//! * [`options`]: JavaScript values as the core's option vocabulary (every check is the core's);
//! * [`message`]: bytes, files and streams (a bounded, backpressured queue feeding a `Readable`
//!   to a plugin's stdin) as the core's message;
//! * [`handler`]: KMS handlers written in JavaScript, called from the core's worker threads;
//! * [`provider`]: in-process providers' prefixes;
//! * [`plugin`]: the plugin side (`serve()` on the core's plugin SDK) and the wire codec;
//! * [`bundle`]: `verifyBundle`'s native half (the `sigstore-kms-bundle` crate; Node-only);
//! * [`discovery`]: the plugins on the search path (`listPlugins`);
//! * [`error`]: the one place errors become JavaScript values;
//! * [`entry`]: the `sigstore-kms` CLI and the bundled `sigstore-kms-localkms` plugin for the
//!   package's `bin` scripts.

// Two conventions of napi-rs that pedantic clippy flags everywhere in a binding:
// - `#[napi]` functions receive their arguments by value from the generated glue;
// - JavaScript values borrow their environment (`Object<'env>` from `&'env Env`), so helpers
//   take `&Env` like the generated code does, though `Env` is a small `Copy` handle.
#![allow(clippy::needless_pass_by_value, clippy::trivially_copy_pass_by_ref)]

pub mod bundle;
pub mod discovery;
pub mod entry;
pub mod error;
pub mod handler;
pub mod message;
pub mod options;
pub mod plugin;
pub mod provider;
pub mod reactor;
pub mod signer;
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
