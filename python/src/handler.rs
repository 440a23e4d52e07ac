//! Python objects as [`KmsHandler`]s: in-process providers ([`crate::provider`]) and plugins
//! written in Python ([`crate::plugin`]) share this adapter.
//!
//! Each call attaches to the interpreter and goes through `sigstore_kms_plugins._bridge`, which
//! builds the `CallContext`/`MessageOptions` objects, wraps the message in a buffered binary
//! stream, calls the handler's method and checks what it returned. An exception becomes the
//! `errorMessage`, and the exception itself the error's source (see
//! [`crate::error::handler_error`]).

use std::io::Read;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use sigstore_kms_plugins::{self as core, CallContext, HandlerError, KmsHandler, MessageOptions};

use crate::error::{self, Report};

/// Most bytes one `MessageStream.read(size)` returns.
const MAX_READ: usize = 4 << 20;

const BRIDGE_MODULE: &str = "sigstore_kms_plugins._bridge";
static BRIDGE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn bridge(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    BRIDGE.get_or_try_init(py, || py.import(BRIDGE_MODULE).map(Bound::unbind)).map(|m| m.bind(py))
}

/// A Python object with the six handler methods.
pub struct PyHandler {
    obj: Py<PyAny>,
    report: Report,
}

/// The call context as the bridge takes it:
/// `(key_resource_id, hash_func, key_version, remote_verification, deadline)`, the deadline as
/// `(seconds, microseconds)` since the epoch or `None`.
pub type ContextTuple = (String, u32, String, bool, Option<(i64, u32)>);

/// The bridge's form of `ctx`.
pub fn context_tuple(ctx: &CallContext) -> ContextTuple {
    (
        ctx.key_resource_id.clone(),
        ctx.hash_func.number(),
        ctx.key_version.clone(),
        ctx.remote_verification,
        ctx.deadline.map(epoch_micros),
    )
}

/// `time` as whole seconds and microseconds since the epoch (floored, so times before 1970
/// work too).
fn epoch_micros(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_micros()),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_micros() {
                0 => (-secs, 0),
                us => (-secs - 1, 1_000_000 - us),
            }
        }
    }
}

/// Message options as the bridge takes them: `(digest, hash_func)`.
pub fn options_tuple(opts: &MessageOptions) -> (Option<Vec<u8>>, Option<u32>) {
    (opts.digest().map(<[u8]>::to_vec), opts.hash_func.map(core::HashFunc::number))
}

impl PyHandler {
    /// Wraps `obj` after checking it has the six methods.
    pub fn new(py: Python<'_>, obj: Py<PyAny>, report: Report) -> PyResult<Self> {
        bridge(py)?.call_method1("check_handler", (obj.bind(py),))?;
        Ok(PyHandler { obj, report })
    }

    fn call<T>(
        &self,
        f: impl FnOnce(Python<'_>, &Bound<'_, PyModule>, &Bound<'_, PyAny>) -> PyResult<T>,
    ) -> Result<T, HandlerError> {
        Python::attach(|py| {
            let result = bridge(py).and_then(|b| f(py, b, self.obj.bind(py)));
            result.map_err(|e| error::handler_error(py, e, self.report))
        })
    }
}

impl KmsHandler for PyHandler {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        self.call(|_, b, obj| b.call_method1("default_algorithm", (obj, context_tuple(ctx)))?.extract())
    }

    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        self.call(|_, b, obj| b.call_method1("supported_algorithms", (obj, context_tuple(ctx)))?.extract())
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        self.call(|_, b, obj| b.call_method1("create_key", (obj, context_tuple(ctx), algorithm))?.extract())
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        self.call(|_, b, obj| b.call_method1("public_key", (obj, context_tuple(ctx)))?.extract())
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        self.call(|py, b, obj| {
            let lent = Lent::new(py, message)?;
            let r = b.call_method1("sign_message", (obj, context_tuple(ctx), lent.stream(), options_tuple(opts)))?;
            Ok(r.cast::<PyBytes>()?.as_bytes().to_vec())
        })
    }

    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError> {
        self.call(|py, b, obj| {
            let lent = Lent::new(py, message)?;
            let sig = PyBytes::new(py, signature);
            b.call_method1("verify_signature", (obj, context_tuple(ctx), sig, lent.stream(), options_tuple(opts)))?;
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The message, lent to Python for the duration of one handler call

/// The reader a handler call was given, reachable from Python only during that call and only
/// from the thread making it.
struct LentReader {
    reader: *mut (dyn Read + 'static),
}

// SAFETY: `reader` is dereferenced only by `MessageStream::read`, which first checks that it runs
// on the thread that lent it (`MessageStream::owner`) — the thread whose stack the borrowed
// reader lives on — and only while the pointer is still set, which `Lent::drop` ends before that
// borrow ends. The pointer itself may be moved between threads.
unsafe impl Send for LentReader {}

/// The message of a `sign_message`/`verify_signature` call, as the bridge sees it (it wraps
/// this in an `io.BufferedReader`). Reading after the call returned raises `ValueError`.
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
pub struct MessageStream {
    owner: ThreadId,
    reader: Mutex<Option<LentReader>>,
}

/// Lends a reader to Python; dropping it (at the end of the call, or on unwinding) revokes it.
struct Lent<'py, 'a> {
    stream: Bound<'py, MessageStream>,
    _borrow: PhantomData<&'a mut ()>,
}

impl<'py, 'a> Lent<'py, 'a> {
    fn new(py: Python<'py>, reader: &'a mut dyn Read) -> PyResult<Self> {
        let ptr: *mut (dyn Read + 'a) = reader;
        // SAFETY: only erases the lifetime; see `LentReader` for why the pointer never outlives
        // the borrow (it is cleared in `Drop`, and `'a` outlives `self`).
        // (An `as` cast cannot extend a trait object's lifetime; a transmute can.)
        #[allow(clippy::transmute_ptr_to_ptr)]
        let ptr = unsafe { std::mem::transmute::<*mut (dyn Read + 'a), *mut (dyn Read + 'static)>(ptr) };
        let stream =
            MessageStream { owner: std::thread::current().id(), reader: Mutex::new(Some(LentReader { reader: ptr })) };
        Ok(Lent { stream: Bound::new(py, stream)?, _borrow: PhantomData })
    }

    fn stream(&self) -> &Bound<'py, MessageStream> {
        &self.stream
    }
}

impl Drop for Lent<'_, '_> {
    fn drop(&mut self) {
        *self.stream.get().reader.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Moves the lent pointer into `py.detach` (which runs its closure on this same thread).
struct SameThread<T>(T);
// SAFETY: `Python::detach` runs the closure on the calling thread; nothing crosses threads.
unsafe impl<T> Send for SameThread<T> {}

#[pymethods]
impl MessageStream {
    /// Reads up to `size` bytes (all that is left when `size` is negative); `b""` at the end.
    #[pyo3(signature = (size = -1), text_signature = "(self, /, size=-1)")]
    fn read<'py>(&self, py: Python<'py>, size: isize) -> PyResult<Bound<'py, PyBytes>> {
        if std::thread::current().id() != self.owner {
            return Err(PyRuntimeError::new_err(
                "the message can only be read from the thread the handler method was called on",
            ));
        }
        let guard = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(lent) = guard.as_ref() else {
            return Err(PyValueError::new_err("I/O operation on a closed message: the handler call has returned"));
        };
        let reader = SameThread(lent.reader);
        let want = usize::try_from(size).ok();
        let result = py.detach(move || {
            let reader = reader;
            // SAFETY: see `LentReader`: we are on the owning thread, and the pointer is set (we
            // hold the lock that `Lent::drop` takes to clear it).
            let reader = unsafe { &mut *reader.0 };
            let mut out = Vec::new();
            match want {
                Some(n) => {
                    // A short read is allowed; a huge `size` must not allocate that much.
                    out.resize(n.min(MAX_READ), 0);
                    let got = loop {
                        match reader.read(&mut out) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            other => break other?,
                        }
                    };
                    out.truncate(got);
                }
                None => {
                    reader.read_to_end(&mut out)?;
                }
            }
            Ok::<_, std::io::Error>(out)
        });
        drop(guard);
        let bytes = result.map_err(|e| crate::error::os_error(&e, None))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MessageStream>()?;
    Ok(())
}
