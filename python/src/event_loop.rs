//! Plugin calls driven by the running asyncio event loop itself: no thread and no cross-thread
//! wake-up per call.
//!
//! A call on a plugin program whose message is in memory (or that has none) is spawned on the
//! event loop's thread (the GIL released meanwhile; the spawn returns once the plugin has
//! exec'd), and the core's [`RunningCall`] is then driven by the loop through one [`Reactor`]
//! per loop: an epoll instance of ours, registered with the loop once (`loop.add_reader`), that
//! holds every running call's pipes and pidfd and a timerfd for their timeouts. A call thus
//! costs asyncio only its `Future` (per-descriptor `add_reader`/`remove_reader` and a
//! `call_later` per call are pure-Python work: about half of what a call cost, see
//! `bench/RESULTS.md`). Every step is non-blocking I/O; the `asyncio.Future` is set from the
//! step that ends the call. Calls whose message is a file, a path or a Python file object, and
//! in-process providers, keep running on the Tokio runtime (`signer.rs`,
//! [`crate::runtime::spawn_awaitable`]).
//!
//! Descriptors leave the epoll set before the core closes them (see `process::exchange` in the
//! core). Cancelling the future (`task.cancel()`, `asyncio.wait_for` expiring) kills and reaps
//! the plugin at once (a done-callback of the future). A call that cannot be driven any more
//! kills its plugin and fails. If a pending call's loop and future become garbage (a future
//! never awaited on a loop that was closed), the collector frees the call, which kills and
//! reaps its plugin. A process made by `os.fork()` gets a reactor of its own.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyWeakrefReference;
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

/// One call in flight, driven by its loop's [`Reactor`]: also the done-callback of its future.
/// Private to the module (not exported).
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
pub struct LoopCall {
    state: Mutex<CallState>,
}

struct CallState {
    /// The running call; `None` once it is over.
    task: Option<Box<dyn Drive>>,
    reactor: Option<Py<Reactor>>,
    /// This call's number in its reactor.
    id: u64,
    /// A weak reference: a future nobody holds any more (never awaited, its loop gone) is
    /// collected, and its [`Orphaned`] callback then kills the plugin.
    future: Option<Py<PyWeakrefReference>>,
    /// The fd in the epoll set per channel, in the order of [`Channel::ALL`].
    polls: [Option<RawFd>; 4],
    /// The time this call's timer is filed under in the reactor.
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
    let reactor = Reactor::of(event_loop)?;
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    // Spawning waits for the plugin's exec: other Python threads may run meanwhile.
    let call = match py.detach(start) {
        Ok(call) => call,
        Err(e) => {
            resolve(&future, finish(py, Err(e)));
            return Ok(future);
        }
    };
    let id = reactor.get().next_id();
    let orphaned = Bound::new(py, Orphaned { reactor: reactor.clone().unbind(), id })?;
    let weak = PyWeakrefReference::new_with(&future, orphaned)?;
    let state = CallState {
        task: Some(Box::new(Driven { call, finish: Some(finish) })),
        reactor: Some(reactor.clone().unbind()),
        id,
        future: Some(weak.unbind()),
        polls: [None; 4],
        timer_due: None,
    };
    // Until it is in the reactor, an error here just drops the call (killing and reaping the
    // plugin).
    let call = Bound::new(py, LoopCall { state: Mutex::new(state) })?;
    future.call_method1(intern!(py, "add_done_callback"), (call.clone(),))?;
    reactor.get().lock().calls.insert(id, call.clone().unbind());
    let mut s = call.get().lock();
    if let Err(e) = sync(py, &mut s) {
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

    /// The descriptor of `Channel::ALL[channel]` is ready.
    fn ready(&self, py: Python<'_>, channel: usize) {
        let mut s = self.lock();
        let (Some(&channel), Some(Some(_))) = (Channel::ALL.get(channel), s.polls.get(channel)) else {
            return;
        };
        let Some(task) = s.task.as_mut() else { return };
        let step = task.on_ready(channel);
        advance(py, &mut s, step);
    }

    /// The call's timer is due.
    fn timer(&self, py: Python<'_>) {
        let mut s = self.lock();
        s.timer_due = None;
        let Some(task) = s.task.as_mut() else { return };
        let step = task.on_timer();
        advance(py, &mut s, step);
    }
}

impl LoopCall {
    /// Ends the call without a result (its future was cancelled or is gone): kills and reaps
    /// the plugin, stops watching.
    fn abandon(&self, py: Python<'_>) {
        let mut s = self.lock();
        let Some(task) = s.task.as_mut() else { return };
        task.cancel();
        close_all(py, &mut s);
        s.task = None;
        s.future = None;
    }
}

#[pymethods]
impl LoopCall {
    /// Done-callback of the future: done while the call runs means cancelled (or resolved by
    /// someone else).
    fn __call__(&self, py: Python<'_>, _future: &Bound<'_, PyAny>) {
        self.abandon(py);
    }

    #[allow(clippy::needless_pass_by_value)] // the signature PyO3 requires
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block here: the loop's thread may hold the lock while running Python code.
        // References not reported are only kept alive longer.
        if let Ok(s) = self.state.try_lock() {
            visit.call(&s.reactor)?;
            visit.call(&s.future)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        // Garbage: nobody can call us any more. Dropping the references lets the call be freed,
        // which kills and reaps a plugin still running.
        if let Ok(mut s) = self.state.try_lock() {
            s.future = None;
            s.reactor = None;
        }
    }
}

/// The callback of a call's weak reference to its future: the future was collected while the
/// call ran (nobody can await it any more).
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
pub struct Orphaned {
    reactor: Py<Reactor>,
    id: u64,
}

#[pymethods]
impl Orphaned {
    fn __call__(&self, py: Python<'_>, _reference: &Bound<'_, PyAny>) {
        let call = self.reactor.get().lock().calls.get(&self.id).map(|c| c.clone_ref(py));
        if let Some(call) = call {
            call.get().abandon(py);
        }
    }
}

/// One per event loop (and process): an epoll instance holding every running call's
/// descriptors, plus a timerfd for their timers, registered with the loop once.
#[pyclass(frozen, module = "sigstore_kms_plugins._native")]
pub struct Reactor {
    epoll: OwnedFd,
    timerfd: OwnedFd,
    /// The process that made it: after `os.fork()` the epoll instance would be shared with it.
    pid: u32,
    inner: Mutex<ReactorState>,
}

#[derive(Default)]
struct ReactorState {
    next_id: u64,
    calls: HashMap<u64, Py<LoopCall>>,
    /// Every call's next timer.
    timers: BTreeSet<(Instant, u64)>,
    /// What the timerfd is armed for (it may fire early for a timer since cancelled: harmless).
    armed: Option<Instant>,
}

/// The epoll token of the timerfd (call tokens are `id << 2 | channel`, ids start at 1).
const TIMER_TOKEN: u64 = 0;
/// Events read per `epoll_wait`.
const EVENTS: usize = 64;
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // 64
const EVENTS_INT: libc::c_int = EVENTS as libc::c_int;

impl Reactor {
    /// The reactor of `event_loop`, made and registered with the loop on first use.
    fn of<'py>(event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Reactor>> {
        static REGISTRY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = event_loop.py();
        let registry = REGISTRY
            .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
                Ok(py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?.unbind())
            })?
            .bind(py);
        if let Ok(found) = registry.call_method1(intern!(py, "get"), (event_loop,))?.cast_into::<Reactor>() {
            if found.get().pid == std::process::id() {
                return Ok(found);
            }
        }
        let reactor = Bound::new(py, Reactor::new()?)?;
        let on_ready = reactor.getattr(intern!(py, "_on_ready"))?;
        event_loop.call_method1(intern!(py, "add_reader"), (reactor.get().epoll.as_raw_fd(), on_ready))?;
        registry.set_item(event_loop, &reactor)?;
        Ok(reactor)
    }

    fn new() -> PyResult<Self> {
        // SAFETY: plain syscalls making fresh close-on-exec fds, owned below.
        let (epoll, timerfd) = unsafe {
            let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if epoll < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            let epoll = OwnedFd::from_raw_fd(epoll);
            let timerfd = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK);
            if timerfd < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            (epoll, OwnedFd::from_raw_fd(timerfd))
        };
        let reactor = Reactor { epoll, timerfd, pid: std::process::id(), inner: Mutex::default() };
        reactor.ctl(libc::EPOLL_CTL_ADD, reactor.timerfd.as_raw_fd(), libc::EPOLLIN, TIMER_TOKEN)?;
        Ok(reactor)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReactorState> {
        // Held only for map and set updates, never across Python code or a call's lock.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(&self) -> u64 {
        let mut r = self.lock();
        r.next_id += 1;
        r.next_id
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: libc::c_int, token: u64) -> std::io::Result<()> {
        #[allow(clippy::cast_sign_loss)] // epoll's event bits, as the kernel takes them
        let mut event = libc::epoll_event { events: events as u32, u64: token };
        // SAFETY: epoll_ctl on our epoll fd with a valid event struct.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &raw mut event) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Files a call's timer (`due`) in place of its previous one, arming the timerfd earlier if
    /// needed.
    fn set_timer(&self, id: u64, previous: Option<Instant>, due: Option<Instant>) -> std::io::Result<()> {
        let mut r = self.lock();
        if let Some(p) = previous {
            r.timers.remove(&(p, id));
        }
        let Some(due) = due else { return Ok(()) };
        r.timers.insert((due, id));
        if r.armed.is_some_and(|a| a <= due) {
            return Ok(());
        }
        r.armed = Some(due);
        drop(r);
        self.arm(due)
    }

    fn arm(&self, at: Instant) -> std::io::Result<()> {
        // A relative time, at least 1 ns (zero would disarm).
        let wait = at.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(wait.subsec_nanos()),
            },
        };
        // SAFETY: timerfd_settime on our timerfd with a valid spec.
        if unsafe { libc::timerfd_settime(self.timerfd.as_raw_fd(), 0, &raw const spec, std::ptr::null_mut()) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The timerfd fired: runs every due timer, then re-arms for the next one.
    fn fire_timers(&self, py: Python<'_>) {
        let mut expirations = [0u8; 8];
        // SAFETY: reads the 8-byte expiration count of our non-blocking timerfd.
        unsafe { libc::read(self.timerfd.as_raw_fd(), expirations.as_mut_ptr().cast(), expirations.len()) };
        let now = Instant::now();
        let due: Vec<Py<LoopCall>> = {
            let mut r = self.lock();
            r.armed = None;
            let mut due = Vec::new();
            while let Some(&(at, id)) = r.timers.first() {
                if at > now {
                    break;
                }
                r.timers.pop_first();
                if let Some(call) = r.calls.get(&id) {
                    due.push(call.clone_ref(py));
                }
            }
            due
        };
        for call in due {
            call.get().timer(py);
        }
        let next = {
            let mut r = self.lock();
            let next = r.timers.first().map(|(at, _)| *at);
            if next.is_some() && r.armed.is_none_or(|a| next.is_some_and(|n| n < a)) {
                r.armed = next;
                next
            } else {
                None
            }
        };
        if let Some(at) = next {
            let _ = self.arm(at);
        }
    }
}

#[pymethods]
impl Reactor {
    /// The loop's reader callback: some descriptor in the epoll set is ready.
    fn _on_ready(&self, py: Python<'_>) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            // SAFETY: a zero-timeout wait into a valid array of EVENTS entries.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), EVENTS_INT, 0) };
            let Ok(n) = usize::try_from(n) else { return };
            for event in &events[..n] {
                let token = event.u64;
                if token == TIMER_TOKEN {
                    self.fire_timers(py);
                    continue;
                }
                // A call that ended earlier in this batch is gone from the map: skipped.
                let call = self.lock().calls.get(&(token >> 2)).map(|c| c.clone_ref(py));
                if let Some(call) = call {
                    #[allow(clippy::cast_possible_truncation)] // two bits
                    call.get().ready(py, (token & 0b11) as usize);
                }
            }
            if n < EVENTS {
                return;
            }
        }
    }

    #[allow(clippy::needless_pass_by_value)] // the signature PyO3 requires
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Calls and their reactor refer to each other; never block here (see `LoopCall`).
        if let Ok(r) = self.inner.try_lock() {
            for call in r.calls.values() {
                visit.call(call)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        // Garbage (its loop is gone): dropping the calls kills and reaps their plugins.
        let calls = self.inner.try_lock().map(|mut r| std::mem::take(&mut r.calls));
        drop(calls);
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            // A copy made by os.fork(): the calls are the parent's, and so are their plugins.
            let r = std::mem::take(self.inner.get_mut().unwrap_or_else(PoisonError::into_inner));
            std::mem::forget(r.calls);
        }
    }
}

/// Brings the epoll set in line with what the call wants watched now, then lets the core close
/// what nobody watches any more, then files the call's next timer.
fn sync(py: Python<'_>, s: &mut CallState) -> PyResult<()> {
    let Some(task) = s.task.as_ref() else { return Ok(()) };
    let Some(reactor) = s.reactor.as_ref().map(|r| r.bind(py).clone()) else { return Ok(()) };
    let reactor = reactor.get();
    let watches = task.watches();
    for (i, channel) in Channel::ALL.into_iter().enumerate() {
        let want = watches.get(channel);
        if s.polls[i] == want {
            continue;
        }
        if let Some(fd) = s.polls[i].take() {
            reactor.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)?;
        }
        let Some(fd) = want else { continue };
        let events = if channel.writable() { libc::EPOLLOUT } else { libc::EPOLLIN };
        reactor.ctl(libc::EPOLL_CTL_ADD, fd, events, s.id << 2 | i as u64)?;
        s.polls[i] = Some(fd);
    }
    if let Some(task) = s.task.as_mut() {
        task.release_closed();
    }
    let due = s.task.as_ref().and_then(|t| t.next_timer());
    if due != s.timer_due {
        reactor.set_timer(s.id, s.timer_due, due)?;
        s.timer_due = due;
    }
    Ok(())
}

/// After a step: settle if it ended the call, otherwise update the watches.
fn advance(py: Python<'_>, s: &mut CallState, step: Option<Settle>) {
    match step {
        Some(settle) => finish(py, s, settle),
        None => {
            if let Err(e) = sync(py, s) {
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

/// Takes the call's descriptors out of the epoll set, its timer and itself out of the reactor,
/// then lets the core close its descriptors.
fn close_all(py: Python<'_>, s: &mut CallState) {
    if let Some(reactor) = s.reactor.take() {
        let reactor = reactor.bind(py).get();
        for slot in &mut s.polls {
            if let Some(fd) = slot.take() {
                // Fails only if the fd is not in the set: then there is nothing to undo.
                let _ = reactor.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
        let _ = reactor.set_timer(s.id, s.timer_due.take(), None);
        // Dropped after the lock is released (a call may be freed here, killing its plugin).
        let removed = reactor.lock().calls.remove(&s.id);
        drop(removed);
    }
    if let Some(task) = s.task.as_mut() {
        task.release_closed();
    }
}

/// The call is over: stop watching, free the call, and set the future (unless already done).
fn finish(py: Python<'_>, s: &mut CallState, settle: Settle) {
    close_all(py, s);
    s.task = None;
    let outcome = settle(py);
    if let Some(future) = s.future.take().and_then(|f| f.bind(py).upgrade()) {
        resolve(&future, outcome);
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
