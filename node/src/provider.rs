//! In-process providers implemented in JavaScript: `node/index.js` keeps them (prefix →
//! factory) and hands the handler a factory made to the core directly
//! ([`sigstore_kms_plugins::PluginSignerVerifier::with_handler`], see [`crate::signer`]); this
//! file checks their prefixes as the core checks a plugin name, parses key URIs for their
//! lookup as the core parses them, and lists the providers the core itself has (registered by
//! Rust code in this process).

use napi::bindgen_prelude::Utf16String;
use napi::Env;
use napi_derive::napi;
use sigstore_kms_plugins::{validate_plugin_name, Error, KeyUri};

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

/// A key URI as the core parses it, for finding its provider.
#[napi(object)]
pub struct KeyUriParts {
    /// The plugin name (`pkcs11` for both `pkcs11://REF` and the RFC 7512 form `pkcs11:REF`).
    pub name: String,
    /// The key reference the provider's factory is given.
    pub key_ref: String,
}

/// `uri` parsed as the core parses it, or `null` if it is not a valid key URI (then
/// `getSignerVerifier` reports why): providers are found by this name, not by the URI's text.
#[napi]
#[must_use]
pub fn key_uri_parts(uri: Utf16String) -> Option<KeyUriParts> {
    let uri = String::from_utf16(&uri).ok()?;
    let parsed = KeyUri::parse(&uri).ok()?;
    Some(KeyUriParts { name: parsed.plugin_name().to_owned(), key_ref: parsed.key_ref().to_owned() })
}

/// `uri` (or a key reference) with the value of every `pin-value` attribute hidden, for showing
/// it (see `sigstore_kms_plugins::redact_key_uri`).
#[napi]
#[must_use]
pub fn redact_key_uri(uri: String) -> String {
    sigstore_kms_plugins::redact_key_uri(&uri).into_owned()
}
