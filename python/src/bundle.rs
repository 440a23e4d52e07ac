//! Sigstore bundles for `sigstore_kms_plugins.sigstore`: the `sigstore-kms-bundle` crate (the
//! same code as the CLI's and the Node package's), with artifacts read as every other message
//! is ([`crate::message`]: bytes in place, paths and files without the GIL).
//!
//! The plugin calls themselves are made by the Python module through the package's
//! `SignerVerifier` (so that they behave as every other call: Ctrl-C, provider exceptions,
//! options); this module computes the digests, checks the signatures and assembles and
//! verifies the bundles. Errors are raised as `sigstore_kms_plugins.sigstore.BundleVerificationError`
//! with `.reason` set to the crate's [`ErrorKind::reason`].

use std::io::Read;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};
use sigstore_kms_bundle::{
    digest_of, dsse_bundle, message_bundle, pae, verify, Bundle, ErrorKind, HashOutput, KeyMaterial, VerificationKey,
};
use sigstore_kms_plugins::HashFunc;

use crate::message::PyMessage;

/// The Python module holding `BundleVerificationError`.
const SIGSTORE_MODULE: &str = "sigstore_kms_plugins.sigstore";

/// The exception for a crate error: `OSError` for I/O, `BundleVerificationError` otherwise.
fn to_py_err(py: Python<'_>, err: &sigstore_kms_bundle::Error) -> PyErr {
    static CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if let Some(io) = err.io_error() {
        return crate::error::os_error(io, None);
    }
    let class =
        CLASS.get_or_try_init(py, || py.import(SIGSTORE_MODULE)?.getattr("BundleVerificationError").map(Bound::unbind));
    let built = class.and_then(|class| {
        let kwargs = PyDict::new(py);
        kwargs.set_item("reason", err.kind().reason())?;
        class.bind(py).call((err.to_string(),), Some(&kwargs))
    });
    match built {
        Ok(value) => PyErr::from_value(value),
        Err(import_error) => {
            let e = PyRuntimeError::new_err(err.to_string());
            e.set_cause(py, Some(import_error));
            e
        }
    }
}

/// A check of the plugin's own signature that failed: no bundle is made.
fn not_made(err: sigstore_kms_bundle::Error) -> sigstore_kms_bundle::Error {
    if err.kind() != ErrorKind::BadSignature {
        return err;
    }
    sigstore_kms_bundle::Error::new(
        ErrorKind::BadSignature,
        format!(
            "the signature the plugin returned does not verify against the key's public key, so no bundle was made \
             (the plugin signs with another key, or not as its public key says): {err}"
        ),
    )
}

/// Bytes from `bytes`, a buffer, or `str` (UTF-8).
fn text_or_bytes(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    crate::message::copy_buffer(value)
}

/// Runs `f` on the artifact `data` without the GIL; an exception its `read()` raised wins.
fn with_artifact<T>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    f: impl FnOnce(&mut dyn Read) -> sigstore_kms_bundle::Result<T> + Send,
) -> PyResult<T>
where
    T: Send,
{
    let mut message = PyMessage::from_py(data)?;
    let state = message.state();
    let result = py.detach(move || f(&mut message));
    state.after_call(py)?;
    result.map_err(|e| to_py_err(py, &e))
}

/// A public key, with what it implies for bundles.
#[pyclass(frozen, module = "sigstore_kms_plugins._native", name = "BundleKey")]
pub struct BundleKey {
    key: VerificationKey,
}

#[pymethods]
impl BundleKey {
    /// Parses a PEM public key (`str` or `bytes`).
    #[new]
    fn new(py: Python<'_>, pem: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = text_or_bytes(pem)?;
        VerificationKey::from_pem(&bytes).map(|key| BundleKey { key }).map_err(|e| to_py_err(py, &e))
    }

    /// base64(SHA-256(SubjectPublicKeyInfo DER)).
    #[getter]
    fn hint(&self) -> String {
        self.key.hint()
    }

    /// `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`, `ed25519`, ...
    #[getter]
    fn key_type(&self) -> String {
        self.key.describe()
    }

    /// The protobuf-specs `PublicKeyDetails` name.
    #[getter]
    fn key_details(&self) -> String {
        self.key.key_details()
    }

    /// The message digest algorithm (`SHA2_256`, ...).
    #[getter]
    fn digest_algorithm(&self) -> &'static str {
        self.key.digest_algorithm().name()
    }

    /// The hash signatures are made over (`"sha256"`, `"sha384"`), `None` for Ed25519.
    #[getter]
    fn signing_hash(&self) -> Option<&'static str> {
        self.key.signing_hash().map(HashFunc::name)
    }

    /// The DER SubjectPublicKeyInfo.
    #[getter]
    fn spki_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.key.spki_der())
    }

    /// The `PUBLIC KEY` PEM.
    #[getter]
    fn spki_pem(&self) -> String {
        self.key.spki_pem()
    }

    /// The digest of `data` with the signing hash (ECDSA, RSA), streamed.
    fn digest<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let Some(hash) = self.key.signing_hash() else {
            return Err(to_py_err(
                py,
                &sigstore_kms_bundle::Error::new(ErrorKind::Unsupported, "an Ed25519 key signs the data, not a digest"),
            ));
        };
        let digest = with_artifact(py, data, |r| digest_of(hash, r))?;
        Ok(PyBytes::new(py, &digest))
    }

    /// Checks `signature` over `digest` (ECDSA, RSA) and returns the message-signature bundle.
    fn message_bundle_for_digest(&self, py: Python<'_>, digest: Vec<u8>, signature: Vec<u8>) -> PyResult<NativeBundle> {
        let algorithm = self.key.digest_algorithm();
        let hash = self.key.signing_hash().unwrap_or(HashFunc::Sha256);
        self.key.verify_digest(&signature, &digest, hash).map_err(|e| to_py_err(py, &not_made(e)))?;
        Ok(NativeBundle { bundle: message_bundle(&self.key, HashOutput { algorithm, digest }, signature) })
    }

    /// Checks an Ed25519 `signature` over `data` and returns the message-signature bundle (one
    /// pass over `data`, which is also hashed for the bundle's digest).
    fn message_bundle_for_data(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        signature: Vec<u8>,
    ) -> PyResult<NativeBundle> {
        let algorithm = self.key.digest_algorithm();
        let hash = algorithm.hash_func().unwrap_or(HashFunc::Sha512);
        let key = &self.key;
        let sig = &signature;
        let digest = with_artifact(py, data, |r| key.verify_data_digest(sig, r, hash).map_err(not_made))?;
        Ok(NativeBundle { bundle: message_bundle(&self.key, HashOutput { algorithm, digest }, signature) })
    }

    /// Checks `signature` over the PAE of the payload and returns the DSSE bundle.
    fn dsse_bundle(
        &self,
        py: Python<'_>,
        payload_type: &str,
        payload: Vec<u8>,
        signature: Vec<u8>,
    ) -> PyResult<NativeBundle> {
        let bundle = dsse_bundle(&self.key, payload_type, payload, signature);
        verify(&bundle, &self.key, None).map_err(|e| to_py_err(py, &not_made(e)))?;
        Ok(NativeBundle { bundle })
    }

    fn __repr__(&self) -> String {
        format!("BundleKey({}, hint={:?})", self.key.describe(), self.key.hint())
    }
}

/// A parsed bundle.
#[pyclass(frozen, module = "sigstore_kms_plugins._native", name = "NativeBundle")]
pub struct NativeBundle {
    bundle: Bundle,
}

#[pymethods]
impl NativeBundle {
    /// Parses bundle JSON (`str` or `bytes`).
    #[staticmethod]
    fn from_json(py: Python<'_>, json: &Bound<'_, PyAny>) -> PyResult<NativeBundle> {
        let bytes = text_or_bytes(json)?;
        Bundle::from_json(&bytes).map(|bundle| NativeBundle { bundle }).map_err(|e| to_py_err(py, &e))
    }

    /// The JSON, as cosign writes it.
    fn to_json(&self) -> String {
        self.bundle.to_json()
    }

    #[getter]
    fn media_type(&self) -> &str {
        &self.bundle.media_type
    }

    /// `"message_signature"` or `"dsse_envelope"`.
    #[getter]
    fn content(&self) -> &'static str {
        if self.bundle.message_signature().is_some() {
            "message_signature"
        } else {
            "dsse_envelope"
        }
    }

    /// The key hint (`""` when none), `None` for a certificate bundle.
    #[getter]
    fn key_hint(&self) -> Option<&str> {
        self.bundle.key_hint()
    }

    /// The DER certificates (leaf first) of a keyless bundle.
    #[getter]
    fn certificates<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        match &self.bundle.key_material {
            KeyMaterial::PublicKey { .. } => Vec::new(),
            KeyMaterial::Certificate(c) => vec![PyBytes::new(py, c)],
            KeyMaterial::CertificateChain(cs) => cs.iter().map(|c| PyBytes::new(py, c)).collect(),
        }
    }

    /// The signature (message signature, or the envelope's one signature).
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let sig = match (self.bundle.message_signature(), self.bundle.dsse_envelope()) {
            (Some(m), _) => m.signature.as_slice(),
            (_, Some(e)) => e.signatures.first().map_or(&[][..], |s| s.sig.as_slice()),
            _ => &[],
        };
        PyBytes::new(py, sig)
    }

    /// `(algorithm name, digest)` of a message signature, when it has one.
    #[getter]
    fn message_digest<'py>(&self, py: Python<'py>) -> Option<(&'static str, Bound<'py, PyBytes>)> {
        let d = self.bundle.message_signature()?.message_digest.as_ref()?;
        Some((d.algorithm.name(), PyBytes::new(py, &d.digest)))
    }

    /// `(payload type, payload)` of a DSSE envelope.
    #[getter]
    fn envelope<'py>(&self, py: Python<'py>) -> Option<(String, Bound<'py, PyBytes>)> {
        let e = self.bundle.dsse_envelope()?;
        Some((e.payload_type.clone(), PyBytes::new(py, &e.payload)))
    }

    /// The transparency-log entries, as JSON texts.
    #[getter]
    fn tlog_entries(&self) -> Vec<String> {
        self.bundle.tlog_entries.iter().map(ToString::to_string).collect()
    }

    /// The RFC 3161 timestamps, as JSON texts.
    #[getter]
    fn rfc3161_timestamps(&self) -> Vec<String> {
        self.bundle.rfc3161_timestamps.iter().map(ToString::to_string).collect()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<NativeBundle>().is_ok_and(|o| o.get().bundle == self.bundle)
    }
}

/// Verifies `bundle` with `key`: a message signature over `data`, or a DSSE envelope (whose
/// in-toto statement must name `data` when given). Returns `(digest algorithm, digest)` for a
/// message signature, `(payload type, payload, subject)` for an envelope.
#[pyfunction]
#[pyo3(signature = (bundle, key, data=None))]
fn verify_bundle<'py>(
    py: Python<'py>,
    bundle: &NativeBundle,
    key: &BundleKey,
    data: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let verified = match data {
        Some(d) => with_artifact(py, d, |r| verify(&bundle.bundle, &key.key, Some(r)))?,
        None => verify(&bundle.bundle, &key.key, None).map_err(|e| to_py_err(py, &e))?,
    };
    if let Some(d) = verified.digest {
        return Ok((d.algorithm.name(), PyBytes::new(py, &d.digest)).into_pyobject(py)?.into_any());
    }
    let payload = verified.payload.unwrap_or_default();
    Ok((verified.payload_type.unwrap_or_default(), PyBytes::new(py, &payload), verified.subject)
        .into_pyobject(py)?
        .into_any())
}

/// DSSE's pre-authentication encoding.
#[pyfunction]
fn dsse_pae<'py>(py: Python<'py>, payload_type: &str, payload: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &pae(payload_type, payload))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BundleKey>()?;
    m.add_class::<NativeBundle>()?;
    m.add_function(wrap_pyfunction!(verify_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(dsse_pae, m)?)?;
    Ok(())
}
