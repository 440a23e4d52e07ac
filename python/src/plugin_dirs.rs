//! The package's plugin directories, searched after `PATH` by every host call, `list_plugins`
//! and the bundled CLI: where pip put the bundled `sigstore-kms-localkms` and the provider
//! wheels' programs. `sigstore_kms_plugins._bundled._compute_plugin_dirs()` works them out (it knows
//! the install schemes); this module asks it once, on first use, and keeps the answer.

use std::path::PathBuf;

use pyo3::exceptions::PyRuntimeWarning;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static DIRS: PyOnceLock<Vec<PathBuf>> = PyOnceLock::new();

/// The plugin directories (absolute). If they cannot be worked out, a `RuntimeWarning` says
/// why and only `PATH` is searched: a broken install must not break hosts that use `PATH`.
pub fn get(py: Python<'_>) -> Vec<PathBuf> {
    DIRS.get_or_init(py, || match compute(py) {
        Ok(dirs) => dirs,
        Err(e) => {
            let message =
                format!("sigstore-kms-plugins: cannot find the bundled plugin directory ({e}); only PATH is searched");
            if let Ok(text) = std::ffi::CString::new(message) {
                let _ = PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &text, 1);
            }
            Vec::new()
        }
    })
    .clone()
}

fn compute(py: Python<'_>) -> PyResult<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> =
        py.import("sigstore_kms_plugins._bundled")?.getattr("_compute_plugin_dirs")?.call0()?.extract()?;
    Ok(dirs.into_iter().filter(|d| d.is_absolute()).collect())
}

/// `plugin_dirs() -> list[str]`: the directories searched after `PATH`.
#[pyfunction(name = "plugin_dirs")]
fn py_plugin_dirs(py: Python<'_>) -> Vec<PathBuf> {
    get(py)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_plugin_dirs, m)?)?;
    Ok(())
}
