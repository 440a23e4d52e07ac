//! The host side: `get_signer_verifier`, `SignerVerifier`, `list_plugins`, providers.
//!
//! Every blocking method releases the GIL. Calls that run a plugin program can be stopped (see
//! [`crate::runtime`]): a blocking call on the main thread can be interrupted with Ctrl-C and
//! an awaitable can be cancelled, and either kills the plugin. An awaitable on a plugin program
//! whose message is in memory (or that has none) is driven by the running asyncio loop itself
//! ([`crate::event_loop`]); one whose message is read from a path or a file object runs on the
//! Tokio runtime ([`crate::runtime::spawn_awaitable`]). Both give the same values and the same
//! exceptions (one `finish()` makes them). Calls served by an in-process provider run its
//! Python handler on the calling thread (blocking) or a worker thread (awaitable), so the
//! exception it raises can become the `__cause__` of the error.

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};
use sigstore_kms_plugins::{self as core, Error, HashFunc, PluginSignerVerifier, RunningCall};

use crate::error::{self, take_stashed};
use crate::message::{MessageState, PyMessage};
use crate::runtime::{call_interruptible, spawn_awaitable};

/// One call, with its arguments already converted from Python.
enum Call {
    DefaultAlgorithm,
    SupportedAlgorithms,
    CreateKey(String),
    PublicKey,
    Sign(PyMessage),
    SignDigest(Vec<u8>, HashFunc),
    Verify(Vec<u8>, PyMessage),
    VerifyDigest(Vec<u8>, Vec<u8>, HashFunc),
}

/// A successful result, before conversion to Python.
enum Outcome {
    Text(String),
    List(Vec<String>),
    Bytes(Vec<u8>),
    Unit,
}

/// A failed call: the core's error, or (never expected) a worker thread that died.
enum Failure {
    Core(Error),
    Internal(String),
}

type CallResult = Result<Outcome, Failure>;

fn key_outcome(r: core::Result<core::PublicKey>) -> CallResult {
    r.map(pem_outcome).map_err(Failure::Core)
}

/// Runs `call` through the core's async engine (plugin programs: cancellable).
async fn run_async(sv: PluginSignerVerifier, call: Call) -> CallResult {
    let r = match call {
        Call::DefaultAlgorithm => sv.default_algorithm().await.map(Outcome::Text),
        Call::SupportedAlgorithms => sv.supported_algorithms().await.map(Outcome::List),
        Call::CreateKey(alg) => return key_outcome(sv.create_key(&alg).await),
        Call::PublicKey => return key_outcome(sv.public_key().await),
        Call::Sign(m) => sv.sign_message(core::Message::from_reader(m)).await.map(Outcome::Bytes),
        Call::SignDigest(d, h) => sv.sign_digest(&d, h).await.map(Outcome::Bytes),
        Call::Verify(s, m) => sv.verify_signature(&s, core::Message::from_reader(m)).await.map(|()| Outcome::Unit),
        Call::VerifyDigest(s, d, h) => sv.verify_digest(&s, &d, h).await.map(|()| Outcome::Unit),
    };
    r.map_err(Failure::Core)
}

/// Runs `call` on this thread (in-process providers), returning the exception the Python
/// handler raised, if any.
fn run_blocking(sv: &PluginSignerVerifier, call: Call) -> (CallResult, Option<PyErr>) {
    drop(take_stashed());
    let r = match call {
        Call::DefaultAlgorithm => sv.default_algorithm_blocking().map(Outcome::Text),
        Call::SupportedAlgorithms => sv.supported_algorithms_blocking().map(Outcome::List),
        Call::CreateKey(alg) => sv.create_key_blocking(&alg).map(pem_outcome),
        Call::PublicKey => sv.public_key_blocking().map(pem_outcome),
        Call::Sign(m) => sv.sign_message_blocking(m).map(Outcome::Bytes),
        Call::SignDigest(d, h) => sv.sign_digest_blocking(&d, h).map(Outcome::Bytes),
        Call::Verify(s, m) => sv.verify_signature_blocking(&s, m).map(|()| Outcome::Unit),
        Call::VerifyDigest(s, d, h) => sv.verify_digest_blocking(&s, &d, h).map(|()| Outcome::Unit),
    };
    (r.map_err(Failure::Core), take_stashed())
}

/// The Python value of a finished call, or its exception.
fn finish(
    py: Python<'_>,
    result: CallResult,
    cause: Option<PyErr>,
    message: Option<&Arc<MessageState>>,
) -> PyResult<Py<PyAny>> {
    // An exception raised by the message's own read() explains the failure best.
    if let Some(state) = message {
        state.finish(py)?;
    }
    match result {
        Ok(Outcome::Text(s)) => Ok(s.into_pyobject(py)?.into_any().unbind()),
        Ok(Outcome::List(v)) => Ok(PyList::new(py, v)?.into_any().unbind()),
        Ok(Outcome::Bytes(b)) => Ok(PyBytes::new(py, &b).into_any().unbind()),
        Ok(Outcome::Unit) => Ok(py.None()),
        Err(Failure::Core(e)) => match cause {
            // A provider interrupted by Ctrl-C, or calling sys.exit(): re-raise that as it is.
            Some(c) if !c.is_instance_of::<pyo3::exceptions::PyException>(py) => Err(c),
            cause => Err(error::to_py_err(py, &e, cause)),
        },
        Err(Failure::Internal(text)) => Err(PyRuntimeError::new_err(text)),
    }
}

/// The native signer-verifier; the package's `SignerVerifier` and `AsyncSignerVerifier` wrap it.
#[pyclass(frozen, module = "sigstore_kms_plugins._native", name = "SignerVerifier")]
pub struct SignerVerifier {
    sv: PluginSignerVerifier,
}

impl SignerVerifier {
    fn is_provider(&self) -> bool {
        self.sv.program_path().is_none()
    }

    fn invoke(&self, py: Python<'_>, call: Call) -> PyResult<Py<PyAny>> {
        let state = message_state(&call);
        let sv = self.sv.clone();
        // Python runs signal handlers (Ctrl-C) on the main thread only: there, a plugin call
        // checks for them while it waits, so that KeyboardInterrupt kills the plugin at once.
        // Elsewhere nothing can interrupt the call. Either way the call runs on this thread.
        // In-process providers always run plainly on this thread.
        let (result, cause) = if self.is_provider() || !crate::runtime::on_main_thread() {
            py.detach(|| run_blocking(&sv, call))
        } else {
            call_interruptible(py, || run_blocking(&sv, call))?
        };
        finish(py, result, cause, state.as_ref())
    }

    fn invoke_async<'py>(&self, py: Python<'py>, call: Call) -> PyResult<Bound<'py, PyAny>> {
        let call = match self.try_on_loop(py, call) {
            Ok(future) => return future,
            Err(call) => call,
        };
        let state = message_state(&call);
        let sv = self.sv.clone();
        let provider = self.is_provider();
        let fut = async move {
            if provider {
                tokio::task::spawn_blocking(move || run_blocking(&sv, call))
                    .await
                    .unwrap_or_else(|e| (Err(Failure::Internal(format!("the worker thread failed: {e}"))), None))
            } else {
                (run_async(sv, call).await, None)
            }
        };
        spawn_awaitable(py, fut, move |py, (result, cause)| finish(py, result, cause, state.as_ref()))
    }

    /// Drives `call` on the running asyncio loop ([`crate::event_loop`]) when it is a plugin
    /// program's with its message (if any) in memory and a loop is running; otherwise gives the
    /// call back, for the Tokio runtime.
    fn try_on_loop<'py>(&self, py: Python<'py>, call: Call) -> Result<PyResult<Bound<'py, PyAny>>, Call> {
        if self.is_provider() {
            return Err(call);
        }
        let Some(event_loop) = running_loop(py) else { return Err(call) };
        let event_loop = &event_loop;
        let sv = &self.sv;
        let state = message_state(&call);
        Ok(match call {
            Call::DefaultAlgorithm => on_loop(event_loop, || sv.start_default_algorithm(), Outcome::Text, None),
            Call::SupportedAlgorithms => on_loop(event_loop, || sv.start_supported_algorithms(), Outcome::List, None),
            Call::CreateKey(alg) => on_loop(event_loop, move || sv.start_create_key(&alg), pem_outcome, None),
            Call::PublicKey => on_loop(event_loop, || sv.start_public_key(), pem_outcome, None),
            Call::Sign(m) => match m.into_memory() {
                Ok(bytes) => on_loop(event_loop, move || sv.start_sign_message(bytes), Outcome::Bytes, state),
                Err(m) => return Err(Call::Sign(m)),
            },
            Call::SignDigest(d, h) => on_loop(event_loop, move || sv.start_sign_digest(&d, h), Outcome::Bytes, None),
            Call::Verify(sig, m) => match m.into_memory() {
                Ok(bytes) => on_loop(event_loop, move || sv.start_verify_signature(&sig, bytes), unit_outcome, state),
                Err(m) => return Err(Call::Verify(sig, m)),
            },
            Call::VerifyDigest(sig, d, h) => {
                on_loop(event_loop, move || sv.start_verify_digest(&sig, &d, h), unit_outcome, None)
            }
        })
    }

    fn digest_call(&self, digest: &[u8], hash: Option<&Bound<'_, PyAny>>) -> PyResult<(Vec<u8>, HashFunc)> {
        let hash = match hash.filter(|h| !h.is_none()) {
            Some(h) => crate::options::hash_func(h)?,
            None => self.sv.options().get_hash_func(),
        };
        if let Some(want) = hash.digest_len() {
            if digest.len() != want {
                return Err(PyValueError::new_err(format!(
                    "a {} digest is {want} bytes, got {} bytes (pass hash_func= if the digest was made with another hash)",
                    hash.go_name(),
                    digest.len()
                )));
            }
        }
        Ok((digest.to_vec(), hash))
    }
}

/// The running asyncio loop of this thread (`asyncio.get_running_loop()`), if any.
fn running_loop(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get = GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop").ok()?;
    get.call0().ok()
}

/// A call driven on `event_loop`; its future gets what [`finish`] makes of the result.
fn on_loop<'py, T: Send + 'static>(
    event_loop: &Bound<'py, PyAny>,
    start: impl FnOnce() -> core::Result<RunningCall<T>> + Send,
    outcome: fn(T) -> Outcome,
    state: Option<Arc<MessageState>>,
) -> PyResult<Bound<'py, PyAny>> {
    let finish_call = move |py: Python<'_>, r: core::Result<T>| {
        finish(py, r.map(outcome).map_err(Failure::Core), None, state.as_ref())
    };
    crate::event_loop::drive(event_loop.py(), event_loop, start, finish_call)
}

#[allow(clippy::needless_pass_by_value)] // an `fn(T) -> Outcome`, like the variants
fn pem_outcome(key: core::PublicKey) -> Outcome {
    Outcome::Bytes(key.pem().as_bytes().to_vec())
}

fn unit_outcome((): ()) -> Outcome {
    Outcome::Unit
}

fn message_state(call: &Call) -> Option<Arc<MessageState>> {
    match call {
        Call::Sign(m) | Call::Verify(_, m) => Some(m.state()),
        _ => None,
    }
}

/// Bytes-like arguments other than the message (signatures, digests).
fn bytes_arg(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if value.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be bytes, not str")));
    }
    crate::message::copy_buffer(value)
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a bytes-like object, not {}", type_name(value))))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
}

#[pymethods]
impl SignerVerifier {
    fn default_algorithm(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Call::DefaultAlgorithm)
    }

    fn supported_algorithms(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Call::SupportedAlgorithms)
    }

    fn create_key(&self, py: Python<'_>, algorithm: String) -> PyResult<Py<PyAny>> {
        self.invoke(py, Call::CreateKey(algorithm))
    }

    fn public_key(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Call::PublicKey)
    }

    fn sign_message(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Call::Sign(PyMessage::from_py(data)?))
    }

    #[pyo3(signature = (digest, hash_func=None))]
    fn sign_digest(
        &self,
        py: Python<'_>,
        digest: &Bound<'_, PyAny>,
        hash_func: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let (d, h) = self.digest_call(&bytes_arg(digest, "digest")?, hash_func)?;
        self.invoke(py, Call::SignDigest(d, h))
    }

    fn verify_signature(
        &self,
        py: Python<'_>,
        signature: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let signature = bytes_arg(signature, "signature")?;
        self.invoke(py, Call::Verify(signature, PyMessage::from_py(data)?))
    }

    #[pyo3(signature = (signature, digest, hash_func=None))]
    fn verify_digest(
        &self,
        py: Python<'_>,
        signature: &Bound<'_, PyAny>,
        digest: &Bound<'_, PyAny>,
        hash_func: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let signature = bytes_arg(signature, "signature")?;
        let (d, h) = self.digest_call(&bytes_arg(digest, "digest")?, hash_func)?;
        self.invoke(py, Call::VerifyDigest(signature, d, h))
    }

    fn default_algorithm_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Call::DefaultAlgorithm)
    }

    fn supported_algorithms_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Call::SupportedAlgorithms)
    }

    fn create_key_async<'py>(&self, py: Python<'py>, algorithm: String) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Call::CreateKey(algorithm))
    }

    fn public_key_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Call::PublicKey)
    }

    fn sign_message_async<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Call::Sign(PyMessage::from_py(data)?))
    }

    #[pyo3(signature = (digest, hash_func=None))]
    fn sign_digest_async<'py>(
        &self,
        py: Python<'py>,
        digest: &Bound<'py, PyAny>,
        hash_func: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (d, h) = self.digest_call(&bytes_arg(digest, "digest")?, hash_func)?;
        self.invoke_async(py, Call::SignDigest(d, h))
    }

    fn verify_signature_async<'py>(
        &self,
        py: Python<'py>,
        signature: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let signature = bytes_arg(signature, "signature")?;
        self.invoke_async(py, Call::Verify(signature, PyMessage::from_py(data)?))
    }

    #[pyo3(signature = (signature, digest, hash_func=None))]
    fn verify_digest_async<'py>(
        &self,
        py: Python<'py>,
        signature: &Bound<'py, PyAny>,
        digest: &Bound<'py, PyAny>,
        hash_func: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let signature = bytes_arg(signature, "signature")?;
        let (d, h) = self.digest_call(&bytes_arg(digest, "digest")?, hash_func)?;
        self.invoke_async(py, Call::VerifyDigest(signature, d, h))
    }

    /// The absolute path of the plugin program, `None` for an in-process provider.
    #[getter]
    fn program_path(&self) -> Option<std::path::PathBuf> {
        self.sv.program_path().map(std::path::Path::to_path_buf)
    }

    /// The key reference: the part of the key URI after `://`.
    #[getter]
    fn key_ref(&self) -> &str {
        self.sv.key_ref()
    }

    /// Go's number of the hash function sent as `initOptions.hashFunc`.
    #[getter]
    fn hash_func(&self) -> u32 {
        self.sv.options().get_hash_func().number()
    }

    /// The per-call timeout in seconds, `None` for none.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.sv.options().get_timeout().map(|t| t.as_secs_f64())
    }

    fn __repr__(&self) -> String {
        match self.sv.program_path() {
            Some(p) => {
                format!("SignerVerifier(program={:?}, key_ref={:?})", p.display().to_string(), self.sv.key_ref())
            }
            None => format!("SignerVerifier(provider, key_ref={:?})", self.sv.key_ref()),
        }
    }
}

/// `get_signer_verifier(uri, hash_func, key_version, remote_verification, timeout, path,
/// stdout_limit, stderr)`: every argument explicit (the package's wrapper has the defaults).
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
fn get_signer_verifier(
    py: Python<'_>,
    uri: String,
    hash_func: &Bound<'_, PyAny>,
    key_version: Option<String>,
    remote_verification: bool,
    timeout: Option<&Bound<'_, PyAny>>,
    path: Option<&Bound<'_, PyAny>>,
    stdout_limit: Option<usize>,
    stderr: &str,
) -> PyResult<SignerVerifier> {
    let options =
        crate::options::build(hash_func, key_version, remote_verification, timeout, path, stdout_limit, stderr)?;
    let (result, cause) = py.detach(|| {
        drop(take_stashed());
        let r = core::get_signer_verifier(&uri, options);
        (r, take_stashed())
    });
    match result {
        Ok(sv) => Ok(SignerVerifier { sv }),
        Err(e) => Err(error::to_py_err(py, &e, cause)),
    }
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
    /// `"path"` (found on the search path) or `"bundled"` (in the package's plugin directory).
    #[pyo3(get)]
    source: &'static str,
    /// For a shadowed plugin, the program that wins over it.
    #[pyo3(get)]
    shadowed_by: Option<std::path::PathBuf>,
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

/// `list_plugins(path=None)`: every `sigstore-kms-*` program on the search path, in PATH order.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn list_plugins(py: Python<'_>, path: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<PluginInfo>> {
    let search = match path.filter(|p| !p.is_none()) {
        Some(p) => Some(crate::options::search_path(p)?),
        None => None,
    };
    let dirs = crate::plugin_dirs::get(py);
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
    m.add_class::<SignerVerifier>()?;
    m.add_class::<PluginInfo>()?;
    m.add_function(wrap_pyfunction!(get_signer_verifier, m)?)?;
    m.add_function(wrap_pyfunction!(list_plugins, m)?)?;
    m.add_function(wrap_pyfunction!(public_key_der, m)?)?;
    Ok(())
}
