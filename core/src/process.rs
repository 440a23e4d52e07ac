//! Running one plugin process: spawn, stream stdin, drain stdout and stderr, enforce limits.
//!
//! One thread drives everything with `poll(2)` over non-blocking pipe ends, the child's pidfd
//! and an optional cancellation fd, so that:
//! * the message streams to stdin in fixed-size chunks while stdout and stderr are drained
//!   (memory stays flat whatever the message size, and no pipe can fill up and deadlock);
//! * a plugin that exits without reading stdin is fine (`EPIPE` ends the stream; `SIGPIPE` is
//!   blocked in this thread and the pending signal consumed, so even a host whose `SIGPIPE`
//!   disposition is the default cannot die of it);
//! * the timeout, the stdout cap and cancellation kill the plugin's whole process group
//!   (it is spawned as the leader of a new group) and reap it;
//! * once the plugin itself has exited, a grandchild still holding stdout or stderr open
//!   stalls us for at most [`EXIT_GRACE`].
//!
//! There is no shell anywhere: the program path is executed directly.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The kernel's limit on one argument string (`MAX_ARG_STRLEN`, 32 pages), terminating NUL
/// included.
pub const MAX_ARG_BYTES: usize = 32 * 4096;
/// How long we keep reading stdout/stderr after the plugin exited, for data a grandchild that
/// inherited the pipes may still hold up.
pub const EXIT_GRACE: Duration = Duration::from_millis(250);
/// Size of the chunks the message is streamed in.
pub const STDIN_CHUNK: usize = 128 * 1024;
/// Size of the first chunk; it doubles up to [`STDIN_CHUNK`] while reads fill it. A small
/// message then costs no large allocation (a fresh 128 KiB buffer is page faults and zeroing
/// on every call, about 25 µs here, for a 1 KiB message).
const STDIN_FIRST_CHUNK: usize = 16 * 1024;
/// The stdin pipe is grown to this size, once the message turned out not to fit in the default
/// pipe (fewer wake-ups when streaming a large message). Not before: pipe buffers count
/// against a per-user quota (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default), and once
/// an unprivileged user is past it every new pipe of that user is cut to 8 KiB -- 64 concurrent
/// calls each growing its pipe up front would use it all.
const STDIN_PIPE_BYTES: libc::c_int = 1 << 20;
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
    /// The message for stdin; `None` connects stdin to `/dev/null`.
    pub stdin: Option<&'r mut (dyn Read + 'r)>,
    /// Kill the plugin after this long.
    pub timeout: Option<Duration>,
    /// Largest stdout accepted.
    pub stdout_limit: usize,
    /// Where stderr goes.
    pub stderr: StderrMode,
    /// Becomes readable when the caller gives up (async cancellation).
    pub cancel: Option<BorrowedFd<'a>>,
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

/// Runs the plugin to completion.
pub fn run(inv: Invocation<'_, '_>) -> Result<Output, RunFailure> {
    if inv.request.len() >= MAX_ARG_BYTES {
        return Err(RunError::RequestTooLong(inv.request.len()).into());
    }
    let started = Instant::now();
    let mut cmd = Command::new(inv.program);
    // argv[0] is the bare program name, as Go's exec.Command gives it (the path is only used to
    // find the file): plugins that dispatch on their own name see the same thing from any host.
    cmd.arg0(inv.program.file_name().unwrap_or(inv.program.as_os_str()))
        .arg(inv.version)
        .arg(OsStr::from_bytes(inv.request))
        .stdin(if inv.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(match inv.stderr {
            StderrMode::Inherit => Stdio::inherit(),
            StderrMode::Capture => Stdio::piped(),
            StderrMode::Null => Stdio::null(),
        })
        // A group of its own, so a timeout can kill whatever the plugin started too.
        .process_group(0);
    let child = cmd.spawn().map_err(RunError::Spawn)?;
    let mut guard = ChildGuard::new(child);
    let _sigpipe = SigpipeBlock::new();
    let mut state = Pumps::new(&mut guard.child, inv.stdin, inv.stdout_limit)?;
    let deadline = inv.timeout.map(|t| started + t);
    // Taken for the run (a plugin run by the check itself does not see it), put back after.
    let mut interrupt = RestoreCheck(Some(INTERRUPT_CHECK.with(|c| c.borrow_mut().take())));
    let result = state.pump(&mut guard, deadline, inv.cancel, interrupt.0.as_mut().and_then(Option::as_mut));
    drop(interrupt);
    let stderr_tail = state.stderr_tail();
    match result {
        Ok(status) => match status.signal() {
            Some(signal) => {
                Err(RunFailure { error: RunError::Signaled { signal, core_dumped: status.core_dumped() }, stderr_tail })
            }
            None => Ok(Output { stdout: std::mem::take(&mut state.stdout), stderr_tail }),
        },
        Err(error) => Err(RunFailure { error, stderr_tail }),
    }
}

/// Kills the process group and reaps the child unless it was reaped already, on every path out.
struct ChildGuard {
    child: Child,
    reaped: bool,
}

impl ChildGuard {
    fn new(child: Child) -> Self {
        ChildGuard { child, reaped: false }
    }

    /// Kills the plugin's process group. Only called before the child is reaped, while its
    /// pid (and so the group id) cannot have been reused.
    fn kill_group(&mut self) {
        if self.reaped {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: plain syscalls on a pid we own and have not reaped.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    fn reap(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait()?;
        self.reaped = true;
        Ok(status)
    }

    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        if status.is_some() {
            self.reaped = true;
        }
        Ok(status)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// Blocks `SIGPIPE` in the current thread for the guard's lifetime, and discards a `SIGPIPE`
/// our own writes left pending.
struct SigpipeBlock {
    old_mask: libc::sigset_t,
    was_pending: bool,
}

impl SigpipeBlock {
    fn new() -> Self {
        // SAFETY: sigset manipulation on local, initialised sets; pthread_sigmask only affects
        // this thread.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old);
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&raw mut pending);
            let was_pending = libc::sigismember(&raw const pending, libc::SIGPIPE) == 1;
            SigpipeBlock { old_mask: old, was_pending }
        }
    }
}

impl Drop for SigpipeBlock {
    fn drop(&mut self) {
        // SAFETY: as in `new`; sigtimedwait with a zero timeout never blocks.
        unsafe {
            if !self.was_pending {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&raw mut set);
                libc::sigaddset(&raw mut set, libc::SIGPIPE);
                let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                let mut pending: libc::sigset_t = std::mem::zeroed();
                libc::sigpending(&raw mut pending);
                if libc::sigismember(&raw const pending, libc::SIGPIPE) == 1 {
                    libc::sigtimedwait(&raw const set, std::ptr::null_mut(), &raw const zero);
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &raw const self.old_mask, std::ptr::null_mut());
        }
    }
}

// Slots of the poll set.
const STDIN: usize = 0;
const STDOUT: usize = 1;
const STDERR: usize = 2;
const PID: usize = 3;
const CANCEL: usize = 4;

/// The pipes and buffers of one run.
struct Pumps<'a> {
    stdin: Option<ChildStdin>,
    source: Option<&'a mut (dyn Read + 'a)>,
    chunk: Vec<u8>,
    chunk_pos: usize,
    /// How much of the message is read at a time (grows up to [`STDIN_CHUNK`]).
    chunk_size: usize,
    /// Whether the stdin pipe was grown to [`STDIN_PIPE_BYTES`] (or that was tried).
    stdin_grown: bool,
    /// Reading the message was interrupted by a signal (run the interrupt check).
    source_interrupted: bool,
    stdout_pipe: Option<ChildStdout>,
    stdout: Vec<u8>,
    stdout_limit: usize,
    stderr_pipe: Option<ChildStderr>,
    stderr_tail: Vec<u8>,
    stderr_seen: usize,
    pidfd: Option<OwnedFd>,
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A pidfd for `pid` (Linux 5.3+), readable when the process exits; `None` where unsupported.
fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the syscall returned a fresh fd (close-on-exec) that nobody else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl<'a> Pumps<'a> {
    fn new(child: &mut Child, source: Option<&'a mut (dyn Read + 'a)>, stdout_limit: usize) -> Result<Self, RunError> {
        let stdin = child.stdin.take();
        let stdout_pipe = child.stdout.take();
        let stderr_pipe = child.stderr.take();
        if let Some(s) = &stdin {
            set_nonblocking(s.as_raw_fd()).map_err(RunError::Io)?;
        }
        if let Some(s) = &stdout_pipe {
            set_nonblocking(s.as_raw_fd()).map_err(RunError::Io)?;
        }
        if let Some(s) = &stderr_pipe {
            set_nonblocking(s.as_raw_fd()).map_err(RunError::Io)?;
        }
        Ok(Pumps {
            stdin,
            source,
            chunk: Vec::new(),
            chunk_pos: 0,
            chunk_size: 0,
            stdin_grown: false,
            source_interrupted: false,
            stdout_pipe,
            stdout: Vec::new(),
            stdout_limit,
            stderr_pipe,
            stderr_tail: Vec::new(),
            stderr_seen: 0,
            pidfd: open_pidfd(child.id()),
        })
    }

    fn stderr_tail(&self) -> Option<String> {
        if self.stderr_seen == 0 && self.stderr_pipe.is_none() && self.stderr_tail.is_empty() {
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

    /// Drives the pipes until the child exited and the pipes closed (or the grace ran out).
    fn pump(
        &mut self,
        guard: &mut ChildGuard,
        deadline: Option<Instant>,
        cancel: Option<BorrowedFd<'_>>,
        mut interrupt: Option<&mut InterruptCheck>,
    ) -> Result<ExitStatus, RunError> {
        let mut exit: Option<(ExitStatus, Instant)> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let mut last_check = Instant::now();
        loop {
            if let Some((status, exited_at)) = exit {
                let drained = self.stdout_pipe.is_none() && self.stderr_pipe.is_none();
                if drained || exited_at.elapsed() >= EXIT_GRACE {
                    return Ok(status);
                }
            }
            let now = Instant::now();
            if let Some(d) = deadline {
                if now >= d && exit.is_none() {
                    guard.kill_group();
                    let _ = guard.reap();
                    return Err(RunError::Timeout);
                }
            }

            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
            let mut slots = [usize::MAX; 5];
            let mut push = |slot: usize, fd: RawFd, events: libc::c_short, fds: &mut Vec<libc::pollfd>| {
                slots[slot] = fds.len();
                fds.push(libc::pollfd { fd, events, revents: 0 });
            };
            if exit.is_none() {
                if let Some(s) = &self.stdin {
                    push(STDIN, s.as_raw_fd(), libc::POLLOUT, &mut fds);
                }
            }
            if let Some(s) = &self.stdout_pipe {
                push(STDOUT, s.as_raw_fd(), libc::POLLIN, &mut fds);
            }
            if let Some(s) = &self.stderr_pipe {
                push(STDERR, s.as_raw_fd(), libc::POLLIN, &mut fds);
            }
            if exit.is_none() {
                if let Some(p) = &self.pidfd {
                    push(PID, p.as_raw_fd(), libc::POLLIN, &mut fds);
                }
            }
            if let Some(c) = cancel {
                push(CANCEL, c.as_raw_fd(), libc::POLLIN, &mut fds);
            }

            let next_check = interrupt.as_ref().map(|i| i.every.saturating_sub(last_check.elapsed()));
            let timeout_ms = self.poll_timeout_ms(now, deadline, exit.map(|(_, at)| at), next_check);

            let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
            // SAFETY: `fds` is a valid array of `nfds` pollfd structs.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
            let mut signalled = std::mem::take(&mut self.source_interrupted);
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    guard.kill_group();
                    return Err(RunError::Io(err));
                }
                signalled = true;
            }
            if interrupt.as_deref_mut().is_some_and(|i| i.wants_stop(&mut last_check, signalled)) {
                guard.kill_group();
                let _ = guard.reap();
                return Err(RunError::Cancelled);
            }
            if rc < 0 {
                continue;
            }
            let ready = |slot: usize| slots[slot] != usize::MAX && fds[slots[slot]].revents != 0;

            if ready(CANCEL) {
                guard.kill_group();
                let _ = guard.reap();
                return Err(RunError::Cancelled);
            }
            if ready(STDOUT) {
                self.read_stdout(&mut buf).inspect_err(|_| guard.kill_group())?;
            }
            if ready(STDERR) {
                self.read_stderr(&mut buf);
            }
            if ready(STDIN) {
                if let Err(e) = self.write_stdin() {
                    guard.kill_group();
                    return Err(e);
                }
            }
            if exit.is_none() && (ready(PID) || self.pidfd.is_none()) {
                if let Some(status) = guard.try_reap().map_err(RunError::Io)? {
                    exit = Some((status, Instant::now()));
                    // Nobody will read what is left of the message.
                    self.stdin = None;
                }
            }
        }
    }

    /// How long poll may sleep, in milliseconds (-1: for ever): until the deadline, the end of
    /// the grace after the plugin `exited`, the next interrupt check, or (without a pidfd) the
    /// next check of the child.
    fn poll_timeout_ms(
        &self,
        now: Instant,
        deadline: Option<Instant>,
        exited: Option<Instant>,
        next_check: Option<Duration>,
    ) -> i32 {
        let mut wait: Option<Duration> = next_check;
        let mut cap = |d: Duration| wait = Some(wait.map_or(d, |w: Duration| w.min(d)));
        if let (Some(d), None) = (deadline, exited) {
            cap(d.saturating_duration_since(now));
        }
        if let Some(exited_at) = exited {
            cap(EXIT_GRACE.saturating_sub(exited_at.elapsed()));
        } else if self.pidfd.is_none() {
            cap(Duration::from_millis(10));
        }
        wait.map_or(-1, |w| i32::try_from(w.as_millis().max(u128::from(w > Duration::ZERO))).unwrap_or(i32::MAX))
    }

    fn read_stdout(&mut self, buf: &mut [u8]) -> Result<(), RunError> {
        let Some(pipe) = self.stdout_pipe.as_mut() else { return Ok(()) };
        loop {
            match pipe.read(buf) {
                Ok(0) => {
                    self.stdout_pipe = None;
                    return Ok(());
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

    fn read_stderr(&mut self, buf: &mut [u8]) {
        let Some(pipe) = self.stderr_pipe.as_mut() else { return };
        loop {
            match pipe.read(buf) {
                Ok(0) => {
                    self.stderr_pipe = None;
                    return;
                }
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
                Err(_) => {
                    self.stderr_pipe = None;
                    return;
                }
            }
        }
    }

    /// Writes as much of the message as the pipe takes; closes stdin at the end of the message,
    /// or when the plugin stopped reading (`EPIPE`).
    fn write_stdin(&mut self) -> Result<(), RunError> {
        loop {
            let Some(pipe) = self.stdin.as_mut() else { return Ok(()) };
            if self.chunk_pos == self.chunk.len() {
                let Some(source) = self.source.as_mut() else {
                    self.stdin = None;
                    return Ok(());
                };
                // Start small; double while the reads fill the buffer.
                self.chunk_size = if self.chunk_size == 0 {
                    STDIN_FIRST_CHUNK
                } else if self.chunk.len() == self.chunk_size {
                    (self.chunk_size * 2).min(STDIN_CHUNK)
                } else {
                    self.chunk_size
                };
                self.chunk.resize(self.chunk_size, 0);
                let n = match source.read(&mut self.chunk) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        // A signal: back to the poll loop, which runs the interrupt check (if
                        // any) and then comes back here to read again.
                        self.chunk.clear();
                        self.chunk_pos = 0;
                        self.source_interrupted = true;
                        return Ok(());
                    }
                    Err(e) => return Err(RunError::ReadMessage(e)),
                };
                self.chunk.truncate(n);
                self.chunk_pos = 0;
                if n == 0 {
                    self.stdin = None; // end of message: EOF for the plugin
                    self.source = None;
                    return Ok(());
                }
            }
            match pipe.write(&self.chunk[self.chunk_pos..]) {
                Ok(n) => self.chunk_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The message does not fit in the pipe: a bigger one means fewer wake-ups
                    // (best effort; then write again, or wait for the plugin to read).
                    if self.stdin_grown {
                        return Ok(());
                    }
                    self.stdin_grown = true;
                    // SAFETY: fcntl on an fd we own.
                    if unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, STDIN_PIPE_BYTES) } < 0 {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // EPIPE (or similar): the plugin does not want the rest. Not an error;
                    // its answer decides.
                    self.stdin = None;
                    self.source = None;
                    return Ok(());
                }
            }
        }
    }
}

/// An eventfd-like pair for cancelling a run from another thread.
#[derive(Debug)]
pub struct CancelPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl CancelPipe {
    /// A new, untriggered pipe (both ends close-on-exec).
    pub fn new() -> io::Result<Self> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills the two-element array on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds are fresh and owned by nobody else.
        Ok(unsafe { CancelPipe { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) } })
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
