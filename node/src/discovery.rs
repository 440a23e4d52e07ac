//! `listPlugins`: every `sigstore-kms-*` program on the search path, like `kubectl plugin list`,
//! and the package's plugin directories (`setPluginDirs`), searched after `PATH`.

use std::path::PathBuf;
use std::sync::RwLock;

use napi_derive::napi;

/// The directories of the package's bundled plugin programs (the platform package's
/// `plugins/`), set once by `node/binding.js` when it loads the addon.
static PLUGIN_DIRS: RwLock<Vec<PathBuf>> = RwLock::new(Vec::new());

/// The plugin directories searched after `PATH` by every call, `listPlugins` and the CLI.
pub fn plugin_dirs() -> Vec<PathBuf> {
    PLUGIN_DIRS.read().map(|d| d.clone()).unwrap_or_default()
}

/// Sets the directories searched after `PATH` (absolute paths; relative ones are refused by
/// the lookup). Called by `node/binding.js` with the platform package's `plugins/` directory.
#[napi]
#[allow(clippy::needless_pass_by_value)] // napi passes owned values
pub fn set_plugin_dirs(dirs: Vec<String>) {
    if let Ok(mut d) = PLUGIN_DIRS.write() {
        *d = dirs.into_iter().map(PathBuf::from).collect();
    }
}

/// The directories searched after `PATH` (what `setPluginDirs` set).
#[napi(js_name = "pluginDirs")]
#[must_use]
pub fn get_plugin_dirs() -> Vec<String> {
    plugin_dirs().into_iter().map(|d| d.to_string_lossy().into_owned()).collect()
}

/// A plugin program found on the search path or in a plugin directory.
#[napi(object)]
#[allow(clippy::struct_excessive_bools)] // the core's `PluginInfo` flags, plus `usable`
pub struct PluginInfo {
    /// The plugin name: what goes before `://` in a key URI.
    pub name: String,
    /// Where it was found.
    pub path: String,
    /// `'path'` (found on the search path) or `'bundled'` (in the package's plugin directory).
    #[napi(ts_type = "'path' | 'bundled'")]
    pub source: String,
    /// Whether this process may execute it.
    pub executable: bool,
    /// Whether an earlier executable of the same name wins over this one.
    pub shadowed: bool,
    /// For a shadowed plugin, the program that wins over it.
    pub shadowed_by: Option<String>,
    /// Found through a relative PATH entry, so it would be refused.
    pub relative_dir: bool,
    /// Whether a key URI `name://...` would run exactly this file.
    pub usable: bool,
}

/// Lists the `sigstore-kms-*` files on `path` (`:`-separated; default `$PATH`), in PATH order,
/// then those in the package's plugin directories.
#[napi]
#[must_use]
pub fn list_plugins(path: Option<String>) -> Vec<PluginInfo> {
    sigstore_kms_plugins::discover_in(path.as_deref().map(std::ffi::OsStr::new), &plugin_dirs())
        .into_iter()
        .map(|p| PluginInfo {
            usable: p.is_usable(),
            name: p.name,
            path: p.path.to_string_lossy().into_owned(),
            source: p.source.as_str().to_owned(),
            executable: p.executable,
            shadowed: p.shadowed,
            shadowed_by: p.shadowed_by.map(|w| w.to_string_lossy().into_owned()),
            relative_dir: p.relative_dir,
        })
        .collect()
}
