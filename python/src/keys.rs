//! Public keys: the DER of a PEM public key, for `sigstore_kms_plugins.keys`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sigstore_kms_plugins as core;

use crate::signer::bytes_arg;

/// `public_key_der(pem) -> (der, key_type)`: the SubjectPublicKeyInfo DER of a PEM public key
/// (as Go reads it: `PUBLIC KEY` or `RSA PUBLIC KEY`, text before the block ignored).
#[pyfunction]
fn public_key_der<'py>(py: Python<'py>, pem: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let bytes = if let Ok(s) = pem.cast::<pyo3::types::PyString>() {
        s.to_cow()?.as_bytes().to_vec()
    } else {
        bytes_arg(pem, "pem")?
    };
    let key = core::PublicKey::from_pem(&bytes).map_err(PyValueError::new_err)?;
    Ok((PyBytes::new(py, key.spki_der()), key.key_type()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(public_key_der, m)?)?;
    Ok(())
}
