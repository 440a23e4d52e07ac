//! Plugin calls driven by the running asyncio event loop itself: no thread and no cross-thread
//! wake-up per call.
//!
//! A call on a plugin program whose message is in memory (or that has none) is spawned on the
//! event loop's thread (the GIL released meanwhile; the spawn returns once the plugin has
//! exec'd), and the core's [`RunningCall`] is then driven by the loop: `loop.add_reader` /
//! `loop.add_writer` on the plugin's pipes and pidfd, plus one `loop.call_later` timer, all
//! calling back into [`LoopCall`]. Every step is non-blocking I/O; the `asyncio.Future` is set
//! from the step that ends the call. Calls whose message is a file, a path or a Python file
//! object, and in-process providers, keep running on the Tokio runtime (`signer.rs`,
//! [`crate::runtime::spawn_awaitable`]).
//!
//! Descriptors are unwatched before the core closes them (see `process::exchange` in the core):
//! a closed number could otherwise be reused by the next call's pipe while asyncio still
//! watches it. Cancelling the future (`task.cancel()`, `asyncio.wait_for` expiring) kills and
//! reaps the plugin at once (a done-callback of the future). A call that cannot be driven any
//! more (an asyncio method raised) kills its plugin and fails with that exception. If a
//! pending call's loop and future become garbage (a future never awaited on a loop that was
//! closed), the cycle collector frees the call, which kills and reaps its plugin.

use std::os::fd::RawFd;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use pyo3::exceptions::PyRuntimeError;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::PyTraverseError;
use sigstore_kms_plugins::process::{Channel, Watches};
use sigstore_kms_plugins::RunningCall;

/// Makes a finished call's Python value (or exception), once its watches are gone.
type Settle = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>>>;

/// A [`RunningCall`] with its result type erased.
trait Drive: Send {
    fn watches(&self) -> Watches;
    fn next_timer(&self) -> Option<Instant>;
    fn on_ready(&mut self, channel: Channel) -> Option<Settle>;
    fn on_timer(&mut self) -> Option<Settle>;
    fn release_closed(&mut self);
    fn cancel(&mut self);
}

struct Driven<T, F> {
    call: RunningCall<T>,
    /// Turns the call's result into Python; taken by the step that ends the call.
    finish: Option<F>,
}

impl<T, F> Driven<T, F>
where
    T: Send + 'static,
    F: FnOnce(Python<'_>, sigstore_kms_plugins::Result<T>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    fn settle_with(&mut self, result: sigstore_kms_plugins::Result<T>) -> Settle {
        match self.finish.take() {
            Some(finish) => Box::new(move |py| finish(py, result)),
            None => Box::new(|_| Err(PyRuntimeError::new_err("a plugin call ended twice"))),
        }
    }
}

impl<T, F> Drive for Driven<T, F>
where
    T: Send + 'static,
    F: FnOnce(Python<'_>, sigstore_kms_plugins::Result<T>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    fn watches(&self) -> Watches {
        self.call.watches()
    }
    fn next_timer(&self) -> Option<Instant> {
        self.call.next_timer()
    }
    fn on_ready(&mut self, channel: Channel) -> Option<Settle> {
        let result = self.call.on_ready(channel)?;
        Some(self.settle_with(result))
    }
    fn on_timer(&mut self) -> Option<Settle> {
        let result = self.call.on_timer()?;
        Some(self.settle_with(result))
    }
    fn release_closed(&mut self) {
        self.call.release_closed();
    }
    fn cancel(&mut self) {
        let _ = self.call.cancel();
    }
}

/// One call in flight, driven by its event loop: the callable behind its readers, writers,
/// timer and future done-callback. Private to the module (not exported).
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
pub struct LoopCall {
    state: Mutex<CallState>,
}

struct CallState {
    /// The running call; `None` once it is over.
    task: Option<Box<dyn Drive>>,
    event_loop: Option<Py<PyAny>>,
    future: Option<Py<PyAny>>,
    /// The fd registered per channel, in the order of [`Channel::ALL`] (a writer for stdin, a
    /// reader for the others).
    polls: [Option<RawFd>; 4],
    /// The `asyncio.TimerHandle` armed for [`CallState::timer_due`].
    timer: Option<Py<PyAny>>,
    timer_due: Option<Instant>,
}

/// Returns an `asyncio.Future` of `event_loop` (the running loop of this thread) for the call
/// `start` spawns, driven on that loop; its outcome is what `finish` makes of the call's result.
/// A call that cannot start fails the future.
pub fn drive<'py, T, S, F>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    start: S,
    finish: F,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    S: FnOnce() -> sigstore_kms_plugins::Result<RunningCall<T>> + Send,
    F: FnOnce(Python<'_>, sigstore_kms_plugins::Result<T>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    // Spawning waits for the plugin's exec: other Python threads may run meanwhile.
    let call = match py.detach(start) {
        Ok(call) => call,
        Err(e) => {
            resolve(&future, finish(py, Err(e)));
            return Ok(future);
        }
    };
    let state = CallState {
        task: Some(Box::new(Driven { call, finish: Some(finish) })),
        event_loop: Some(event_loop.clone().unbind()),
        future: Some(future.clone().unbind()),
        polls: [None; 4],
        timer: None,
        timer_due: None,
    };
    // Until the first watch is registered, an error here just drops the call (killing and
    // reaping the plugin).
    let call = Bound::new(py, LoopCall { state: Mutex::new(state) })?;
    future.call_method1(intern!(py, "add_done_callback"), (call.getattr(intern!(py, "_done"))?,))?;
    let mut s = call.get().lock();
    let synced = sync(&call, &mut s);
    if let Err(e) = synced {
        fail(py, &mut s, e);
    }
    drop(s);
    Ok(future)
}

impl LoopCall {
    fn lock(&self) -> std::sync::MutexGuard<'_, CallState> {
        // Only the loop's thread locks it (the collector only tries, and never waits), so it is
        // never contended. The state stays consistent even if a panic poisoned it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl LoopCall {
    /// Reader/writer callback: the descriptor of `Channel::ALL[channel]` is ready.
    fn _ready(slf: &Bound<'_, Self>, channel: usize) {
        let mut s = slf.get().lock();
        let (Some(&channel), Some(Some(_))) = (Channel::ALL.get(channel), s.polls.get(channel)) else {
            return;
        };
        let Some(task) = s.task.as_mut() else { return };
        let step = task.on_ready(channel);
        advance(slf, &mut s, step);
    }

    /// Timer callback: the time of `next_timer()` came (its handle is spent).
    fn _timer(slf: &Bound<'_, Self>) {
        let mut s = slf.get().lock();
        s.timer = None;
        s.timer_due = None;
        let Some(task) = s.task.as_mut() else { return };
        let step = task.on_timer();
        advance(slf, &mut s, step);
    }

    /// Done-callback of the future: done while the call runs means cancelled (or resolved by
    /// someone else): kill and reap the plugin, stop watching.
    fn _done(slf: &Bound<'_, Self>, _future: &Bound<'_, PyAny>) {
        let py = slf.py();
        let mut s = slf.get().lock();
        let Some(task) = s.task.as_mut() else { return };
        task.cancel();
        let _ = close_all(py, &mut s);
        s.task = None;
        s.future = None;
        s.event_loop = None;
    }

    #[allow(clippy::needless_pass_by_value)] // the signature PyO3 requires
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block here: the loop's thread may hold the lock while running Python code.
        // References not reported are only kept alive longer.
        if let Ok(s) = self.state.try_lock() {
            visit.call(&s.event_loop)?;
            visit.call(&s.future)?;
            visit.call(&s.timer)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        // Garbage: nobody can call us any more. Dropping the references lets the call be freed,
        // which kills and reaps a plugin still running.
        if let Ok(mut s) = self.state.try_lock() {
            s.future = None;
            s.event_loop = None;
            s.timer = None;
        }
    }
}

/// Brings the loop's watches in line with what the call wants watched now, then lets the core
/// close what nobody watches any more, then (re-)arms the timer if its time changed.
fn sync(slf: &Bound<'_, LoopCall>, s: &mut CallState) -> PyResult<()> {
    let py = slf.py();
    let Some(task) = s.task.as_ref() else { return Ok(()) };
    let Some(event_loop) = s.event_loop.as_ref().map(|l| l.bind(py).clone()) else { return Ok(()) };
    let watches = task.watches();
    for (i, channel) in Channel::ALL.into_iter().enumerate() {
        let want = watches.get(channel);
        if s.polls[i] == want {
            continue;
        }
        if let Some(fd) = s.polls[i].take() {
            unwatch(&event_loop, channel, fd)?;
        }
        let Some(fd) = want else { continue };
        let ready = slf.getattr(intern!(py, "_ready"))?;
        let add = if channel.writable() { intern!(py, "add_writer") } else { intern!(py, "add_reader") };
        event_loop.call_method1(add, (fd, ready, i))?;
        s.polls[i] = Some(fd);
    }
    if let Some(task) = s.task.as_mut() {
        task.release_closed();
    }
    let due = s.task.as_ref().and_then(|t| t.next_timer());
    if due == s.timer_due {
        return Ok(());
    }
    s.timer_due = due;
    if let Some(old) = s.timer.take() {
        old.bind(py).call_method0(intern!(py, "cancel"))?;
    }
    if let Some(at) = due {
        // Rounded up to the millisecond (epoll's unit): firing early would only re-arm.
        let micros = at.saturating_duration_since(Instant::now()).as_micros();
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 ms
        let seconds = micros.div_ceil(1000) as f64 / 1000.0;
        let on_timer = slf.getattr(intern!(py, "_timer"))?;
        s.timer = Some(event_loop.call_method1(intern!(py, "call_later"), (seconds, on_timer))?.unbind());
    }
    Ok(())
}

fn unwatch(event_loop: &Bound<'_, PyAny>, channel: Channel, fd: RawFd) -> PyResult<()> {
    let py = event_loop.py();
    let remove = if channel.writable() { intern!(py, "remove_writer") } else { intern!(py, "remove_reader") };
    event_loop.call_method1(remove, (fd,)).map(drop)
}

/// After a step: settle if it ended the call, otherwise update the watches.
fn advance(slf: &Bound<'_, LoopCall>, s: &mut CallState, step: Option<Settle>) {
    let py = slf.py();
    match step {
        Some(settle) => finish(py, s, settle),
        None => {
            if let Err(e) = sync(slf, s) {
                fail(py, s, e);
            }
        }
    }
}

/// Ends a call that can no longer be driven: kills the plugin and fails with `error`.
fn fail(py: Python<'_>, s: &mut CallState, error: PyErr) {
    if let Some(task) = s.task.as_mut() {
        task.cancel();
    }
    finish(py, s, Box::new(move |_| Err(error)));
}

/// Stops every watch and the timer of the call, then lets the core close its descriptors.
/// Returns the first error of asyncio's, after trying everything.
fn close_all(py: Python<'_>, s: &mut CallState) -> PyResult<()> {
    let mut first_error = None;
    if let Some(event_loop) = s.event_loop.as_ref().map(|l| l.bind(py)) {
        for (i, channel) in Channel::ALL.into_iter().enumerate() {
            if let Some(fd) = s.polls[i].take() {
                if let Err(e) = unwatch(event_loop, channel, fd) {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    if let Some(timer) = s.timer.take() {
        if let Err(e) = timer.bind(py).call_method0(intern!(py, "cancel")) {
            first_error.get_or_insert(e);
        }
    }
    s.timer_due = None;
    if let Some(task) = s.task.as_mut() {
        task.release_closed();
    }
    first_error.map_or(Ok(()), Err)
}

/// The call is over: stop watching, free the call, and set the future (unless already done).
fn finish(py: Python<'_>, s: &mut CallState, settle: Settle) {
    // An error stopping a watch cannot be reported any better than the call's own outcome.
    let _ = close_all(py, s);
    s.task = None;
    s.event_loop = None;
    let outcome = settle(py);
    if let Some(future) = s.future.take() {
        resolve(future.bind(py), outcome);
    }
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
