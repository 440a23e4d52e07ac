//! The host side: `get_signer_verifier` and the native `SignerVerifier`.
//!
//! Each method builds the core's typed [`Call`] and message, and the core decides how it runs
//! ([`PluginSignerVerifier::route`]): this file only turns arguments into those and replies
//! into Python values. Blocking methods release the GIL; on the main thread a plugin call also
//! checks for Python signals while it waits, so Ctrl-C raises `KeyboardInterrupt` at once and
//! kills the plugin ([`call_interruptible`]). Awaitable methods return a future of the running
//! loop's reactor ([`crate::reactor`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use sigstore_kms_plugins::{self as core, Call, Error, Message, Options, PluginSignerVerifier, Reply};

use crate::error;
use crate::message::{MessageState, PyMessage};

/// How often a blocking call on the main thread checks for Python signals (Ctrl-C).
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The native signer-verifier; the package's `SignerVerifier` and `AsyncSignerVerifier` wrap it.
#[pyclass(frozen, module = "sigstore_kms_plugins._native", name = "SignerVerifier")]
pub struct SignerVerifier {
    sv: PluginSignerVerifier,
}

/// A call's arguments converted from Python: the call, its message, and what to check about the
/// message once the call is over.
struct Prepared {
    call: Call,
    message: Message,
    state: Option<Arc<MessageState>>,
}

impl Prepared {
    fn plain(call: Call) -> Self {
        Prepared { call, message: Message::empty(), state: None }
    }

    fn with_message(call: Call, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let message = PyMessage::from_py(data)?;
        let state = Some(message.state());
        Ok(Prepared { call, message: message.into_core(), state })
    }
}

/// The Python value of a finished call, or its exception.
fn to_python(py: Python<'_>, result: core::Result<Reply>, state: Option<&Arc<MessageState>>) -> PyResult<Py<PyAny>> {
    // An exception raised by the message's own read() explains a failure best.
    if let Some(state) = state {
        state.after_call(py)?;
    }
    match result {
        Ok(reply) => reply_value(py, reply),
        Err(e) => Err(error::to_py_err(py, e)),
    }
}

/// A reply as the Python API returns it: `str`, `list[str]`, `bytes` (a PEM, a signature) or
/// `None`.
fn reply_value(py: Python<'_>, reply: Reply) -> PyResult<Py<PyAny>> {
    Ok(match reply {
        Reply::DefaultAlgorithm(a) => a.into_pyobject(py)?.into_any().unbind(),
        Reply::SupportedAlgorithms(a) => PyList::new(py, a)?.into_any().unbind(),
        Reply::CreateKey(key) | Reply::PublicKey(key) => PyBytes::new(py, key.pem().as_bytes()).into_any().unbind(),
        Reply::SignMessage(signature) => PyBytes::new(py, &signature).into_any().unbind(),
        _ => py.None(),
    })
}

impl SignerVerifier {
    fn invoke(&self, py: Python<'_>, p: Prepared) -> PyResult<Py<PyAny>> {
        let Prepared { call, message, state } = p;
        let sv = &self.sv;
        // Python runs signal handlers (Ctrl-C) on the main thread only: there, a plugin call
        // checks for them while it waits. Elsewhere nothing can interrupt the call. Either way
        // the call runs on this thread. In-process providers always run plainly on this thread.
        let interruptible = sv.program_path().is_some() && on_main_thread(py);
        let result = if interruptible {
            call_interruptible(py, || sv.call_blocking(call, message))?
        } else {
            py.detach(|| sv.call_blocking(call, message))
        };
        to_python(py, result, state.as_ref())
    }

    fn invoke_async<'py>(&self, py: Python<'py>, p: Prepared) -> PyResult<Bound<'py, PyAny>> {
        let Prepared { call, message, state } = p;
        let route = self.sv.route(call, message);
        crate::reactor::submit(py, route, Box::new(move |py, result| to_python(py, result, state.as_ref())))
    }

    fn digest_call(
        &self,
        py: Python<'_>,
        signature: Option<Vec<u8>>,
        digest: &Bound<'_, PyAny>,
        hash: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Prepared> {
        let digest = bytes_arg(digest, "digest")?;
        let hash = match hash.filter(|h| !h.is_none()) {
            Some(h) => crate::options::hash_func(h)?,
            None => self.sv.options().get_hash_func(),
        };
        let call = match signature {
            Some(sig) => Call::verify_digest(sig, digest, hash),
            None => Call::sign_digest(digest, hash),
        };
        // Checked now, as an argument error of this call (the core checks it again).
        call.check().map_err(|e| error::to_py_err(py, e))?;
        Ok(Prepared::plain(call))
    }
}

/// Whether this is the main thread, where Python runs its signal handlers.
fn on_main_thread(py: Python<'_>) -> bool {
    if let Some(main) = core::sys::is_main_thread() {
        return main;
    }
    // Where the system cannot tell, ask Python.
    let threading = py.import("threading");
    threading.and_then(|t| Ok(t.call_method0("main_thread")?.is(&t.call_method0("current_thread")?))).unwrap_or(false)
}

/// Runs `call` (a blocking plugin call) on this thread with the GIL released. While a plugin
/// runs, Python's signal handlers run every [`SIGNAL_POLL`] and when a signal interrupts the
/// wait; if one raises (e.g. `KeyboardInterrupt`), the plugin's process group is killed and
/// reaped, and that exception is returned instead of the call's result. (Handing the call to a
/// worker thread and back would cost tens of microseconds per call.)
pub fn call_interruptible<T, F>(py: Python<'_>, call: F) -> PyResult<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let (out, raised) = py.detach(|| {
        let raised: Rc<RefCell<Option<PyErr>>> = Rc::default();
        let slot = Rc::clone(&raised);
        #[allow(clippy::redundant_closure_for_method_calls)] // the method is not general enough over `'py`
        let check = move || match Python::attach(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                *slot.borrow_mut() = Some(e);
                true
            }
        };
        let out = core::process::with_interrupt_check(SIGNAL_POLL, check, call);
        let raised = raised.borrow_mut().take();
        (out, raised)
    });
    match raised {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Bytes-like arguments other than the message (signatures, digests).
pub fn bytes_arg(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be bytes, not str")));
    }
    crate::message::copy_buffer(value).map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a bytes-like object, not {}",
            value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

#[pymethods]
impl SignerVerifier {
    fn default_algorithm(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Prepared::plain(Call::DefaultAlgorithm))
    }

    fn supported_algorithms(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Prepared::plain(Call::SupportedAlgorithms))
    }

    fn create_key(&self, py: Python<'_>, algorithm: String) -> PyResult<Py<PyAny>> {
        self.invoke(py, Prepared::plain(Call::create_key(algorithm)))
    }

    fn public_key(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Prepared::plain(Call::PublicKey))
    }

    fn sign_message(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.invoke(py, Prepared::with_message(Call::sign_message(), data)?)
    }

    #[pyo3(signature = (digest, hash_func=None))]
    fn sign_digest(
        &self,
        py: Python<'_>,
        digest: &Bound<'_, PyAny>,
        hash_func: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.invoke(py, self.digest_call(py, None, digest, hash_func)?)
    }

    fn verify_signature(
        &self,
        py: Python<'_>,
        signature: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let signature = bytes_arg(signature, "signature")?;
        self.invoke(py, Prepared::with_message(Call::verify_signature(signature), data)?)
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
        self.invoke(py, self.digest_call(py, Some(signature), digest, hash_func)?)
    }

    fn default_algorithm_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Prepared::plain(Call::DefaultAlgorithm))
    }

    fn supported_algorithms_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Prepared::plain(Call::SupportedAlgorithms))
    }

    fn create_key_async<'py>(&self, py: Python<'py>, algorithm: String) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Prepared::plain(Call::create_key(algorithm)))
    }

    fn public_key_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Prepared::plain(Call::PublicKey))
    }

    fn sign_message_async<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, Prepared::with_message(Call::sign_message(), data)?)
    }

    #[pyo3(signature = (digest, hash_func=None))]
    fn sign_digest_async<'py>(
        &self,
        py: Python<'py>,
        digest: &Bound<'py, PyAny>,
        hash_func: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.invoke_async(py, self.digest_call(py, None, digest, hash_func)?)
    }

    fn verify_signature_async<'py>(
        &self,
        py: Python<'py>,
        signature: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let signature = bytes_arg(signature, "signature")?;
        self.invoke_async(py, Prepared::with_message(Call::verify_signature(signature), data)?)
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
        self.invoke_async(py, self.digest_call(py, Some(signature), digest, hash_func)?)
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

    /// Shows the program and the key reference, a PIN in it (`pin-value`) hidden.
    fn __repr__(&self) -> String {
        let key_ref = core::redact_key_uri(self.sv.key_ref());
        match self.sv.program_path() {
            Some(p) => format!("SignerVerifier(program={:?}, key_ref={key_ref:?})", p.display().to_string()),
            None => format!("SignerVerifier(provider, key_ref={key_ref:?})"),
        }
    }
}

/// The key URI as text; one holding a lone surrogate is an invalid key URI (it cannot be sent).
fn uri_text(uri: &Bound<'_, PyAny>) -> PyResult<String> {
    let text = uri.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "uri must be a str (a key URI such as \"mykms://key\"), not {}",
            uri.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    match text.to_cow() {
        Ok(t) => Ok(t.into_owned()),
        Err(_) => Err(error::to_py_err(uri.py(), Error::unencodable_key_uri(&text.to_string_lossy()))),
    }
}

/// `get_signer_verifier(uri, hash_func, key_version, remote_verification, timeout, path,
/// stdout_limit, stderr)`: every argument explicit (the package's wrapper has the defaults),
/// each checked by the core under its Python name.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn get_signer_verifier(
    py: Python<'_>,
    uri: &Bound<'_, PyAny>,
    hash_func: &Bound<'_, PyAny>,
    key_version: &Bound<'_, PyAny>,
    remote_verification: &Bound<'_, PyAny>,
    timeout: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    stdout_limit: &Bound<'_, PyAny>,
    stderr: &Bound<'_, PyAny>,
) -> PyResult<SignerVerifier> {
    let uri = uri_text(uri)?;
    // The package's plugin directories are searched after PATH by every call.
    let mut options = Options::default().plugin_dirs(crate::discovery::plugin_dirs(py));
    let given = [
        ("hash_func", hash_func),
        ("key_version", key_version),
        ("remote_verification", remote_verification),
        ("timeout", timeout),
        ("path", path),
        ("stdout_limit", stdout_limit),
        ("stderr", stderr),
    ];
    for (name, value) in given {
        crate::options::set(py, &mut options, name, value)?;
    }
    match py.detach(|| core::get_signer_verifier(&uri, options)) {
        Ok(sv) => Ok(SignerVerifier { sv }),
        Err(e) => Err(error::to_py_err(py, e)),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SignerVerifier>()?;
    m.add_function(wrap_pyfunction!(get_signer_verifier, m)?)?;
    Ok(())
}
