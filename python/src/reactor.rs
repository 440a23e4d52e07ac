//! Awaitable calls: the core's [`Reactor`] on the running asyncio loop, its completions turned
//! into `asyncio.Future` results.
//!
//! One reactor per event loop (and process), registered with the loop once
//! (`loop.add_reader(reactor.fd, ...)`): every awaited call, whatever its route, is submitted to
//! it. A call on a plugin program with its message in memory (or none) is started on the loop's
//! thread (the GIL released meanwhile; the start returns once the plugin has exec'd) and driven
//! with non-blocking I/O from the loop's reader callback: no thread. Any other call (a message
//! read from a path or a file object, an in-process provider) runs on a worker thread of the
//! core, and its result comes back through the same descriptor. Either way the future is set from
//! the reader callback, on the loop's thread: no `call_soon_threadsafe`, and no thread of ours
//! ever touches Python to deliver a result.
//!
//! Cancelling the future (`task.cancel()`, `asyncio.wait_for` expiring) cancels the call at once
//! (the future's done-callback): the plugin is killed and reaped. A future that becomes garbage
//! while its call runs (never awaited, on a loop that was closed) cancels it too (a weak reference
//! to the future, with a callback), and so does a reactor whose loop is gone (dropping it ends
//! every call). A process made by `os.fork()` gets a reactor of its own; the parent's copy is
//! left alone (its calls are the parent's).

use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyWeakrefReference;
use sigstore_kms_plugins::{CallId, Reactor, Reply, Route};

/// Turns a finished call's result into the future's value or exception.
pub type Settle = Box<dyn FnOnce(Python<'_>, sigstore_kms_plugins::Result<Reply>) -> PyResult<Py<PyAny>> + Send>;

/// The reactor of one event loop. Private to the package.
#[pyclass(frozen, module = "sigstore_kms_plugins._native", name = "Reactor")]
pub struct LoopReactor {
    /// `None` only while being dropped in a process made by `fork()` (see `Drop`).
    reactor: Option<Reactor>,
    /// The process that made it.
    pid: u32,
}

impl LoopReactor {
    fn reactor(&self) -> PyResult<&Reactor> {
        self.reactor.as_ref().ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("the reactor is gone"))
    }

    /// The reactor of `event_loop`, made and registered with the loop on first use.
    fn of<'py>(event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, LoopReactor>> {
        static REGISTRY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = event_loop.py();
        let registry = REGISTRY
            .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
                Ok(py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?.unbind())
            })?
            .bind(py);
        if let Ok(found) = registry.call_method1(intern!(py, "get"), (event_loop,))?.cast_into::<LoopReactor>() {
            if found.get().pid == std::process::id() {
                return Ok(found);
            }
        }
        let reactor = Reactor::new().map_err(|e| crate::error::os_error(&e, None))?;
        let reactor = Bound::new(py, LoopReactor { reactor: Some(reactor), pid: std::process::id() })?;
        let fd = reactor.get().reactor()?.fd().as_raw_fd();
        let on_ready = reactor.getattr(intern!(py, "_on_ready"))?;
        event_loop.call_method1(intern!(py, "add_reader"), (fd, on_ready))?;
        registry.set_item(event_loop, &reactor)?;
        Ok(reactor)
    }
}

#[pymethods]
impl LoopReactor {
    /// The loop's reader callback: runs what is due, and the completions of the calls that
    /// ended (which set their futures).
    fn _on_ready(&self) -> PyResult<()> {
        // The GIL stays held: the I/O never blocks, and the completions need it.
        self.reactor()?.dispatch();
        Ok(())
    }
}

impl Drop for LoopReactor {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            // A copy made by os.fork(): its calls (and their plugins) are the parent's, and any
            // thread it had is not in this process.
            std::mem::forget(self.reactor.take());
        }
    }
}

/// The done-callback of a call's future, and the callback of the weak reference to it: either
/// means nobody waits for the call any more (unless it already ended), so it is cancelled.
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
pub struct CancelCall {
    reactor: Py<LoopReactor>,
    id: OnceLock<CallId>,
}

#[pymethods]
impl CancelCall {
    fn __call__(&self, _future_or_reference: &Bound<'_, PyAny>) {
        if let (Some(id), Some(reactor)) = (self.id.get(), self.reactor.get().reactor.as_ref()) {
            reactor.cancel(*id);
        }
    }
}

/// The running asyncio loop of this thread; `RuntimeError("no running event loop")` without one.
pub fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop")?.call0()
}

/// Returns an `asyncio.Future` of the running loop for `route`, run by the loop's reactor; its
/// outcome is what `settle` makes of the call's result.
pub fn submit(py: Python<'_>, route: Route, settle: Settle) -> PyResult<Bound<'_, PyAny>> {
    let event_loop = running_loop(py)?;
    let reactor = LoopReactor::of(&event_loop)?;
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let cancel = Bound::new(py, CancelCall { reactor: reactor.clone().unbind(), id: OnceLock::new() })?;
    let weak = PyWeakrefReference::new_with(&future, cancel.clone())?.unbind();
    let completion = move |result: sigstore_kms_plugins::Result<Reply>| {
        Python::attach(|py| {
            let outcome = settle(py, result);
            if let Some(future) = weak.bind(py).upgrade() {
                resolve(&future, outcome);
            }
        });
    };
    let running = reactor.get().reactor()?;
    // Starting a plugin waits for its exec: other Python threads may run meanwhile.
    let id = py.detach(|| running.submit(route, completion));
    let _ = cancel.get().id.set(id);
    future.call_method1(intern!(py, "add_done_callback"), (cancel,))?;
    Ok(future)
}

/// Sets the result or exception of `future`, unless it is already done (cancelled).
fn resolve(future: &Bound<'_, PyAny>, outcome: PyResult<Py<PyAny>>) {
    let py = future.py();
    if future.call_method0(intern!(py, "done")).and_then(|d| d.is_truthy()).unwrap_or(true) {
        return;
    }
    // Fails only if the loop was closed meanwhile: then nobody is waiting.
    let _ = match outcome {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
        Err(e) => future.call_method1(intern!(py, "set_exception"), (e.into_value(py),)),
    };
}
