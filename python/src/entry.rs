//! The bundled `sigstore-kms` CLI and the `sigstore-kms-localkms` and `sigstore-kms-pkcs11`
//! plugins, as functions taking an explicit argv, for the package's console scripts
//! (`sigstore_kms_plugins/_cli.py`): one `pip install` gives a working `localkms://` backend,
//! `pkcs11:` keys and the CLI, with no separate binaries.
//!
//! Both write to file descriptors 1 and 2 through Rust's `std::io`; Rust's stdout buffer is
//! flushed before returning, since a Python process does not run Rust's exit-time flush.

use std::ffi::OsString;
use std::io::{self, Write};

use pyo3::prelude::*;

fn flush_std() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}

/// `cli_main(argv) -> int`: runs `sigstore-kms` with `argv` (`argv[0]` is the program name)
/// and returns its exit code.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
fn cli_main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    let dirs = crate::discovery::plugin_dirs(py);
    let code = py.detach(|| sigstore_kms_cli::run_with_plugin_dirs(argv, dirs));
    flush_std();
    code
}

/// `pkcs11_main(argv) -> int`: serves one call of the `pkcs11` plugin (HSMs and tokens through
/// a PKCS#11 module; linked anyway, for the CLI's `pkcs11` commands) with `argv` and the
/// process's stdin and stdout, and returns the exit code.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
fn pkcs11_main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    let code = py.detach(|| sigstore_kms_pkcs11::run_with_args(argv));
    flush_std();
    code
}

/// `localkms_main(argv) -> int`: serves one call of the `localkms` plugin with `argv` and the
/// process's stdin and stdout (file descriptors 0 and 1), and returns the exit code.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
fn localkms_main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    let code = py.detach(|| sigstore_kms_localkms::run_with_args(argv));
    flush_std();
    code
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(localkms_main, m)?)?;
    m.add_function(wrap_pyfunction!(pkcs11_main, m)?)?;
    Ok(())
}
