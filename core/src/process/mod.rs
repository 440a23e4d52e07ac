//! Running one plugin process: spawn, stream stdin, drain stdout and stderr, enforce limits.
//!
//! [`Exchange`] is one run as a state machine (see [`exchange`] for the driver's contract);
//! [`run`] drives it with `poll(2)` on the calling thread, and event loops can drive it
//! directly. Either way:
//! * the message streams to stdin in fixed-size chunks while stdout and stderr are drained
//!   (memory stays flat whatever the message size, and no pipe can fill up and deadlock);
//! * a plugin that exits without reading stdin is fine (`EPIPE` ends the stream; `SIGPIPE` is
//!   blocked around our writes and the pending signal consumed, so even a host whose `SIGPIPE`
//!   disposition is the default cannot die of it);
//! * the timeout, the stdout cap and cancellation kill the plugin's whole process group
//!   (it is spawned as the leader of a new group) and reap it;
//! * once the plugin itself has exited, a grandchild still holding stdout or stderr open
//!   stalls us for at most [`EXIT_GRACE`].
//!
//! There is no shell anywhere: the program path is executed directly.

pub mod exchange;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sys::{self, PollFd};

#[allow(deprecated)]
pub use exchange::Outcome;
pub use exchange::{Channel, Exchange, RunResult, Watches};

/// The kernel's limit on one argument string (`MAX_ARG_STRLEN`, 32 pages), terminating NUL
/// included.
pub const MAX_ARG_BYTES: usize = 32 * 4096;
/// How long we keep reading stdout/stderr after the plugin exited, for data a grandchild that
/// inherited the pipes may still hold up.
pub const EXIT_GRACE: Duration = Duration::from_millis(250);
/// How long after the start stdout and stderr are left unwatched while a pidfd is (see
/// [`Exchange::watches`]).
///
/// Watching them at once wakes the driver when the plugin writes its answer and again when it
/// exits a moment later: for an event loop each wake-up is a turn of the loop, and with the
/// task on another thread a cross-thread wake-up, a measurable part of a short call. Unwatched,
/// the answer waits in the pipe, and the exit wakes the driver once, which then reads both
/// pipes to their end. A plugin that writes more than the pipe holds (64 KiB) before exiting
/// blocks until this delay is over, then the pipes are watched as usual: the delay bounds what
/// that costs, and a call longer than it costs one timer wake-up.
pub const OUTPUT_WATCH_DELAY: Duration = Duration::from_millis(5);
/// Size of the chunks the message is streamed in.
pub const STDIN_CHUNK: usize = 128 * 1024;
/// How many bytes of stderr are kept when it is captured.
pub const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// Where the plugin's stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StderrMode {
    /// Passed through to the host's stderr, as the Go client does.
    #[default]
    Inherit,
    /// Captured; its last lines are attached to errors.
    Capture,
    /// Discarded.
    Null,
}

/// One run of a plugin program.
pub struct Invocation<'a, 'r> {
    /// Absolute path of the program.
    pub program: &'a Path,
    /// `argv[1]`, the protocol version.
    pub version: &'a str,
    /// `argv[2]`, the request JSON.
    pub request: &'a [u8],
    /// The message for stdin.
    pub stdin: Stdin<'r>,
    /// Kill the plugin after this long.
    pub timeout: Option<Duration>,
    /// Largest stdout accepted.
    pub stdout_limit: usize,
    /// Where stderr goes.
    pub stderr: StderrMode,
    /// Becomes readable when the caller gives up (async cancellation).
    pub cancel: Option<BorrowedFd<'a>>,
}

/// What the plugin reads on stdin.
pub enum Stdin<'r> {
    /// Nothing: stdin is `/dev/null`.
    Null,
    /// A message streamed from a reader in chunks (reads may block: for [`run`]).
    Reader(&'r mut (dyn Read + 'r)),
    /// A message in memory, written as the pipe takes it (never blocks: for event loops too).
    Bytes(Box<dyn AsRef<[u8]> + Send + 'r>),
}

impl std::fmt::Debug for Stdin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stdin::Null => f.write_str("Null"),
            Stdin::Reader(_) => f.write_str("Reader"),
            Stdin::Bytes(b) => write!(f, "Bytes({} bytes)", (**b).as_ref().len()),
        }
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct Output {
    /// Everything the plugin wrote to stdout.
    pub stdout: Vec<u8>,
    /// The tail of stderr, when captured.
    pub stderr_tail: Option<String>,
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// The request is longer than the kernel accepts for one argument.
    RequestTooLong(usize),
    /// `spawn` failed.
    Spawn(io::Error),
    /// The plugin was killed by a signal (not by us).
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// The timeout expired.
    Timeout,
    /// stdout grew past the limit.
    OutputTooLarge,
    /// The caller cancelled.
    Cancelled,
    /// Reading the message failed.
    ReadMessage(io::Error),
    /// Talking to the process failed in a way we cannot recover from.
    Io(io::Error),
}

/// A failed run, with the stderr tail captured so far.
#[derive(Debug)]
pub struct RunFailure {
    /// What went wrong.
    pub error: RunError,
    /// The tail of stderr, when captured.
    pub stderr_tail: Option<String>,
}

impl From<RunError> for RunFailure {
    fn from(error: RunError) -> Self {
        RunFailure { error, stderr_tail: None }
    }
}

/// A check that [`run`] calls while a plugin runs (see [`with_interrupt_check`]).
struct InterruptCheck {
    every: Duration,
    check: Box<dyn FnMut() -> bool>,
}

impl InterruptCheck {
    /// Runs the check if it is due (or a signal arrived); whether the run must stop.
    fn wants_stop(&mut self, last: &mut Instant, signalled: bool) -> bool {
        if !signalled && last.elapsed() < self.every {
            return false;
        }
        *last = Instant::now();
        (self.check)()
    }
}

thread_local! {
    static INTERRUPT_CHECK: RefCell<Option<InterruptCheck>> = const { RefCell::new(None) };
}

/// Runs `f`, and while a plugin that `f` runs on this thread is running, calls `check` at
/// least every `every` and whenever a signal interrupts the wait (`EINTR`); when `check`
/// returns `true`, the plugin's process group is killed and reaped and that call fails as
/// cancelled ([`RunError::Cancelled`], an `Exec` error for the client).
///
/// This is for bindings whose runtime handles signals by polling: Python runs its Ctrl-C
/// handler only when its main thread checks for it. The call stays on the calling thread (no
/// hand-off to a worker thread and back, which costs tens of microseconds per call) and stays
/// interruptible. Calls made by other threads are not affected; nested calls replace the check
/// for their duration.
pub fn with_interrupt_check<R>(every: Duration, check: impl FnMut() -> bool + 'static, f: impl FnOnce() -> R) -> R {
    let previous = INTERRUPT_CHECK.with(|c| c.borrow_mut().replace(InterruptCheck { every, check: Box::new(check) }));
    let _restore = RestoreCheck(Some(previous));
    f()
}

/// Puts back the interrupt check a scope (or a run) took, on every path out.
struct RestoreCheck(Option<Option<InterruptCheck>>);

impl Drop for RestoreCheck {
    fn drop(&mut self) {
        if let Some(check) = self.0.take() {
            // `try_with`: the thread-local may already be gone when a thread exits.
            let _ = INTERRUPT_CHECK.try_with(|c| *c.borrow_mut() = check);
        }
    }
}

/// Runs the plugin to completion on this thread (the blocking engine): `poll(2)` over the
/// [`Exchange`]'s descriptors, the cancellation fd and the timers.
pub fn run(inv: Invocation<'_, '_>) -> RunResult {
    let cancel = inv.cancel;
    let streamed = matches!(inv.stdin, Stdin::Reader(_));
    let mut exchange = Exchange::start(inv)?;
    if streamed {
        // The first chunk goes now, before the plugin gets to read (as `start` does for bytes):
        // a plugin that finds its stdin empty sleeps, and waking it costs a cross-CPU wake-up.
        // This thread would block on the reader in the loop just as well.
        if let Some(outcome) = exchange.on_ready(Channel::Stdin) {
            return outcome;
        }
    }
    wait(&mut exchange, cancel)
}

/// Waits on this thread for a started exchange to end (the blocking engine's loop), with this
/// thread's interrupt check, if any.
pub(crate) fn wait(exchange: &mut Exchange<'_>, cancel: Option<BorrowedFd<'_>>) -> RunResult {
    // Taken for the run (a plugin run by the check itself does not see it), put back after.
    let mut taken = RestoreCheck(Some(INTERRUPT_CHECK.with(|c| c.borrow_mut().take())));
    let mut interrupt = taken.0.as_mut().and_then(Option::as_mut);
    let mut last_check = Instant::now();
    loop {
        // Nothing watches a descriptor between two polls: those that reached their end close now.
        exchange.release_closed();
        let watches = exchange.watches();
        let mut fds: Vec<PollFd> = Vec::with_capacity(5);
        let mut slots: Vec<Channel> = Vec::with_capacity(4);
        for channel in Channel::ALL {
            if let Some(fd) = watches.get(channel) {
                fds.push(PollFd { fd, writable: channel.writable(), ready: false });
                slots.push(channel);
            }
        }
        if let Some(c) = cancel {
            fds.push(PollFd { fd: c.as_raw_fd(), writable: false, ready: false });
        }
        let next_check = interrupt.as_ref().map(|i| i.every.saturating_sub(last_check.elapsed()));
        let polled = sys::poll(&mut fds, poll_timeout(exchange.next_timer(), next_check));
        let mut signalled = exchange.take_read_interrupted();
        let ready = match polled {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                signalled = true;
                0
            }
            Err(e) => return Err(exchange.abort(RunError::Io(e))),
        };
        if interrupt.as_deref_mut().is_some_and(|i| i.wants_stop(&mut last_check, signalled)) {
            return Err(exchange.abort(RunError::Cancelled));
        }
        if ready > 0 {
            if cancel.is_some() && fds.last().is_some_and(|f| f.ready) {
                return Err(exchange.abort(RunError::Cancelled));
            }
            for (pollfd, channel) in fds.iter().zip(&slots) {
                if pollfd.ready {
                    if let Some(outcome) = exchange.on_ready(*channel) {
                        return outcome;
                    }
                }
            }
        }
        if let Some(outcome) = exchange.on_timer() {
            return outcome;
        }
    }
}

/// How long poll may sleep (`None`: for ever): until the exchange's next timer or the next
/// interrupt check.
fn poll_timeout(timer: Option<Instant>, next_check: Option<Duration>) -> Option<Duration> {
    let until_timer = timer.map(|t| t.saturating_duration_since(Instant::now()));
    match (until_timer, next_check) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An eventfd-like pair for cancelling a run from another thread.
#[derive(Debug)]
pub struct CancelPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl CancelPipe {
    /// A new, untriggered pipe (both ends close-on-exec and non-blocking).
    pub fn new() -> io::Result<Self> {
        let (read, write) = sys::pipe(true)?;
        Ok(CancelPipe { read, write })
    }

    /// The end to poll.
    #[must_use]
    pub fn watch(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Makes the watched end readable.
    pub fn trigger(&self) {
        let mut f = std::mem::ManuallyDrop::new(
            // SAFETY: we borrow the fd for one write and never close it here.
            unsafe { std::fs::File::from_raw_fd(self.write.as_raw_fd()) },
        );
        let _ = f.write(&[1]);
    }
}
