//! `list_plugins`: every `sigstore-kms-*` program on the search path, like `kubectl plugin list`.

use pyo3::prelude::*;
use sigstore_kms_plugins::{self as core, Options};

/// A search path given as `path=` is (a PATH-style str, a path-like, a list of directories),
/// checked as the option of that name.
fn search_path(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<std::ffi::OsString> {
    let mut options = Options::default();
    crate::options::set(py, &mut options, "path", value)?;
    Ok(options.get_search_path().map(ToOwned::to_owned).unwrap_or_default())
}

/// A plugin program found on the search path.
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
            "PluginInfo(name={:?}, path={:?}, executable={}, shadowed={}, relative_dir={})",
            self.name,
            self.path.display().to_string(),
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

/// `list_plugins(path=None)`: every `sigstore-kms-*` program on the search path, in PATH order.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn list_plugins(py: Python<'_>, path: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<PluginInfo>> {
    let search = match path.filter(|p| !p.is_none()) {
        Some(p) => Some(search_path(py, p)?),
        None => None,
    };
    let found = py.detach(|| core::discover(search.as_deref()));
    Ok(found
        .into_iter()
        .map(|p| PluginInfo {
            name: p.name,
            path: p.path,
            executable: p.executable,
            shadowed: p.shadowed,
            relative_dir: p.relative_dir,
        })
        .collect())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PluginInfo>()?;
    m.add_function(wrap_pyfunction!(list_plugins, m)?)?;
    Ok(())
}
