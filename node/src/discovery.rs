//! `listPlugins`: every `sigstore-kms-*` program on the search path, like `kubectl plugin list`.

use napi_derive::napi;

/// A plugin program found on the search path.
#[napi(object)]
#[allow(clippy::struct_excessive_bools)] // the core's `PluginInfo` flags, plus `usable`
pub struct PluginInfo {
    /// The plugin name: what goes before `://` in a key URI.
    pub name: String,
    /// Where it was found.
    pub path: String,
    /// Whether this process may execute it.
    pub executable: bool,
    /// Whether an earlier executable of the same name wins over this one.
    pub shadowed: bool,
    /// Found through a relative PATH entry, so it would be refused.
    pub relative_dir: bool,
    /// Whether a key URI `name://...` would run exactly this file.
    pub usable: bool,
}

/// Lists the `sigstore-kms-*` files on `path` (`:`-separated; default `$PATH`), in PATH order.
#[napi]
#[must_use]
pub fn list_plugins(path: Option<String>) -> Vec<PluginInfo> {
    sigstore_kms_plugins::discover(path.as_deref().map(std::ffi::OsStr::new))
        .into_iter()
        .map(|p| PluginInfo {
            usable: p.is_usable(),
            name: p.name,
            path: p.path.to_string_lossy().into_owned(),
            executable: p.executable,
            shadowed: p.shadowed,
            relative_dir: p.relative_dir,
        })
        .collect()
}
