//! Python arguments → core options: hash functions, timeouts, search paths, stderr modes.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyList, PyString, PyTuple};
use sigstore_kms_plugins::{HashFunc, Options, StderrMode};

/// A hash function given as a name (`"sha256"`, `"SHA-256"`), Go's `crypto.Hash` number, or a
/// `HashFunc` member (an `int`).
pub fn hash_func(value: &Bound<'_, PyAny>) -> PyResult<HashFunc> {
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "hash_func must be a name such as \"sha256\" or Go's crypto.Hash number, not a bool",
        ));
    }
    if value.is_instance_of::<PyInt>() {
        let n: i64 = value.extract()?;
        return u64::try_from(n).ok().and_then(HashFunc::from_number).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown hash function number {n}: Go's crypto.Hash numbers are 0 (none) to 19"
            ))
        });
    }
    if let Ok(name) = value.cast::<PyString>() {
        return name.to_cow()?.parse::<HashFunc>().map_err(|e| PyValueError::new_err(e.to_string()));
    }
    Err(PyTypeError::new_err(format!(
        "hash_func must be a str (\"sha256\"), an int (Go's crypto.Hash number) or a HashFunc, not {}",
        value.get_type().name()?
    )))
}

/// A timeout in seconds (`int`/`float`) or a `datetime.timedelta`; `None` means no timeout.
pub fn timeout(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("timeout must be a number of seconds, a timedelta or None, not a bool"));
    }
    let seconds: f64 = if value.hasattr("total_seconds")? {
        value.call_method0("total_seconds")?.extract()?
    } else {
        value.extract().map_err(|_| PyTypeError::new_err("timeout must be a number of seconds, a timedelta or None"))?
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout must be a positive number of seconds (or None for no timeout), got {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds).map(Some).map_err(|e| PyValueError::new_err(format!("timeout {seconds}: {e}")))
}

/// A search path: a PATH-style string (`"dir1:dir2"`), one path-like, or a list of directories.
pub fn search_path(value: &Bound<'_, PyAny>) -> PyResult<OsString> {
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut joined = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            let dir: OsString = item?
                .extract::<PathBuf>()
                .map(Into::into)
                .map_err(|_| PyTypeError::new_err("path must be a str, a path-like object, or a list of them"))?;
            if dir.as_bytes().contains(&b':') {
                return Err(PyValueError::new_err(format!(
                    "path entry {:?} contains ':', which separates PATH entries",
                    dir.to_string_lossy()
                )));
            }
            if i > 0 {
                joined.push(b':');
            }
            joined.extend_from_slice(dir.as_bytes());
        }
        return Ok(OsString::from_vec(joined));
    }
    value
        .extract::<PathBuf>()
        .map(Into::into)
        .map_err(|_| PyTypeError::new_err("path must be a str, a path-like object, or a list of them"))
}

/// `"inherit"` (the default, as Go), `"capture"` (kept and attached to errors as
/// `stderr_tail`) or `"null"` (discarded).
pub fn stderr_mode(value: &str) -> PyResult<StderrMode> {
    match value {
        "inherit" => Ok(StderrMode::Inherit),
        "capture" => Ok(StderrMode::Capture),
        "null" | "devnull" => Ok(StderrMode::Null),
        other => {
            Err(PyValueError::new_err(format!("stderr must be \"inherit\", \"capture\" or \"null\", not {other:?}")))
        }
    }
}

/// The keyword arguments of `get_signer_verifier`, as core [`Options`].
#[allow(clippy::too_many_arguments)]
pub fn build(
    hash: &Bound<'_, PyAny>,
    key_version: Option<String>,
    remote_verification: bool,
    timeout_value: Option<&Bound<'_, PyAny>>,
    path: Option<&Bound<'_, PyAny>>,
    stdout_limit: Option<usize>,
    stderr: &str,
) -> PyResult<Options> {
    let mut options = Options::default()
        .hash_func(hash_func(hash)?)
        .remote_verification(remote_verification)
        .timeout(timeout(timeout_value)?)
        .stderr(stderr_mode(stderr)?)
        .plugin_dirs(crate::plugin_dirs::get(hash.py()));
    if let Some(v) = key_version {
        options = options.key_version(v);
    }
    if let Some(p) = path.filter(|p| !p.is_none()) {
        options = options.search_path(search_path(p)?);
    }
    if let Some(limit) = stdout_limit {
        if limit == 0 {
            return Err(PyValueError::new_err("stdout_limit must be a positive number of bytes"));
        }
        options = options.stdout_limit(limit);
    }
    Ok(options)
}

/// `parse_hash_func(value) -> int`: Go's number for a hash name, number or `HashFunc`.
#[pyfunction]
fn parse_hash_func(value: &Bound<'_, PyAny>) -> PyResult<u32> {
    hash_func(value).map(HashFunc::number)
}

/// `hash_func_info(number) -> (name, go_name, digest_size | None)`.
#[pyfunction]
fn hash_func_info(number: u64) -> PyResult<(&'static str, &'static str, Option<usize>)> {
    let h = HashFunc::from_number(number)
        .ok_or_else(|| PyValueError::new_err(format!("unknown hash function number {number}")))?;
    Ok((h.name(), h.go_name(), h.digest_len()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_hash_func, m)?)?;
    m.add_function(wrap_pyfunction!(hash_func_info, m)?)?;
    Ok(())
}
