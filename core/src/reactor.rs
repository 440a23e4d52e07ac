//! [`Reactor`]: many calls in flight behind one descriptor that a host's event loop watches.
//!
//! A binding with an event loop (asyncio, libuv) makes one reactor per loop, registers
//! [`Reactor::fd`] with the loop for readability once, and calls [`Reactor::dispatch`] when it
//! is readable. [`Reactor::submit`] takes any [`Route`]:
//!
//! * an event-loop call is started on the calling thread (the start returns once the plugin
//!   runs) and then driven by the reactor: its pipes and pidfd are in the reactor's poller
//!   (epoll on Linux; see [`crate::sys`]), its timers in the poller's one timer, and every step
//!   is non-blocking I/O done inside `dispatch`;
//! * a thread call runs on a worker thread of a small pool (threads named `sigstore-kms-rt`,
//!   kept 10 s when idle), and its result comes back through the same descriptor (the worker
//!   wakes the poller).
//!
//! [`Reactor::submit`] is [`Reactor::prepare`] (the start, which needs no reactor) followed by
//! [`Reactor::submit_prepared`]: a binding calls the two itself to make its future or promise
//! while the plugin starts up.
//!
//! Either way the call's completion callback runs inside `dispatch`, on the loop's thread,
//! after the reactor's own bookkeeping is done and no lock is held (a callback may submit new
//! calls). A call that fails to start completes with its error at the next `dispatch` too, so
//! a completion never runs inside `submit`.
//!
//! [`Reactor::cancel`] ends one call (the plugin is killed and reaped; its completion is
//! dropped, not called); [`Reactor::cancel_all`] and dropping the reactor end every call, thread
//! calls included, whose plugins are killed as soon as their worker notices (a thread blocked
//! reading the caller's message notices once that read returns).
//!
//! Descriptors leave the poller before the core closes them (the [`crate::process::exchange`]
//! contract): a closed number could otherwise be reused by the next call's pipe while the
//! poller still watches it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::client::{Reply, Route, RunningCall, ThreadCall};
use crate::error::{Error, Result, StderrTail};
use crate::process::{CancelPipe, Channel};
use crate::sys::{Poller, Waker};

/// What a call's completion callback receives.
pub type Completion = Box<dyn FnOnce(Result<Reply>) + Send>;

/// Results of thread calls, by call number, delivered by their workers.
type Finished = Mutex<Vec<(u64, Result<Reply>)>>;

/// A call whose first part is done ([`Reactor::prepare`]), for [`Reactor::submit_prepared`].
#[derive(Debug)]
pub struct Prepared(Preparing);

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once per call, never stored in bulk: a box would cost an allocation per call
enum Preparing {
    /// An event-loop call: its plugin runs (or could not be started).
    Started(Result<RunningCall<Reply>>),
    /// A thread call, not started yet.
    Thread(ThreadCall),
}

/// A call in flight in a [`Reactor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(u64);

/// Many calls in flight behind one descriptor (see the module docs). `Send` and `Sync`; its
/// completions run on whichever thread calls [`Reactor::dispatch`].
pub struct Reactor {
    poller: Poller,
    state: Mutex<State>,
    /// The last call number given.
    next_id: AtomicU64,
    /// Results of thread calls, delivered by their workers.
    finished: Arc<Finished>,
}

#[derive(Default)]
struct State {
    /// Event-loop calls being driven.
    driven: HashMap<u64, Driven>,
    /// Thread calls running: how to cancel them, and their completions.
    threads: HashMap<u64, (Arc<CancelPipe>, Completion)>,
    /// Completions due at the next dispatch (calls that failed to start).
    ready: Vec<(Completion, Result<Reply>)>,
    /// Every driven call's next timer.
    timers: BTreeSet<(Instant, u64)>,
    /// What the poller's timer is armed for.
    armed: Option<Instant>,
}

struct Driven {
    call: RunningCall<Reply>,
    on_done: Completion,
    /// The descriptor registered per channel, in the order of [`Channel::ALL`].
    polls: [Option<RawFd>; 4],
    /// The time this call's timer is filed under.
    timer: Option<Instant>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Reactor")
            .field("fd", &self.poller.fd())
            .field("driven", &s.driven.len())
            .field("threads", &s.threads.len())
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// A reactor with no calls.
    pub fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Poller::new()?,
            state: Mutex::default(),
            next_id: AtomicU64::new(0),
            finished: Arc::default(),
        })
    }

    /// The descriptor to watch for readability: readable when [`Reactor::dispatch`] has work.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.poller.fd()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Held only for bookkeeping and non-blocking I/O, never while a completion runs.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many calls are in flight.
    #[must_use]
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.driven.len() + s.threads.len() + s.ready.len()
    }

    /// Whether no call is in flight.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `route`; `on_done` gets its result, from [`Reactor::dispatch`]. The same as
    /// [`Reactor::prepare`] followed by [`Reactor::submit_prepared`].
    pub fn submit(&self, route: Route, on_done: impl FnOnce(Result<Reply>) + Send + 'static) -> CallId {
        self.submit_prepared(Reactor::prepare(route), on_done)
    }

    /// The part of running `route` that comes first: an event-loop call's plugin is started on
    /// this thread (this returns once the plugin runs); a thread call is kept for its worker.
    /// Hand the result to [`Reactor::submit_prepared`] of the reactor that is to drive it.
    ///
    /// A binding makes its future or promise between the two, while the plugin starts up
    /// instead of before. Dropping a prepared call kills and reaps its plugin.
    #[must_use]
    pub fn prepare(route: Route) -> Prepared {
        match route {
            Route::EventLoop(call) => Prepared(Preparing::Started(call.start())),
            Route::Thread(call) => Prepared(Preparing::Thread(call)),
        }
    }

    /// Drives a call made ready by [`Reactor::prepare`]; `on_done` gets its result, from
    /// [`Reactor::dispatch`] (a call that failed to start too, at the next dispatch).
    pub fn submit_prepared(&self, prepared: Prepared, on_done: impl FnOnce(Result<Reply>) + Send + 'static) -> CallId {
        let on_done: Completion = Box::new(on_done);
        // Numbered without the lock: an event-loop call then takes it once.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        match prepared.0 {
            Preparing::Started(Ok(call)) => {
                let mut s = self.lock();
                s.driven.insert(id, Driven { call, on_done, polls: [None; 4], timer: None });
                if let Err(e) = self.sync(&mut s, id) {
                    let mut done = Vec::new();
                    self.fail(&mut s, id, &e, &mut done);
                    s.ready.append(&mut done);
                    self.poller.waker().wake();
                }
                self.rearm(&mut s);
            }
            Preparing::Started(Err(e)) => self.complete_later(on_done, Err(e)),
            Preparing::Thread(call) => {
                let cancel = match CancelPipe::new() {
                    Ok(c) => Arc::new(c),
                    Err(e) => {
                        let error = Error::exec(
                            call.call_site(),
                            "cannot create a cancellation pipe",
                            Some(e),
                            StderrTail::default(),
                        );
                        self.complete_later(on_done, Err(error));
                        return CallId(id);
                    }
                };
                self.lock().threads.insert(id, (Arc::clone(&cancel), on_done));
                let finished = Arc::clone(&self.finished);
                let waker = self.poller.waker();
                pool::run(Box::new(move || {
                    let result = call.run(Some(cancel.watch()));
                    // Closed before the result is seen: once a call completes, nothing of it
                    // is left open.
                    drop(cancel);
                    deliver(&finished, &waker, id, result);
                }));
            }
        }
        CallId(id)
    }

    /// Queues a completion for the next dispatch, and makes the descriptor readable for it.
    fn complete_later(&self, on_done: Completion, result: Result<Reply>) {
        self.lock().ready.push((on_done, result));
        self.poller.waker().wake();
    }

    /// Ends call `id` now: a driven call's plugin is killed and reaped, a thread call's plugin
    /// is killed by its worker. Its completion is dropped, not called. Returns whether the call
    /// was in flight.
    pub fn cancel(&self, id: CallId) -> bool {
        let mut s = self.lock();
        // Completions are dropped once the lock is released: dropping one may run the host's
        // code (a binding's object freed), which may call into the reactor again.
        if let Some(mut driven) = s.driven.remove(&id.0) {
            let _ = driven.call.cancel();
            self.unwatch(&mut s, id.0, &mut driven);
            self.rearm(&mut s);
            drop(s);
            drop(driven);
            return true;
        }
        if let Some((cancel, on_done)) = s.threads.remove(&id.0) {
            drop(s);
            cancel.trigger();
            drop(on_done);
            return true;
        }
        false
    }

    /// Ends every call (see [`Reactor::cancel`]): for a host whose loop is going away.
    pub fn cancel_all(&self) {
        let mut s = self.lock();
        let ids: Vec<u64> = s.driven.keys().copied().collect();
        let mut ended = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(mut d) = s.driven.remove(&id) {
                let _ = d.call.cancel();
                self.unwatch(&mut s, id, &mut d);
                ended.push(d);
            }
        }
        let threads: Vec<(Arc<CancelPipe>, Completion)> = s.threads.drain().map(|(_, t)| t).collect();
        let ready = std::mem::take(&mut s.ready);
        self.rearm(&mut s);
        drop(s);
        for (cancel, _) in &threads {
            cancel.trigger();
        }
        // As in `cancel`: dropped once the lock is released.
        drop((ended, threads, ready));
    }

    /// Does what is due: I/O on ready descriptors, timers, results of thread calls; then runs the
    /// completions of the calls that ended. Call it when [`Reactor::fd`] is readable (calling it
    /// at other times is harmless).
    pub fn dispatch(&self) {
        let mut tokens = Vec::new();
        let polled = self.poller.ready(&mut tokens);
        let timer_fired = polled.as_ref().is_ok_and(|r| r.timer);
        let mut done: Vec<(Completion, Result<Reply>)> = Vec::new();
        {
            let mut s = self.lock();
            done.append(&mut s.ready);
            if let Err(e) = polled {
                // The poller itself failed: nothing can be driven any more.
                let ids: Vec<u64> = s.driven.keys().copied().collect();
                for id in ids {
                    self.fail(&mut s, id, &e, &mut done);
                }
            }
            for token in tokens {
                let (id, slot) = (token >> 2, usize::try_from(token & 0b11).unwrap_or(0));
                let Some(d) = s.driven.get_mut(&id) else { continue };
                if d.polls[slot].is_none() {
                    continue;
                }
                let step = d.call.on_ready(Channel::ALL[slot]);
                self.advance(&mut s, id, step, &mut done);
            }
            let now = Instant::now();
            while let Some(&(at, id)) = s.timers.first() {
                if at > now {
                    break;
                }
                s.timers.pop_first();
                let Some(d) = s.driven.get_mut(&id) else { continue };
                d.timer = None;
                let step = d.call.on_timer();
                self.advance(&mut s, id, step, &mut done);
            }
            let results = std::mem::take(&mut *self.finished.lock().unwrap_or_else(PoisonError::into_inner));
            for (id, result) in results {
                // A cancelled call's result has nobody to go to.
                if let Some((_, on_done)) = s.threads.remove(&id) {
                    done.push((on_done, result));
                }
            }
            if timer_fired {
                // The poller's timer is one-shot (the portable one is told so below, if nothing
                // else is due; otherwise `rearm` sets it anew).
                s.armed = None;
                if s.timers.is_empty() {
                    let _ = self.poller.set_timer(None);
                }
            }
            self.rearm(&mut s);
        }
        for (on_done, result) in done {
            on_done(result);
        }
    }

    /// After a step of call `id`: move its completion to `done` if the call ended, otherwise
    /// update what is watched.
    fn advance(
        &self,
        s: &mut State,
        id: u64,
        step: Option<Result<Reply>>,
        done: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        match step {
            Some(result) => {
                if let Some(mut d) = s.driven.remove(&id) {
                    self.unwatch(s, id, &mut d);
                    done.push((d.on_done, result));
                }
            }
            None => {
                if let Err(e) = self.sync(s, id) {
                    self.fail(s, id, &e, done);
                }
            }
        }
    }

    /// Ends a call that can no longer be driven: kills its plugin, completes it with an error.
    fn fail(&self, s: &mut State, id: u64, e: &io::Error, done: &mut Vec<(Completion, Result<Reply>)>) {
        if let Some(mut d) = s.driven.remove(&id) {
            let _ = d.call.cancel();
            self.unwatch(s, id, &mut d);
            let error = Error::exec(
                d.call.call_site(),
                format!("the plugin's pipes cannot be watched: {e}"),
                None,
                StderrTail::default(),
            );
            done.push((d.on_done, Err(error)));
        }
    }

    /// Brings the poller in line with what call `id` wants watched now, lets the core close
    /// what nobody watches any more, and files the call's next timer.
    fn sync(&self, s: &mut State, id: u64) -> io::Result<()> {
        let Some(d) = s.driven.get_mut(&id) else { return Ok(()) };
        let watches = d.call.watches();
        let mut result = Ok(());
        for (i, channel) in Channel::ALL.into_iter().enumerate() {
            let want = watches.get(channel);
            if d.polls[i] == want {
                continue;
            }
            if let Some(fd) = d.polls[i].take() {
                result = result.and(self.poller.delete(fd));
            }
            if let Some(fd) = want {
                result = result.and(self.poller.add(fd, channel.writable(), id << 2 | i as u64));
                d.polls[i] = Some(fd);
            }
        }
        d.call.release_closed();
        let due = d.call.next_timer();
        if due != d.timer {
            let previous = std::mem::replace(&mut d.timer, due);
            if let Some(p) = previous {
                s.timers.remove(&(p, id));
            }
            if let Some(at) = due {
                s.timers.insert((at, id));
            }
        }
        result
    }

    /// Takes a call's descriptors out of the poller and its timer out of the list, then lets the
    /// core close its descriptors.
    fn unwatch(&self, s: &mut State, id: u64, d: &mut Driven) {
        for slot in &mut d.polls {
            if let Some(fd) = slot.take() {
                // Fails only if the fd is not registered: then there is nothing to undo.
                let _ = self.poller.delete(fd);
            }
        }
        if let Some(at) = d.timer.take() {
            s.timers.remove(&(at, id));
        }
        d.call.release_closed();
    }

    /// Arms the poller's timer for the earliest call timer, if that is earlier than what it is
    /// armed for. A timer armed for a time with nothing due any more is left alone: it fires
    /// once for nothing (a dispatch that finds no timer due and arms for the earliest), which
    /// costs less than a `timerfd_settime` per call (every call files its timeout, usually
    /// minutes away, and takes it back when it ends).
    fn rearm(&self, s: &mut State) {
        let Some(next) = s.timers.first().map(|(at, _)| *at) else { return };
        if s.armed.is_none_or(|armed| next < armed) {
            s.armed = Some(next);
            let _ = self.poller.set_timer(Some(next));
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

/// A worker hands a thread call's result to the reactor and wakes it.
fn deliver(finished: &Finished, waker: &Waker, id: u64, result: Result<Reply>) {
    finished.lock().unwrap_or_else(PoisonError::into_inner).push((id, result));
    waker.wake();
}

/// The worker threads of thread calls: made as needed, kept [`pool::IDLE`] when idle.
mod pool {
    use super::{Condvar, Duration, Mutex, PoisonError, VecDeque};

    /// How long an idle worker waits for work before it exits.
    pub(super) const IDLE: Duration = Duration::from_secs(10);

    type Job = Box<dyn FnOnce() + Send>;

    struct Pool {
        /// The process the state belongs to: a child made by `fork()` has none of its threads.
        pid: u32,
        idle: usize,
        jobs: VecDeque<Job>,
    }

    static POOL: Mutex<Pool> = Mutex::new(Pool { pid: 0, idle: 0, jobs: VecDeque::new() });
    static WORK: Condvar = Condvar::new();

    /// Runs `job` on an idle worker, or on a new one.
    pub(super) fn run(job: Job) {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if pool.pid != pid {
            *pool = Pool { pid, idle: 0, jobs: VecDeque::new() };
        }
        pool.jobs.push_back(job);
        if pool.idle >= pool.jobs.len() {
            WORK.notify_one();
            return;
        }
        drop(pool);
        let spawned = std::thread::Builder::new().name("sigstore-kms-rt".into()).spawn(work);
        if spawned.is_err() {
            // No thread: run it here rather than never (it blocks this caller until done).
            let job = POOL.lock().unwrap_or_else(PoisonError::into_inner).jobs.pop_back();
            if let Some(job) = job {
                job();
            }
        }
    }

    fn work() {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(job) = pool.jobs.pop_front() {
                drop(pool);
                job();
                pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            pool.idle += 1;
            let (guard, timeout) = WORK.wait_timeout(pool, IDLE).unwrap_or_else(PoisonError::into_inner);
            pool = guard;
            pool.idle -= 1;
            if timeout.timed_out() && pool.jobs.is_empty() {
                return;
            }
        }
    }
}
