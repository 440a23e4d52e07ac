//! The plugin side for Python: the Rust SDK's plugin entry point with a Python handler, and the
//! protocol codec (Go-compatible JSON) for Python code that wants the pieces.
//!
//! There is one implementation of the wire format, in the core crate: these functions only
//! convert between its types and Python values. The codec speaks the language-neutral shape of
//! `tests/vectors` ([`fields`]), as the Node codec does, so both return the same values.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::SystemTime;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString};
use sigstore_kms_plugins::plugin::{call_context, handle, message_options};
use sigstore_kms_plugins::protocol::gojson::format_rfc3339;
use sigstore_kms_plugins::protocol::{
    decode_response as core_decode_response, fields, InitOptions, MessageOptions, Method, MethodResult, PluginArgs,
    PluginResponse, ResponseError, RpcOptions, SignOptions,
};

use crate::error::{self, Report};
use crate::handler::{context_tuple, options_tuple, PyHandler};
use crate::message::PyMessage;

/// A descriptor we read or write but do not own (never closed).
struct BorrowedFile(ManuallyDrop<File>);

impl BorrowedFile {
    fn new(fd: i32) -> PyResult<Self> {
        if fd < 0 {
            return Err(PyValueError::new_err(format!("invalid file descriptor {fd}")));
        }
        // SAFETY: the caller passes a descriptor that stays open during `serve`; `ManuallyDrop`
        // keeps us from closing it.
        Ok(BorrowedFile(ManuallyDrop::new(unsafe { File::from_raw_fd(fd) })))
    }
}

impl Read for BorrowedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for BorrowedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A Python binary file object as the response's destination.
struct PyWriter(Py<PyAny>);

impl Write for PyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let written = self.0.bind(py).call_method1("write", (PyBytes::new(py, buf),));
            let n = written.and_then(|n| if n.is_none() { Ok(buf.len()) } else { n.extract() });
            n.map_err(|e| crate::error::to_io_error(py, &e))
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        Python::attach(|py| {
            self.0.bind(py).call_method0("flush").map(drop).map_err(|e| crate::error::to_io_error(py, &e))
        })
    }
}

/// `serve(handler, argv, stdin, stdout) -> int`: serves one call as a plugin program.
///
/// `stdin`/`stdout` are descriptors (`int`) or binary file objects. Returns the exit code: 0
/// once a response was written, 1 if it could not be written (the reason goes to stderr).
/// Exceptions that are not `Exception`s (`KeyboardInterrupt`, `SystemExit`) raised by the
/// handler are re-raised after the error response is written; other exceptions become the
/// response's `errorMessage` and their traceback goes to stderr.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
fn serve(
    py: Python<'_>,
    handler: Py<PyAny>,
    argv: Vec<OsString>,
    stdin: &Bound<'_, PyAny>,
    stdout: &Bound<'_, PyAny>,
) -> PyResult<i32> {
    let handler = PyHandler::new(py, handler, Report::Print)?;
    let mut input: Box<dyn Read + Send> = if stdin.is_instance_of::<PyInt>() {
        Box::new(BorrowedFile::new(stdin.extract()?)?)
    } else {
        Box::new(PyMessage::from_py(stdin)?)
    };
    let mut output: Box<dyn Write + Send> = if stdout.is_instance_of::<PyInt>() {
        Box::new(BorrowedFile::new(stdout.extract()?)?)
    } else {
        Box::new(PyWriter(stdout.clone().unbind()))
    };
    let (written, failed) = py.detach(|| {
        let done = handle(&argv, &mut input, &handler);
        let written = output.write_all(&done.response.to_json()).and_then(|()| output.flush());
        (written, done.error)
    });
    // A KeyboardInterrupt or SystemExit the handler raised goes on, once the response is written.
    if let Some(exc) = failed.and_then(|e| error::must_reraise(py, e)) {
        return Err(exc);
    }
    match written {
        Ok(()) => Ok(0),
        Err(e) => {
            let program = argv.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            eprintln!("{program}: cannot write the response to stdout: {e}");
            Ok(1)
        }
    }
}

fn request_bytes(data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = data.cast::<PyString>() {
        // Undecodable argv bytes arrive as surrogate escapes: encode back to the exact bytes.
        let os: OsString = s.extract()?;
        return Ok(std::os::unix::ffi::OsStringExt::into_vec(os));
    }
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err("the request must be str or bytes"))
}

fn deadline(t: Option<SystemTime>) -> Option<String> {
    t.map(format_rfc3339)
}

fn rpc_dict<'py>(py: Python<'py>, rpc: &RpcOptions) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ctxDeadline", deadline(rpc.ctx_deadline))?;
    d.set_item("keyVersion", rpc.key_version.as_deref())?;
    d.set_item("remoteVerification", rpc.remote_verification)?;
    Ok(d)
}

fn init_dict<'py>(py: Python<'py>, init: &InitOptions) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ctxDeadline", deadline(init.ctx_deadline))?;
    d.set_item("protocolVersion", &init.protocol_version)?;
    d.set_item("keyResourceID", &init.key_resource_id)?;
    d.set_item("hashFunc", init.hash_func.number())?;
    d.set_item("rpcOptions", init.rpc_options.as_ref().map(|r| rpc_dict(py, r)).transpose()?)?;
    Ok(d)
}

fn message_dict<'py>(py: Python<'py>, m: &MessageOptions) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("digest", m.digest().map(|b| PyBytes::new(py, b)))?;
    d.set_item("hashFunc", m.hash_func.map(sigstore_kms_plugins::HashFunc::number))?;
    Ok(d)
}

fn sign_dict<'py>(py: Python<'py>, o: &SignOptions) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rpcOptions", rpc_dict(py, &o.rpc_options)?)?;
    d.set_item("messageOptions", message_dict(py, &o.message_options)?)?;
    Ok(d)
}

/// The request as Go's decoder sees it, as plain Python values: every field of the Go types,
/// `None` for absent or `null`, bytes decoded from base64, deadlines re-written as Go writes
/// them (RFC 3339, UTC).
fn raw_dict<'py>(py: Python<'py>, req: &PluginArgs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("initOptions", req.init_options.as_ref().map(|i| init_dict(py, i)).transpose()?)?;
    d.set_item("methodName", &req.method_name)?;
    if req.default_algorithm.is_some() {
        d.set_item("defaultAlgorithm", PyDict::new(py))?;
    }
    if req.supported_algorithms.is_some() {
        d.set_item("supportedAlgorithms", PyDict::new(py))?;
    }
    if let Some(c) = &req.create_key {
        let a = PyDict::new(py);
        a.set_item("ctxDeadline", deadline(c.ctx_deadline))?;
        a.set_item("algorithm", &c.algorithm)?;
        d.set_item("createKey", a)?;
    }
    if let Some(p) = &req.public_key {
        let a = PyDict::new(py);
        let opts = p.public_key_options.as_ref().map(|o| -> PyResult<_> {
            let o2 = PyDict::new(py);
            o2.set_item("rpcOptions", rpc_dict(py, &o.rpc_options)?)?;
            Ok(o2)
        });
        a.set_item("publicKeyOptions", opts.transpose()?)?;
        d.set_item("publicKey", a)?;
    }
    if let Some(s) = &req.sign_message {
        let a = PyDict::new(py);
        a.set_item("signOptions", s.sign_options.as_ref().map(|o| sign_dict(py, o)).transpose()?)?;
        d.set_item("signMessage", a)?;
    }
    if let Some(v) = &req.verify_signature {
        let a = PyDict::new(py);
        a.set_item("signature", v.signature.as_deref().map(|b| PyBytes::new(py, b)))?;
        a.set_item("verifyOptions", v.verify_options.as_ref().map(|o| sign_dict(py, o)).transpose()?)?;
        d.set_item("verifySignature", a)?;
    }
    Ok(d)
}

/// `decode_request(data) -> (raw, method, context, algorithm, signature, message_options)`:
/// a request (argv[2]) decoded with Go's rules, plus what the Rust SDK hands a handler: the
/// call context tuple (see [`context_tuple`]), `createKey`'s algorithm, `verifySignature`'s
/// signature and the `(digest, hash_func)` message options. Raises `ValueError` if it does not
/// decode.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn decode_request<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<(
    Bound<'py, PyDict>,
    String,
    crate::handler::ContextTuple,
    Option<String>,
    Option<Bound<'py, PyBytes>>,
    Option<(Option<Vec<u8>>, Option<u32>)>,
    Bound<'py, PyAny>,
)> {
    let bytes = request_bytes(data)?;
    let req =
        PluginArgs::from_json(&bytes).map_err(|e| PyValueError::new_err(format!("cannot decode the request: {e}")))?;
    let method = req.method();
    let algorithm = req.create_key.as_ref().map(|c| c.algorithm.clone());
    let signature = req.verify_signature.as_ref().map(|v| PyBytes::new(py, v.signature.as_deref().unwrap_or_default()));
    let opts = matches!(method, Some(Method::SignMessage | Method::VerifySignature))
        .then(|| options_tuple(&message_options(&req)));
    let shaped = json_value(py, &fields::request_to_fields(&req))?;
    Ok((
        raw_dict(py, &req)?,
        req.method_name.clone(),
        context_tuple(&call_context(&req)),
        algorithm,
        signature,
        opts,
        shaped,
    ))
}

/// A JSON value as Python values (through `json.loads`: the shapes are plain JSON).
fn json_value<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (value.to_string(),))
}

/// Python values (plain JSON: dicts, lists, str, int, bool, None) as a JSON value.
fn from_json_value(value: &Bound<'_, PyAny>, what: &str) -> PyResult<serde_json::Value> {
    let text: String = value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))
        .map_err(|e| {
            PyTypeError::new_err(format!("{what} must be plain JSON values (dict, list, str, int, bool, None): {e}"))
        })?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// `encode_request(fields) -> str`: the request (argv[2]) that `fields` (the shape of a request
/// vector's `fields`) describe, byte for byte as the Go client writes it.
#[pyfunction]
fn encode_request(fields: &Bound<'_, PyAny>) -> PyResult<String> {
    let value = from_json_value(fields, "fields")?;
    let req = fields::request_from_fields(&value).map_err(|e| PyValueError::new_err(format!("fields: {e}")))?;
    String::from_utf8(req.to_json()).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `decode_response_fields(method, stdout) -> dict`: how the host reads a plugin's stdout, in
/// the shape of a response vector's `expect`: `{"ok": RESULT}` or `{"error": KIND, "message":
/// TEXT}` (what the Node codec's `decodeResponse` returns).
#[pyfunction]
fn decode_response_fields<'py>(py: Python<'py>, method: &str, stdout: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let method = method_arg(method)?;
    json_value(py, &fields::outcome_to_fields(&core_decode_response(method, stdout)))
}

fn method_arg(name: &str) -> PyResult<Method> {
    Method::from_wire_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown method {name:?}: expected one of {}",
            Method::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
}

fn pem_bytes(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    value
        .cast::<PyBytes>()
        .map(|b| b.as_bytes().to_vec())
        .map_err(|_| PyTypeError::new_err("the PEM must be str or bytes"))
}

/// `encode_response(method, result) -> bytes`: the response the Go handler writes for `result`
/// (`str` for defaultAlgorithm, a list of `str` for supportedAlgorithms, the PEM (`str` or
/// `bytes`) for createKey/publicKey, the signature `bytes` for signMessage, `None` for
/// verifySignature).
#[pyfunction]
fn encode_response<'py>(py: Python<'py>, method: &str, result: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let method = method_arg(method)?;
    if result.is_instance_of::<PyDict>() {
        // The shape of the vectors (and of the Node codec): `{"signature": BASE64}`, ...
        let value = from_json_value(result, "the result")?;
        let response =
            fields::response_from_fields(method, &value).map_err(|e| PyValueError::new_err(e.to_string()))?;
        return Ok(PyBytes::new(py, &response.to_json()));
    }
    let r = match method {
        Method::DefaultAlgorithm => MethodResult::DefaultAlgorithm(result.extract()?),
        Method::SupportedAlgorithms => {
            if result.is_instance_of::<PyString>() {
                return Err(PyTypeError::new_err("supportedAlgorithms takes a list of str, not a str"));
            }
            MethodResult::SupportedAlgorithms(result.extract()?)
        }
        Method::CreateKey => MethodResult::CreateKey { public_key_pem: pem_bytes(result)? },
        Method::PublicKey => MethodResult::PublicKey { public_key_pem: pem_bytes(result)? },
        Method::SignMessage => MethodResult::SignMessage {
            signature: result
                .cast::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("the signature must be bytes"))?
                .as_bytes()
                .to_vec(),
        },
        Method::VerifySignature => {
            if !result.is_none() {
                return Err(PyTypeError::new_err("verifySignature's result is None"));
            }
            MethodResult::VerifySignature
        }
    };
    Ok(PyBytes::new(py, &PluginResponse::from_result(r).to_json()))
}

/// `encode_error(message) -> bytes`: an error response, as the Go handler writes it.
#[pyfunction]
fn encode_error<'py>(py: Python<'py>, message: &str) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &PluginResponse::from_error(message).to_json())
}

/// `decode_response(method, stdout) -> (outcome, value)`: how the host reads a plugin's stdout.
/// `outcome` is `"ok"` (value: the result as `encode_response` takes it, PEMs as `bytes`),
/// `"PluginReturned"` (value: the plugin's error message) or `"InvalidResponse"` (value: what
/// is wrong).
#[pyfunction]
fn decode_response<'py>(py: Python<'py>, method: &str, stdout: &[u8]) -> PyResult<(&'static str, Bound<'py, PyAny>)> {
    let method = method_arg(method)?;
    Ok(match core_decode_response(method, stdout) {
        Ok(MethodResult::DefaultAlgorithm(a)) => ("ok", a.into_pyobject(py)?.into_any()),
        Ok(MethodResult::SupportedAlgorithms(a)) => ("ok", a.into_pyobject(py)?.into_any()),
        Ok(
            MethodResult::CreateKey { public_key_pem: b }
            | MethodResult::PublicKey { public_key_pem: b }
            | MethodResult::SignMessage { signature: b },
        ) => ("ok", PyBytes::new(py, &b).into_any()),
        Ok(MethodResult::VerifySignature) => ("ok", py.None().into_bound(py)),
        Err(ResponseError::Returned(m)) => ("PluginReturned", m.into_pyobject(py)?.into_any()),
        Err(ResponseError::Invalid(e)) => ("InvalidResponse", e.to_string().into_pyobject(py)?.into_any()),
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_function(wrap_pyfunction!(decode_request, m)?)?;
    m.add_function(wrap_pyfunction!(encode_response, m)?)?;
    m.add_function(wrap_pyfunction!(encode_error, m)?)?;
    m.add_function(wrap_pyfunction!(decode_response, m)?)?;
    m.add_function(wrap_pyfunction!(encode_request, m)?)?;
    m.add_function(wrap_pyfunction!(decode_response_fields, m)?)?;
    Ok(())
}
