//! `list_plugins`: every `sigstore-kms-*` program on the search path, like `kubectl plugin list`,
//! and the package's plugin directories (`plugin_dirs`), searched after `PATH`.
//!
//! The plugin directories are where pip put the bundled programs (`sigstore-kms-localkms`,
//! `sigstore-kms-pkcs11`) and the provider wheels' programs.
//! `sigstore_kms_plugins._bundled._compute_plugin_dirs()` works them out (it knows the install
//! schemes); this module asks it once, on first use, and keeps the answer.

use std::path::PathBuf;

use pyo3::exceptions::PyRuntimeWarning;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use sigstore_kms_plugins::{self as core, Options};

static PLUGIN_DIRS: PyOnceLock<Vec<PathBuf>> = PyOnceLock::new();

/// The plugin directories searched after `PATH` by every call, `list_plugins` and the CLI
/// (absolute). If they cannot be worked out, a `RuntimeWarning` says why and only `PATH` is
/// searched: a broken install must not break hosts that use `PATH`.
pub fn plugin_dirs(py: Python<'_>) -> Vec<PathBuf> {
    PLUGIN_DIRS
        .get_or_init(py, || match compute_plugin_dirs(py) {
            Ok(dirs) => dirs,
            Err(e) => {
                let message = format!(
                    "sigstore-kms-plugins: cannot find the bundled plugin directory ({e}); only PATH is searched"
                );
                if let Ok(text) = std::ffi::CString::new(message) {
                    let _ = PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &text, 1);
                }
                Vec::new()
            }
        })
        .clone()
}

fn compute_plugin_dirs(py: Python<'_>) -> PyResult<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> =
        py.import("sigstore_kms_plugins._bundled")?.getattr("_compute_plugin_dirs")?.call0()?.extract()?;
    Ok(dirs.into_iter().filter(|d| d.is_absolute()).collect())
}

/// `plugin_dirs() -> list[str]`: the directories searched after `PATH`.
#[pyfunction(name = "plugin_dirs")]
fn py_plugin_dirs(py: Python<'_>) -> Vec<PathBuf> {
    plugin_dirs(py)
}

/// A search path given as `path=` is (a PATH-style str, a path-like, a list of directories),
/// checked as the option of that name.
fn search_path(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<std::ffi::OsString> {
    let mut options = Options::default();
    crate::options::set(py, &mut options, "path", value)?;
    Ok(options.get_search_path().map(ToOwned::to_owned).unwrap_or_default())
}

/// A plugin program found on the search path or in a plugin directory.
#[pyclass(frozen, eq, module = "sigstore_kms_plugins._native", name = "PluginInfo")]
#[derive(PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin name: what goes before `://` in a key URI.
    #[pyo3(get)]
    name: String,
    /// Where it was found.
    #[pyo3(get)]
    path: std::path::PathBuf,
    /// Whether it may be executed.
    #[pyo3(get)]
    executable: bool,
    /// Whether an earlier program of the same name wins over this one.
    #[pyo3(get)]
    shadowed: bool,
    /// Found through a relative PATH entry, so it would be refused.
    #[pyo3(get)]
    relative_dir: bool,
    /// `"path"` (found on the search path) or `"bundled"` (in the package's plugin directory).
    #[pyo3(get)]
    source: &'static str,
    /// For a shadowed plugin, the program that wins over it.
    #[pyo3(get)]
    shadowed_by: Option<PathBuf>,
}

#[pymethods]
impl PluginInfo {
    /// Whether a key URI `name://...` runs exactly this file.
    #[getter]
    fn usable(&self) -> bool {
        self.executable && !self.shadowed && !self.relative_dir
    }

    fn __repr__(&self) -> String {
        format!(
            "PluginInfo(name={:?}, path={:?}, source={:?}, executable={}, shadowed={}, relative_dir={})",
            self.name,
            self.path.display().to_string(),
            self.source,
            py_bool(self.executable),
            py_bool(self.shadowed),
            py_bool(self.relative_dir)
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// `list_plugins(path=None)`: every `sigstore-kms-*` program on the search path, in PATH order,
/// then those in the plugin directories.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn list_plugins(py: Python<'_>, path: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<PluginInfo>> {
    let search = match path.filter(|p| !p.is_none()) {
        Some(p) => Some(search_path(py, p)?),
        None => None,
    };
    let dirs = plugin_dirs(py);
    let found = py.detach(|| core::discover_in(search.as_deref(), &dirs));
    Ok(found
        .into_iter()
        .map(|p| PluginInfo {
            name: p.name,
            path: p.path,
            executable: p.executable,
            shadowed: p.shadowed,
            relative_dir: p.relative_dir,
            source: p.source.as_str(),
            shadowed_by: p.shadowed_by,
        })
        .collect())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PluginInfo>()?;
    m.add_function(wrap_pyfunction!(list_plugins, m)?)?;
    m.add_function(wrap_pyfunction!(py_plugin_dirs, m)?)?;
    Ok(())
}
