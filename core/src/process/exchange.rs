//! One plugin run as a state machine: it spawns the plugin, then does non-blocking I/O only when
//! its driver says a descriptor is ready, and reports when the run is over.
//!
//! The same logic is driven in two ways:
//! * by `poll(2)` on the calling thread ([`super::run`], the blocking engine; it can stream
//!   from any reader);
//! * by an event loop that already exists (libuv in the Node addon, asyncio in the Python
//!   binding): the plugin's pipes and pidfd are watched by that loop, so a call costs no thread
//!   and no cross-thread wake-up. Such drivers must give the message as bytes
//!   ([`Stdin::Bytes`]): reading a [`Stdin::Reader`] could block their loop.
//!
//! # The driver's contract
//! 1. [`Exchange::start`] spawns the plugin (and writes as much of an in-memory message as the
//!    pipe takes at once: a small message needs no stdin watch at all).
//! 2. Watch the descriptors of [`Exchange::watches`] (stdin for writing, the others for reading)
//!    and call [`Exchange::on_ready`] when one is ready; call [`Exchange::on_timer`] at
//!    [`Exchange::next_timer`] (timeout, grace after exit, polling without a pidfd, the end
//!    of [`super::OUTPUT_WATCH_DELAY`], when stdout and stderr join the watches).
//! 3. After every call, re-read [`Exchange::watches`], stop watching descriptors that left it,
//!    and only then call [`Exchange::release_closed`]: descriptors that reached their end are
//!    closed there, never while a loop may still watch them (a closed number can be reused by
//!    the next pipe, and an event loop would then watch the wrong file).
//! 4. A call that returns `Some(outcome)` ends the run; [`Exchange::cancel`] ends it early
//!    (kills the process group). Dropping an unfinished exchange kills and reaps the plugin too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::{
    Invocation, Output, RunError, RunFailure, Stdin, EXIT_GRACE, MAX_ARG_BYTES, OUTPUT_WATCH_DELAY, STDERR_TAIL_BYTES,
    STDIN_CHUNK,
};
use crate::sys::{self, SigpipeGuard, Spec};

/// Size of the first chunk read from a [`Stdin::Reader`]; it doubles up to [`STDIN_CHUNK`] while
/// reads fill it. A small message then costs no large allocation (a fresh 128 KiB buffer is
/// page faults and zeroing on every call, about 25 µs here, for a 1 KiB message).
const STDIN_FIRST_CHUNK: usize = 16 * 1024;
/// The stdin pipe is grown to this size, once the message turned out not to fit in the default
/// pipe (fewer wake-ups when streaming a large message). Not before: pipe buffers count
/// against a per-user quota (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default), and once
/// an unprivileged user is past it every new pipe of that user is cut to 8 KiB -- 64 concurrent
/// calls each growing its pipe up front would use it all.
const STDIN_PIPE_BYTES: usize = 1 << 20;
/// Bytes read from stdout or stderr per `read`.
const READ_BYTES: usize = 16 * 1024;
/// Without a pidfd (kernels before 5.3, other Unixes) the child is checked this often.
const REAP_POLL: Duration = Duration::from_millis(10);

/// The descriptors of a run, by what they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The plugin's stdin (watched for writing).
    Stdin,
    /// The plugin's stdout.
    Stdout,
    /// The plugin's stderr, when captured.
    Stderr,
    /// The plugin's pidfd: readable once it exited.
    Exit,
}

impl Channel {
    /// Every channel, in the order a driver should handle simultaneous readiness.
    pub const ALL: [Channel; 4] = [Channel::Stdout, Channel::Stderr, Channel::Stdin, Channel::Exit];

    /// Whether the descriptor is watched for writing (otherwise for reading).
    #[must_use]
    pub fn writable(self) -> bool {
        self == Channel::Stdin
    }
}

/// The descriptors a driver must watch right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watches {
    /// stdin, for writing.
    pub stdin: Option<RawFd>,
    /// stdout, for reading.
    pub stdout: Option<RawFd>,
    /// stderr, for reading.
    pub stderr: Option<RawFd>,
    /// The pidfd, for reading.
    pub exit: Option<RawFd>,
}

impl Watches {
    /// The descriptor of `channel`, if it is to be watched.
    #[must_use]
    pub fn get(&self, channel: Channel) -> Option<RawFd> {
        match channel {
            Channel::Stdin => self.stdin,
            Channel::Stdout => self.stdout,
            Channel::Stderr => self.stderr,
            Channel::Exit => self.exit,
        }
    }
}

/// How a run ended: what the plugin wrote, or why the run failed.
pub type RunResult = Result<Output, RunFailure>;

/// The former name of [`RunResult`].
#[deprecated(since = "0.1.0", note = "renamed RunResult (\"outcome\" meant several things)")]
pub type Outcome = RunResult;

/// What is left of the message to send.
enum Pending<'r> {
    None,
    Reader(&'r mut (dyn Read + 'r)),
    Bytes { bytes: Box<dyn AsRef<[u8]> + Send + 'r>, pos: usize },
}

/// One run of a plugin (see the module docs).
#[allow(clippy::struct_excessive_bools)] // independent facts about one run, not a state in disguise
pub struct Exchange<'r> {
    child: Process,
    stdin: Option<File>,
    pending: Pending<'r>,
    /// The chunk read from a [`Pending::Reader`] and not yet written.
    chunk: Vec<u8>,
    chunk_pos: usize,
    /// How much of the message is read at a time (grows up to [`STDIN_CHUNK`]).
    chunk_size: usize,
    /// Whether the stdin pipe was grown to [`STDIN_PIPE_BYTES`] (or that was tried).
    stdin_grown: bool,
    /// Reading the message was interrupted by a signal.
    read_interrupted: bool,
    stdout_pipe: Option<File>,
    stdout: Vec<u8>,
    stdout_limit: usize,
    stderr_pipe: Option<File>,
    stderr_tail: Vec<u8>,
    stderr_seen: usize,
    stderr_captured: bool,
    pidfd: Option<OwnedFd>,
    /// Descriptors that reached their end, closed by [`Exchange::release_closed`].
    closed: Vec<OwnedFd>,
    deadline: Option<Instant>,
    /// Until then (while running), stdout and stderr are not watched: [`OUTPUT_WATCH_DELAY`].
    outputs_unwatched_until: Option<Instant>,
    exited: Option<(ExitStatus, Instant)>,
    finished: bool,
}

impl<'r> Exchange<'r> {
    /// Spawns the plugin of `inv` (its `cancel` field is for [`super::run`] and ignored here).
    ///
    /// # Errors
    /// The request is too long for one argument, or the program cannot be started.
    pub fn start(inv: Invocation<'_, 'r>) -> Result<Self, RunFailure> {
        if inv.request.len() >= MAX_ARG_BYTES {
            return Err(RunError::RequestTooLong(inv.request.len()).into());
        }
        let started = Instant::now();
        let spawned = sys::spawn(&Spec {
            program: inv.program,
            args: [inv.version.as_bytes(), inv.request],
            stdin: !matches!(inv.stdin, Stdin::Null),
            stderr: inv.stderr,
        })
        .map_err(RunError::Spawn)?;
        let (stdin, stdout_pipe, stderr_pipe) =
            (spawned.stdin.map(File::from), Some(File::from(spawned.stdout)), spawned.stderr.map(File::from));
        // Only with a pidfd: without one, nothing but a poll timer would tell of the exit.
        let outputs_unwatched_until = spawned.pidfd.is_some().then(|| started + OUTPUT_WATCH_DELAY);
        let pending = match inv.stdin {
            Stdin::Null => Pending::None,
            Stdin::Reader(r) => Pending::Reader(r),
            Stdin::Bytes(bytes) => Pending::Bytes { bytes, pos: 0 },
        };
        let mut exchange = Exchange {
            child: Process { pid: spawned.pid, reaped: false, owner: std::process::id() },
            stdin,
            pending,
            chunk: Vec::new(),
            chunk_pos: 0,
            chunk_size: 0,
            stdin_grown: false,
            read_interrupted: false,
            stdout_pipe,
            stdout: Vec::new(),
            stdout_limit: inv.stdout_limit,
            stderr_captured: stderr_pipe.is_some(),
            stderr_pipe,
            stderr_tail: Vec::new(),
            stderr_seen: 0,
            pidfd: spawned.pidfd,
            closed: Vec::new(),
            deadline: inv.timeout.map(|t| started + t),
            outputs_unwatched_until,
            exited: None,
            finished: false,
        };
        if let Some(s) = &exchange.stdin {
            if let Err(e) = sys::set_nonblocking(s.as_fd()) {
                return Err(exchange.abort(RunError::Io(e)));
            }
        }
        if matches!(exchange.pending, Pending::Bytes { .. }) {
            // Bytes in memory go first, as far as the pipe takes them: a small message is then
            // written and stdin closed before the driver watches anything, and (this early) most
            // often before the plugin tries to read it, which saves it a sleep and a wake-up.
            // (A reader is not read here: the caller's first poll decides when.)
            if let Err(error) = exchange.write_stdin() {
                return Err(exchange.abort(error));
            }
            // Nothing watches them yet: a message written whole closes stdin right here.
            exchange.release_closed();
        }
        let outputs = [exchange.stdout_pipe.as_ref(), exchange.stderr_pipe.as_ref()];
        let failed = outputs.into_iter().flatten().find_map(|p| sys::set_nonblocking(p.as_fd()).err());
        if let Some(e) = failed {
            return Err(exchange.abort(RunError::Io(e)));
        }
        Ok(exchange)
    }

    /// The plugin's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.pid.unsigned_abs()
    }

    /// What to watch now (nothing once the run is over). For the first
    /// [`super::OUTPUT_WATCH_DELAY`] of a run with a pidfd, stdout and stderr are left out: the
    /// exit wakes the driver once, and the pipes are read then.
    #[must_use]
    pub fn watches(&self) -> Watches {
        if self.finished {
            return Watches::default();
        }
        let running = self.exited.is_none();
        let outputs = self.outputs_unwatched_until.is_none();
        Watches {
            stdin: self.stdin.as_ref().filter(|_| running).map(AsRawFd::as_raw_fd),
            stdout: self.stdout_pipe.as_ref().filter(|_| outputs).map(AsRawFd::as_raw_fd),
            stderr: self.stderr_pipe.as_ref().filter(|_| outputs).map(AsRawFd::as_raw_fd),
            exit: self.pidfd.as_ref().filter(|_| running).map(AsRawFd::as_raw_fd),
        }
    }

    /// When [`Exchange::on_timer`] must run next, if ever.
    #[must_use]
    pub fn next_timer(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        if let Some((_, at)) = self.exited {
            return Some(at + EXIT_GRACE);
        }
        let poll = self.pidfd.is_none().then(|| Instant::now() + REAP_POLL);
        [self.deadline, poll, self.outputs_unwatched_until].into_iter().flatten().min()
    }

    /// `channel` is ready: does the I/O it allows, without blocking (except a
    /// [`Stdin::Reader`], which is read when stdin is writable). `Some` when the run is over.
    pub fn on_ready(&mut self, channel: Channel) -> Option<RunResult> {
        if self.finished {
            return None;
        }
        let step = match channel {
            Channel::Stdout => self.read_stdout(),
            Channel::Stderr => {
                self.read_stderr();
                Ok(())
            }
            Channel::Stdin if self.exited.is_none() => self.write_stdin(),
            Channel::Stdin => Ok(()),
            Channel::Exit => self.check_exit(),
        };
        match step {
            Ok(()) => self.settle(),
            Err(error) => Some(Err(self.abort(error))),
        }
    }

    /// Time passed: enforces the timeout, ends the grace after exit, checks a child that has
    /// no pidfd. `Some` when the run is over.
    pub fn on_timer(&mut self) -> Option<RunResult> {
        if self.finished {
            return None;
        }
        if self.exited.is_none() {
            let now = Instant::now();
            if self.deadline.is_some_and(|d| now >= d) {
                return Some(Err(self.abort(RunError::Timeout)));
            }
            if self.outputs_unwatched_until.is_some_and(|at| now >= at) {
                self.outputs_unwatched_until = None;
            }
            if self.pidfd.is_none() {
                if let Err(error) = self.check_exit() {
                    return Some(Err(self.abort(error)));
                }
            }
        }
        self.settle()
    }

    /// Ends the run now: kills the plugin's process group and reaps the plugin.
    pub fn cancel(&mut self) -> RunResult {
        Err(self.abort(RunError::Cancelled))
    }

    /// Closes the descriptors that left [`Exchange::watches`]; call it once they are no longer
    /// watched (see the module docs). Closing stdin is how the plugin learns the message ended.
    pub fn release_closed(&mut self) {
        self.closed.clear();
    }

    /// Whether reading the message was interrupted by a signal since the last call (for the
    /// blocking engine's interrupt check).
    pub(super) fn take_read_interrupted(&mut self) -> bool {
        std::mem::take(&mut self.read_interrupted)
    }

    /// The run is over if the plugin exited and its pipes are drained (or the grace is over).
    fn settle(&mut self) -> Option<RunResult> {
        let (status, exited_at) = self.exited?;
        let drained = self.stdout_pipe.is_none() && self.stderr_pipe.is_none();
        if !drained && exited_at.elapsed() < EXIT_GRACE {
            return None;
        }
        self.close_all();
        let stderr_tail = self.stderr_tail();
        Some(match status.signal() {
            Some(signal) => {
                Err(RunFailure { error: RunError::Signaled { signal, core_dumped: status.core_dumped() }, stderr_tail })
            }
            None => Ok(Output { stdout: std::mem::take(&mut self.stdout), stderr_tail }),
        })
    }

    /// Ends the run with `error`: the process group is killed and the plugin reaped.
    pub(super) fn abort(&mut self, error: RunError) -> RunFailure {
        self.child.kill_group();
        // After SIGKILL the wait is short (the kernel tearing the process down).
        let _ = self.child.reap();
        self.close_all();
        RunFailure { error, stderr_tail: self.stderr_tail() }
    }

    /// Marks the run over and hands every pipe to [`Exchange::release_closed`].
    fn close_all(&mut self) {
        self.finished = true;
        self.pending = Pending::None;
        if let Some(p) = self.stdin.take() {
            self.closed.push(p.into());
        }
        if let Some(p) = self.stdout_pipe.take() {
            self.closed.push(p.into());
        }
        if let Some(p) = self.stderr_pipe.take() {
            self.closed.push(p.into());
        }
    }

    fn check_exit(&mut self) -> Result<(), RunError> {
        if self.exited.is_some() {
            return Ok(());
        }
        if let Some(status) = self.child.try_reap().map_err(RunError::Io)? {
            self.exited = Some((status, Instant::now()));
            // Nobody will read what is left of the message.
            self.close_stdin();
            // What the plugin wrote is in the pipes now: read it in this step rather than after
            // another wake-up (unless a process it left behind holds a pipe open, this reaches
            // both ends). From here on the pipes are watched until they end.
            self.outputs_unwatched_until = None;
            self.read_stdout()?;
            self.read_stderr();
        }
        Ok(())
    }

    fn close_stdin(&mut self) {
        if let Some(p) = self.stdin.take() {
            self.closed.push(p.into());
        }
        self.pending = Pending::None;
    }

    fn stderr_tail(&self) -> Option<String> {
        if !self.stderr_captured {
            return None;
        }
        let text = String::from_utf8_lossy(&self.stderr_tail);
        let mut lines: &str = &text;
        if self.stderr_seen > self.stderr_tail.len() {
            // Drop the partial first line of a cut tail.
            if let Some(i) = lines.find('\n') {
                lines = &lines[i + 1..];
            }
        }
        Some(crate::error::escape_text(lines.trim_end(), STDERR_TAIL_BYTES).replace("\\n", "\n"))
    }

    fn read_stdout(&mut self) -> Result<(), RunError> {
        let mut buf = [0u8; READ_BYTES];
        loop {
            let Some(pipe) = self.stdout_pipe.as_mut() else { return Ok(()) };
            match pipe.read(&mut buf) {
                Ok(0) => {
                    if let Some(p) = self.stdout_pipe.take() {
                        self.closed.push(p.into());
                    }
                    // Usually the plugin has exited by now: no need to wait for the pidfd.
                    return self.check_exit();
                }
                Ok(n) => {
                    if self.stdout.len() + n > self.stdout_limit {
                        return Err(RunError::OutputTooLarge);
                    }
                    self.stdout.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RunError::Io(e)),
            }
        }
    }

    fn read_stderr(&mut self) {
        let mut buf = [0u8; READ_BYTES];
        loop {
            let Some(pipe) = self.stderr_pipe.as_mut() else { return };
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.stderr_seen += n;
                    self.stderr_tail.extend_from_slice(&buf[..n]);
                    if self.stderr_tail.len() > 2 * STDERR_TAIL_BYTES {
                        let cut = self.stderr_tail.len() - STDERR_TAIL_BYTES;
                        self.stderr_tail.drain(..cut);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        if let Some(p) = self.stderr_pipe.take() {
            self.closed.push(p.into());
        }
    }

    /// Writes as much of the message as the pipe takes; closes stdin at the end of the message,
    /// or when the plugin stopped reading (`EPIPE`).
    fn write_stdin(&mut self) -> Result<(), RunError> {
        // A write to a pipe whose reader is gone raises SIGPIPE in this thread: blocked here, and
        // the pending signal consumed, so even a host with the default disposition survives.
        let _sigpipe = SigpipeGuard::new();
        loop {
            let Some(pipe) = self.stdin.as_mut() else { return Ok(()) };
            let unsent: &[u8] = match &mut self.pending {
                Pending::None => {
                    self.close_stdin();
                    return Ok(());
                }
                Pending::Bytes { bytes, pos } => &(**bytes).as_ref()[*pos..],
                Pending::Reader(reader) => {
                    if self.chunk_pos == self.chunk.len() {
                        // Start small; double while the reads fill the buffer.
                        self.chunk_size = if self.chunk_size == 0 {
                            STDIN_FIRST_CHUNK
                        } else if self.chunk.len() == self.chunk_size {
                            (self.chunk_size * 2).min(STDIN_CHUNK)
                        } else {
                            self.chunk_size
                        };
                        self.chunk.resize(self.chunk_size, 0);
                        let n = match reader.read(&mut self.chunk) {
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                                // A signal: back to the driver, which runs its interrupt check
                                // (if any) and then comes back here to read again.
                                self.chunk.clear();
                                self.chunk_pos = 0;
                                self.read_interrupted = true;
                                return Ok(());
                            }
                            Err(e) => return Err(RunError::ReadMessage(e)),
                        };
                        self.chunk.truncate(n);
                        self.chunk_pos = 0;
                    }
                    &self.chunk[self.chunk_pos..]
                }
            };
            if unsent.is_empty() {
                self.close_stdin(); // end of message: EOF for the plugin
                return Ok(());
            }
            match pipe.write(unsent) {
                Ok(n) => match &mut self.pending {
                    Pending::Bytes { pos, .. } => *pos += n,
                    _ => self.chunk_pos += n,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The message does not fit in the pipe: a bigger one means fewer wake-ups
                    // (best effort; then write again, or wait for the plugin to read).
                    if self.stdin_grown {
                        return Ok(());
                    }
                    self.stdin_grown = true;
                    if !sys::grow_pipe(pipe.as_fd(), STDIN_PIPE_BYTES) {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // EPIPE (or similar): the plugin does not want the rest. Not an error;
                    // its answer decides.
                    self.close_stdin();
                    return Ok(());
                }
            }
        }
    }
}

/// The plugin's process: killed (with its process group) and reaped unless it was reaped
/// already, on every path out.
struct Process {
    pid: sys::Pid,
    reaped: bool,
    /// The process that spawned it. A copy of this struct in a child made by `fork()` (a Python
    /// `os.fork()` with a call in flight) must not kill or reap its parent's plugin.
    owner: u32,
}

impl Process {
    /// Kills the plugin's process group. Only called before the child is reaped, while its
    /// pid (and so the group id) cannot have been reused.
    fn kill_group(&mut self) {
        if !self.reaped {
            sys::kill_group(self.pid);
        }
    }

    fn wait(&mut self, block: bool) -> io::Result<Option<ExitStatus>> {
        if self.reaped {
            return Ok(None);
        }
        match sys::wait_pid(self.pid, block) {
            Ok(Some(status)) => {
                self.reaped = true;
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                // ECHILD: someone else reaped it (a SIGCHLD handler with SIG_IGN semantics).
                if sys::is_no_child(&e) {
                    self.reaped = true;
                }
                Err(e)
            }
        }
    }

    fn reap(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait(true)
    }

    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait(false)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.reaped && self.owner == std::process::id() {
            self.kill_group();
            let _ = self.reap();
        }
    }
}
