//! The one place where errors cross the language boundary.
//!
//! * Rust → Python: [`to_py_err`] turns a core [`Error`] into the package's exception class for
//!   its [`ErrorKind`] (defined in `sigstore_kms_plugins/errors.py`), with `.kind`,
//!   `.stderr_tail`, `.plugin`, `.method`, `.program_path`, `.message` and `.searched` set, and
//!   a `__cause__` where one helps: the OS error behind an execution failure, or the Python
//!   exception an in-process provider raised.
//!   An invalid option or argument ([`ErrorKind::InvalidOption`]) is Python's own `TypeError` or
//!   `ValueError`, as for any bad argument.
//! * Python → Rust: [`handler_error`] turns an exception raised by a Python handler into the
//!   [`HandlerError`](struct@HandlerError) that becomes the plugin's `errorMessage`, with the exception itself as its
//!   source ([`PyException`]): the caller gets it back through the core's error, not through a
//!   side channel.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use sigstore_kms_plugins::{Error, ErrorKind, HandlerError, OptionProblem};

/// The Python module holding the exception classes.
const ERRORS_MODULE: &str = "sigstore_kms_plugins.errors";

/// The exception class for each error kind.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidKeyUri => "InvalidKeyURIError",
        ErrorKind::PluginNotFound => "PluginNotFoundError",
        ErrorKind::Exec => "PluginExecutionError",
        ErrorKind::Timeout => "PluginTimeoutError",
        ErrorKind::InvalidResponse => "PluginResponseError",
        ErrorKind::PluginReturned => "PluginReturnedError",
        ErrorKind::OutputTooLarge => "OutputTooLargeError",
        // `ErrorKind` is non-exhaustive: a kind added to the core later is still a
        // KmsPluginError, with its name in `.kind`.
        _ => "KmsPluginError",
    }
}

/// Imports an attribute of the errors module once.
fn errors_attr<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyAny>>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || py.import(ERRORS_MODULE)?.getattr(name).map(Bound::unbind)).map(|c| c.bind(py).clone())
}

/// Converts a core error into the package's exception, with as `__cause__` the exception a
/// Python provider raised or else the OS error behind the failure. An exception of a provider
/// that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`) is re-raised as it is.
#[must_use]
pub fn to_py_err(py: Python<'_>, mut err: Error) -> PyErr {
    if let Error::InvalidOption { problem, .. } = &err {
        return match problem {
            OptionProblem::WrongType | OptionProblem::Unknown => PyTypeError::new_err(err.to_string()),
            _ => PyValueError::new_err(err.to_string()),
        };
    }
    let cause = match err.take_handler_source().and_then(|s| s.downcast::<PyException>().ok()).map(|e| e.0) {
        Some(c) if !c.is_instance_of::<pyo3::exceptions::PyException>(py) => return c,
        other => other,
    };
    let built = build_exception(py, &err);
    let exc = match built {
        Ok(e) => e,
        // Only if the package itself is broken (errors.py missing): still raise something useful.
        Err(import_error) => {
            let e = PyRuntimeError::new_err(err.to_string());
            e.set_cause(py, Some(import_error));
            return e;
        }
    };
    if let Some(cause) = cause.or_else(|| os_error_cause(&err)) {
        exc.set_cause(py, Some(cause));
    }
    exc
}

fn build_exception(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let module = py.import(ERRORS_MODULE)?;
    let class = module.getattr(class_name(err.kind()))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", err.kind().as_str())?;
    kwargs.set_item("stderr_tail", err.stderr_tail())?;
    if let Some(site) = err.call_site() {
        kwargs.set_item("plugin", &site.plugin)?;
        kwargs.set_item("method", site.method.as_str())?;
        kwargs.set_item("program_path", site.path.as_deref())?;
    }
    if let Some(message) = err.plugin_message() {
        kwargs.set_item("message", message)?;
    }
    if let Error::PluginNotFound { program, searched, .. } = err {
        kwargs.set_item("plugin", program)?;
        kwargs.set_item("searched", searched.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    }
    let value = class.call((err.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(value))
}

/// The `OSError` behind an execution failure (e.g. `PermissionError` for EACCES).
fn os_error_cause(err: &Error) -> Option<PyErr> {
    let source = std::error::Error::source(err)?.downcast_ref::<io::Error>()?;
    Some(os_error(source, None))
}

/// The `OSError` for `err`, with `errno`, `strerror` and `filename` set, so Python picks the
/// subclass (`FileNotFoundError`, `PermissionError`, ...) as for its own I/O.
#[must_use]
pub fn os_error(err: &io::Error, filename: Option<&Path>) -> PyErr {
    let Some(code) = err.raw_os_error() else {
        return match filename {
            Some(f) => PyOSError::new_err(format!("{}: {err}", f.display())),
            None => PyOSError::new_err(err.to_string()),
        };
    };
    let text = err.to_string();
    let strerror = text.rsplit_once(" (os error").map_or(text.as_str(), |(t, _)| t).to_owned();
    match filename {
        Some(f) => PyOSError::new_err((code, strerror, f.as_os_str().to_os_string())),
        None => PyOSError::new_err((code, strerror)),
    }
}

// ---------------------------------------------------------------------------------------------
// Python → Rust

/// An exception raised by Python I/O code (a message's `read`, a response writer's `write`) as
/// the `io::Error` the Rust side reports; callers that can keep the exception itself do so.
pub fn to_io_error(py: Python<'_>, err: &PyErr) -> io::Error {
    io::Error::other(format!("{}: {}", type_name(py, err), err.value(py)))
}

fn type_name(py: Python<'_>, err: &PyErr) -> String {
    err.get_type(py).name().map_or_else(|_| "Exception".to_owned(), |n| n.to_string())
}

/// A Python exception as the source of a [`HandlerError`](struct@HandlerError).
#[derive(Debug)]
pub struct PyException(pub PyErr);

impl fmt::Display for PyException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for PyException {}

/// Whether the exception behind a handler's error is printed (besides becoming its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// No: an in-process provider's exception becomes the `__cause__` of the
    /// `PluginReturnedError` the caller sees.
    Quiet,
    /// Print its traceback to stderr (a plugin program: the host shows the plugin's stderr),
    /// unless it is a `HandlerError`, which is an expected answer, or not an `Exception` (those
    /// are re-raised once the response is written).
    Print,
}

static HANDLER_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The error for an exception a Python handler raised: its message is the text of a
/// `HandlerError` as it is, `"TypeName: text"` for any other exception; its source is the
/// exception.
pub fn handler_error(py: Python<'_>, err: PyErr, report: Report) -> HandlerError {
    let expected = errors_attr(py, &HANDLER_ERROR, "HandlerError").is_ok_and(|c| err.matches(py, c).unwrap_or(false));
    let value = err.value(py);
    let text = value.str().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let message = if expected {
        text
    } else {
        let type_name = type_name(py, &err);
        if text.is_empty() {
            type_name
        } else {
            format!("{type_name}: {text}")
        }
    };
    if report == Report::Print && !expected && err.is_instance_of::<pyo3::exceptions::PyException>(py) {
        err.display(py);
    }
    HandlerError::with_source(message, PyException(err))
}

/// The exception behind a handler's error that must be re-raised as it is (one that is not an
/// `Exception`: `KeyboardInterrupt`, `SystemExit`), if any.
#[must_use]
pub fn must_reraise(py: Python<'_>, error: HandlerError) -> Option<PyErr> {
    let (_, source) = error.into_parts();
    let exc = source?.downcast::<PyException>().ok()?.0;
    (!exc.is_instance_of::<pyo3::exceptions::PyException>(py)).then_some(exc)
}
