//! In-process providers: key URI prefixes served by a [`KmsHandler`] in this process, consulted
//! before the search path (like Go's `kms.AddProvider`).

use std::sync::{Arc, RwLock};

use crate::handler::{HandlerError, KmsHandler};
use crate::uri::validate_plugin_name;

/// Makes the handler for one key reference (the part of the URI after the prefix).
pub type ProviderFactory = Arc<dyn Fn(&str) -> Result<Arc<dyn KmsHandler>, HandlerError> + Send + Sync>;

struct Registered {
    prefix: String,
    factory: ProviderFactory,
}

static PROVIDERS: RwLock<Vec<Registered>> = RwLock::new(Vec::new());

/// Normalises `mykms` or `mykms://` to `mykms://`, checking the name.
fn normalize_prefix(prefix: &str) -> Result<String, String> {
    let name = prefix.strip_suffix("://").unwrap_or(prefix);
    validate_plugin_name(name)?;
    Ok(format!("{name}://"))
}

/// Registers `factory` for the key URIs of the plugin name `prefix` (`"mykms"` or
/// `"mykms://"`): every URI that [`crate::KeyUri`] parses to that name, so a provider for
/// `pkcs11` also serves RFC 7512 URIs `pkcs11:...`. The factory is given the parsed key
/// reference.
///
/// A later registration of the same prefix replaces the earlier one. Providers are consulted
/// before `PATH`, so an in-process provider wins over a plugin program of the same name.
///
/// ```
/// use std::sync::Arc;
/// use sigstore_kms_plugins::{register_provider, registered_providers, unregister_provider};
/// # use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
/// # struct Mine;
/// # impl KmsHandler for Mine {
/// #   fn default_algorithm(&self, _: &CallContext) -> Result<String, HandlerError> { Ok("x".into()) }
/// #   fn supported_algorithms(&self, _: &CallContext) -> Result<Vec<String>, HandlerError> { Ok(vec![]) }
/// #   fn create_key(&self, _: &CallContext, _: &str) -> Result<String, HandlerError> { Err("no".into()) }
/// #   fn public_key(&self, _: &CallContext) -> Result<String, HandlerError> { Err("no".into()) }
/// #   fn sign_message(&self, _: &CallContext, _: &mut dyn std::io::Read, _: &MessageOptions) -> Result<Vec<u8>, HandlerError> { Err("no".into()) }
/// #   fn verify_signature(&self, _: &CallContext, _: &[u8], _: &mut dyn std::io::Read, _: &MessageOptions) -> Result<(), HandlerError> { Err("no".into()) }
/// # }
/// register_provider("doc-example", Arc::new(|_key_ref: &str| Ok(Arc::new(Mine) as _))).unwrap();
/// assert!(registered_providers().contains(&"doc-example://".to_owned()));
/// assert!(unregister_provider("doc-example"));
/// ```
pub fn register_provider(prefix: &str, factory: ProviderFactory) -> Result<(), crate::Error> {
    let prefix =
        normalize_prefix(prefix).map_err(|reason| crate::Error::InvalidKeyUri { uri: prefix.to_owned(), reason })?;
    let mut list = PROVIDERS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    list.retain(|r| r.prefix != prefix);
    list.push(Registered { prefix, factory });
    Ok(())
}

/// Removes the provider for `prefix`; returns whether there was one.
pub fn unregister_provider(prefix: &str) -> bool {
    let Ok(prefix) = normalize_prefix(prefix) else { return false };
    let mut list = PROVIDERS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = list.len();
    list.retain(|r| r.prefix != prefix);
    list.len() != before
}

/// The registered prefixes (like Go's `kms.SupportedProviders`), in registration order.
#[must_use]
pub fn registered_providers() -> Vec<String> {
    PROVIDERS.read().unwrap_or_else(std::sync::PoisonError::into_inner).iter().map(|r| r.prefix.clone()).collect()
}

/// The provider registered for the plugin name `name` (a parsed key URI's
/// [`crate::KeyUri::plugin_name`]), as its prefix and factory.
///
/// Matched by name, not by the URI's text, so that every form [`crate::KeyUri`] parses to that
/// name finds it: a provider registered as `pkcs11` serves the RFC 7512 form `pkcs11:...` as
/// well as `pkcs11://...`.
pub(crate) fn lookup(name: &str) -> Option<(String, ProviderFactory)> {
    let list = PROVIDERS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    list.iter().find(|r| r.prefix.strip_suffix("://") == Some(name)).map(|r| (r.prefix.clone(), Arc::clone(&r.factory)))
}
