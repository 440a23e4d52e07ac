//! In-process providers implemented in JavaScript: `node/index.js` keeps them (prefix →
//! factory) and hands the handler a factory made to the core directly
//! ([`sigstore_kms_plugins::PluginSignerVerifier::with_handler`], see [`crate::signer`]); this
//! file checks their prefixes as the core checks a plugin name, and lists the providers the
//! core itself has (registered by Rust code in this process).

use napi::Env;
use napi_derive::napi;
use sigstore_kms_plugins::{validate_plugin_name, Error};

use crate::error;

/// Normalises a provider prefix (`mykms` or `mykms://`) to `mykms://`, checking the name as the
/// core checks plugin names (an `ERR_INVALID_KEY_URI` error otherwise).
#[napi]
pub fn normalize_provider_prefix(env: &Env, prefix: String) -> napi::Result<String> {
    let name = prefix.strip_suffix("://").unwrap_or(&prefix);
    validate_plugin_name(name)
        .map(|()| format!("{name}://"))
        .map_err(|reason| error::to_js(env, &Error::InvalidKeyUri { uri: prefix.clone(), reason }))
}

/// The providers registered with the core itself (by Rust code), in registration order.
#[napi]
#[must_use]
pub fn core_providers() -> Vec<String> {
    sigstore_kms_plugins::registered_providers()
}
