//! The Tokio runtime behind the calls that need one, and the bridge from Rust futures to
//! asyncio.
//!
//! * Blocking calls made on the main thread run the core's blocking engine on the calling
//!   thread with [`call_interruptible`]: the GIL is released, and every [`SIGNAL_POLL`] (and at
//!   once when a signal interrupts the engine's wait) the thread briefly re-attaches to run
//!   Python's signal handlers, so Ctrl-C raises `KeyboardInterrupt` promptly and kills the
//!   plugin instead of waiting for it (a plugin runs in its own process group, so the terminal's
//!   SIGINT never reaches it). No other thread is involved: handing the call to a worker thread
//!   and back cost tens of microseconds per call. Other threads cannot receive Python signals,
//!   so there the core's plain blocking call is used (see `signer.rs`).
//! * Awaitable calls on a plugin program with no message or an in-memory one (`bytes`, copied
//!   buffers) never come here: they are driven by the running asyncio loop itself
//!   ([`crate::event_loop`]: one epoll descriptor per loop, no thread at all).
//! * The other awaitable calls (a message read from a path or a file object, which could block
//!   the loop; in-process providers, whose Python handler runs on a worker thread) are spawned
//!   on the runtime by [`spawn_awaitable`], which returns an `asyncio.Future` of the running
//!   loop. The result is delivered with `loop.call_soon_threadsafe`; cancelling the future
//!   aborts the Rust task, which drops the core's future, which kills the plugin's process
//!   group. No Python thread is used per call. The runtime is built the first time such a call
//!   is made.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tokio::runtime::{Builder, Runtime};

/// How often a blocking call checks for Python signals (Ctrl-C).
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The runtime and the process it was built in.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The process-wide runtime (two worker threads; plugins run on its blocking pool).
///
/// A child made by `os.fork()` does not have the parent's threads, so a runtime built before a
/// fork is useless after it: the child builds its own (the parent's is leaked, not dropped, as
/// dropping it would wait for threads that do not exist).
pub fn runtime() -> PyResult<&'static Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((built_in, rt)) = *slot {
        if built_in == pid {
            return Ok(rt);
        }
    }
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sigstore-kms-rt")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the Tokio runtime: {e}")))?;
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *slot = Some((pid, rt));
    Ok(rt)
}

/// Whether this is the process's main thread, where Python runs its signal handlers.
#[must_use]
pub fn on_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions. The main thread's id is the process id.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        tid == i64::from(std::process::id())
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Runs `call` (plugin calls through the core's blocking API) on this thread with the GIL
/// released. While a plugin runs, Python's signal handlers run every [`SIGNAL_POLL`] and when a
/// signal interrupts the wait; if one raises (e.g. `KeyboardInterrupt`), the plugin's process
/// group is killed and reaped, and that exception is returned instead of the call's result.
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
        let out = sigstore_kms_plugins::process::with_interrupt_check(SIGNAL_POLL, check, call);
        let raised = raised.borrow_mut().take();
        (out, raised)
    });
    match raised {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Sets the outcome of an asyncio future, on its loop's thread (scheduled there with
/// `call_soon_threadsafe`), unless it is already done (cancelled).
#[pyfunction]
fn _resolve_future(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        future.call_method1("set_result", (value,))?;
    } else {
        future.call_method1("set_exception", (value,))?;
    }
    Ok(())
}

/// Done-callback of an awaitable: a cancelled future aborts its Rust task.
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
struct AbortOnCancel(tokio::task::AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Spawns `fut` on the runtime and returns an `asyncio.Future` (of the running event loop) that
/// receives `finish(output)`; cancelling that future aborts `fut`.
///
/// Raises `RuntimeError` when there is no running event loop (call it from a coroutine).
pub fn spawn_awaitable<'py, F, R, G>(py: Python<'py>, fut: F, finish: G) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = R> + Send + 'static,
    R: Send + 'static,
    G: for<'a> FnOnce(Python<'a>, R) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let resolve = RESOLVE
        .get_or_try_init(py, || wrap_pyfunction!(_resolve_future, py).map(|f| f.into_any().unbind()))?
        .clone_ref(py);
    let (loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
    let task = runtime()?.spawn(async move {
        let output = fut.await;
        let _delivering = Delivery::start()?;
        Python::attach(|py| {
            let (ok, value) = match finish(py, output) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            // Fails only if the loop was closed meanwhile: then nobody is waiting.
            let _ = loop_ref.bind(py).call_method1("call_soon_threadsafe", (resolve, future_ref, ok, value));
        });
        Some(())
    });
    future.call_method1("add_done_callback", (AbortOnCancel(task.abort_handle()),))?;
    Ok(future)
}

/// Set by the `atexit` hook: the interpreter is shutting down, runtime threads must not touch
/// Python any more.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// Runtime threads currently attached to Python to deliver a result.
static DELIVERING: AtomicUsize = AtomicUsize::new(0);

/// One delivery of a result to Python by a runtime thread, counted so that interpreter shutdown
/// can wait for it.
///
/// Why: when the interpreter finalizes while a runtime thread is inside
/// `call_soon_threadsafe` (which releases and re-takes the GIL around its self-pipe write),
/// CPython ends that thread with `pthread_exit`, and the forced unwind through Rust frames
/// aborts the whole process. The `atexit` hook ([`_shutdown_deliveries`]) runs before
/// finalization: it stops new deliveries and waits, GIL released, for the ones under way.
struct Delivery;

impl Delivery {
    /// Counts a delivery in, or `None` once shutdown began (the result is then dropped: nobody
    /// can be waiting for it).
    fn start() -> Option<Delivery> {
        // Count first, then check: either the hook sees this delivery, or it sees the flag.
        DELIVERING.fetch_add(1, Ordering::SeqCst);
        if SHUTTING_DOWN.load(Ordering::SeqCst) {
            DELIVERING.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Delivery)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        DELIVERING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `atexit` hook: no more deliveries, and wait (at most a few seconds, GIL released) for those
/// under way, so no runtime thread is attached to Python when the interpreter finalizes.
#[pyfunction]
fn _shutdown_deliveries(py: Python<'_>) {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while DELIVERING.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AbortOnCancel>()?;
    let hook = wrap_pyfunction!(_shutdown_deliveries, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}
