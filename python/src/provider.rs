//! In-process providers: key URI prefixes served by a Python handler in this process.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use sigstore_kms_plugins::{self as core, KmsHandler, ProviderFactory};

use crate::error::{self, Report};
use crate::handler::PyHandler;

/// `register_provider(prefix, factory)`: key URIs starting with `prefix://` are served in this
/// process by `factory(key_ref)`, an object with the six handler methods.
#[pyfunction]
fn register_provider(py: Python<'_>, prefix: &str, factory: Py<PyAny>) -> PyResult<()> {
    if !factory.bind(py).is_callable() {
        return Err(PyTypeError::new_err("factory must be callable: factory(key_ref) -> handler"));
    }
    let factory: ProviderFactory = Arc::new(move |key_ref: &str| {
        Python::attach(|py| {
            let made = factory.bind(py).call1((key_ref,)).and_then(|h| PyHandler::new(py, h.unbind(), Report::Quiet));
            match made {
                Ok(handler) => Ok(Arc::new(handler) as Arc<dyn KmsHandler>),
                Err(e) => Err(error::handler_error(py, e, Report::Quiet)),
            }
        })
    });
    core::register_provider(prefix, factory).map_err(|e| error::to_py_err(py, e))
}

/// `unregister_provider(prefix) -> bool`: whether there was one.
#[pyfunction]
fn unregister_provider(prefix: &str) -> bool {
    core::unregister_provider(prefix)
}

/// `registered_providers() -> list[str]`: the registered prefixes (`"name://"`).
#[pyfunction]
fn registered_providers() -> Vec<String> {
    core::registered_providers()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(register_provider, m)?)?;
    m.add_function(wrap_pyfunction!(unregister_provider, m)?)?;
    m.add_function(wrap_pyfunction!(registered_providers, m)?)?;
    Ok(())
}
