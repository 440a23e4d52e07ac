//! The async methods' engine for event-loop calls: the plugin driven by Tokio's own I/O driver.
//!
//! The call gets a [`Reactor`] of its own, whose one descriptor is registered with the current
//! runtime ([`AsyncFd`]); the task then waits where Tokio's workers wait, in Tokio's poller,
//! and every step is non-blocking I/O done by the task itself. A task on a worker thread is
//! then woken by the worker that saw the plugin exit, most often its own thread; a thread of the
//! blocking pool sleeping in `poll(2)` would add a hand-off to that thread and back, which on a
//! VM is a measurable part of a short call (`make bench`: "async (tokio task)").
//!
//! The future of `block_on` on a multi-thread runtime runs on a thread that is no worker and
//! never waits in Tokio's poller, so some other thread wakes it whichever engine runs the call.
//! There the blocking pool is the cheaper one, and is used: its thread reads the plugin's
//! answer and reaps it, then wakes the caller once; with the call's own reactor the worker that
//! saw the exit wakes the caller, which then does that work itself after the hand-off, and the
//! reactor costs its descriptors on top (`bench/RESULTS.md`, 2026-12-03: 3–7 % of a short call
//! more than the pool on the 2-vCPU VM). A `block_on` of a current-thread runtime waits in
//! Tokio's poller itself, and gets the reactor.
//!
//! A runtime built without `enable_io` has no I/O driver, and Tokio panics, rather than
//! failing, when asked to register a descriptor with it; it offers no way to ask first. So the
//! first registration in such a runtime is tried under `catch_unwind` (Tokio's panic message
//! is printed once, by the panic hook), and from then on the async methods of this process use
//! the blocking pool, which works on every runtime. A program built with `panic = "abort"`
//! cannot catch that panic, so there the async methods always use the blocking pool; so do
//! they on the portable system-call path (see [`crate::sys`]), whose poller is a thread.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{LoopCall, Reply, Route};
use crate::error::{Error, Result, StderrTail};
use crate::{sys, Reactor};

/// Set once a runtime without an I/O driver was met: the blocking pool is used from then on.
static NO_IO_DRIVER: AtomicBool = AtomicBool::new(false);

/// A call's own reactor, as Tokio watches it. Dropping the `AsyncFd` takes the descriptor out
/// of Tokio's poller first, then drops the reactor, which kills and reaps a plugin still
/// running (a dropped future).
pub(super) struct Registered(AsyncFd<Owned>);

pub(super) struct Owned(Reactor);

impl AsRawFd for Owned {
    fn as_raw_fd(&self) -> RawFd {
        self.0.fd().as_raw_fd()
    }
}

/// A fresh reactor registered with the current runtime's I/O driver; `None` when the blocking
/// pool is to run the call instead: the runtime has no I/O driver (or had none before), or
/// the future is awaited by `block_on` of a multi-thread runtime (see the module docs).
///
/// # Errors
/// The reactor's descriptors cannot be made or registered (out of descriptors).
pub(super) fn register() -> Option<io::Result<Registered>> {
    // Outside a runtime, the blocking pool's own error is the one to give. Built with
    // `panic = "abort"`, a runtime without I/O could not be probed: the pool, always. The
    // portable poller is a helper thread: one per call would cost more than the pool's hand-off.
    if !sys::CHEAP_POLLER
        || !cfg!(panic = "unwind")
        || NO_IO_DRIVER.load(Ordering::Relaxed)
        || !awaited_on_a_poller_thread()
    {
        return None;
    }
    let reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    let register = move || {
        // SAFETY: the descriptor is the reactor's poller, which `Owned` owns: it stays open, and
        // `as_raw_fd` gives the same number, until `Owned` is dropped, which `AsyncFd` does
        // only after taking the descriptor out of Tokio's poller.
        let registered = unsafe { AsyncFd::register_with_interest(Owned(reactor), Interest::READABLE) };
        // Converted here: the refused reactor is dropped at once.
        registered.map(Registered).map_err(io::Error::from)
    };
    if let Ok(registered) = catch_unwind(AssertUnwindSafe(register)) {
        Some(registered)
    } else {
        NO_IO_DRIVER.store(true, Ordering::Relaxed);
        None
    }
}

/// Whether the caller runs inside a runtime, on a thread that waits in Tokio's poller between
/// steps: a task, or `block_on` of a current-thread runtime. `block_on` of a multi-thread
/// runtime is no task, and its thread parks outside Tokio's poller instead. (A `LocalSet`'s
/// task in such a `block_on` counts as a task and keeps the reactor: correct, one hand-off
/// dearer, and rare.)
fn awaited_on_a_poller_thread() -> bool {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    tokio::task::try_id().is_some() || handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
}

impl Registered {
    /// Starts `call` on this thread (the start returns once the plugin runs) and drives it to
    /// its end from the task. Dropping the future kills and reaps the plugin.
    pub(super) async fn run(self, call: LoopCall) -> Result<Reply> {
        let site = call.call_site();
        let result: Arc<Mutex<Option<Result<Reply>>>> = Arc::default();
        let slot = Arc::clone(&result);
        let reactor = &self.0.get_ref().0;
        reactor.submit(Route::EventLoop(call), move |r| {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        });
        loop {
            let mut ready = match self.0.readable().await {
                Ok(guard) => guard,
                Err(e) => {
                    let reason = "Tokio's I/O driver failed (is the runtime shutting down?)";
                    return Err(Error::exec(site, reason, Some(e), StderrTail::default()));
                }
            };
            // Drains everything the reactor's descriptor had, so clearing Tokio's readiness
            // below loses nothing: anything new makes the descriptor readable again.
            reactor.dispatch();
            if let Some(done) = result.lock().unwrap_or_else(PoisonError::into_inner).take() {
                return done;
            }
            ready.clear_ready();
        }
    }
}
