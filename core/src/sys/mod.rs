//! Every system call the crate makes, in one place: the rest of the crate is plain Rust over
//! the functions and types of this module.
//!
//! Two implementations of what differs between systems, chosen at compile time:
//!
//! | | `linux` (Linux, unless the `portable` feature is on) | `portable` (other Unixes, and Linux with `--features portable`) |
//! |---|---|---|
//! | pipes | `pipe2(O_CLOEXEC)`; a streamed message grows its pipe to 1 MiB (`F_SETPIPE_SZ`) | `pipe` + `fcntl(FD_CLOEXEC)`; default pipe size |
//! | spawn | `clone3(CLONE_VM \| CLONE_VFORK \| CLONE_CLEAR_SIGHAND \| CLONE_PIDFD)` on x86-64, else `posix_spawn` | `posix_spawn` (`std::process::Command`) |
//! | exit of a plugin | its pidfd becomes readable | no pidfd: the child is checked every 10 ms |
//! | `Poller` (the reactor's one descriptor) | an epoll instance with a timerfd and an eventfd in it | a pipe made readable by a helper thread that `poll(2)`s the registered descriptors |
//! | a `SIGPIPE` our own write left pending | consumed with `sigtimedwait` | consumed with `sigwait` (known to be pending) |
//!
//! What both share (`unix`): `fcntl`, `poll`, `kill`/`killpg`, `waitpid`, signal masks,
//! `faccessat`. CI runs the whole Rust test suite both ways on Linux (`make test`), so the
//! portable path is tested even where the Linux one is what ships.
//!
//! The items public outside the crate are the few a binding needs (so that no binding makes a
//! system call of its own): [`make_blocking`], [`is_main_thread`], [`errno_name`].

mod unix;

#[cfg(all(target_os = "linux", not(feature = "portable")))]
mod linux;
#[cfg(all(target_os = "linux", not(feature = "portable")))]
use linux as os;

#[cfg(any(not(target_os = "linux"), feature = "portable"))]
mod portable;
#[cfg(any(not(target_os = "linux"), feature = "portable"))]
use portable as os;

mod spawn;

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::process::ExitStatus;
use std::time::Duration;

pub(crate) use os::{Poller, Waker};
/// Whether a [`Poller`] is only descriptors (epoll and a timerfd), cheap enough to make one
/// per call; the portable one runs a helper thread.
pub(crate) const CHEAP_POLLER: bool = cfg!(all(target_os = "linux", not(feature = "portable")));
pub(crate) use spawn::{spawn, Spec};
pub(crate) use unix::SigpipeGuard;

/// A process id.
pub(crate) type Pid = libc::pid_t;

/// Which implementation this build uses: `"linux"` or `"portable"`.
pub const IMPLEMENTATION: &str = os::NAME;

/// A pipe, both ends close-on-exec, both non-blocking if asked: `(read, write)`.
pub(crate) fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    os::pipe(nonblocking)
}

/// Makes `fd` non-blocking.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    unix::set_nonblocking(fd, true)
}

/// Makes `fd` blocking again if it is not (errors are ignored: a bad descriptor stays bad).
///
/// For bindings whose runtime switches the standard descriptors to non-blocking mode (Node
/// does, for the pipes it touches) while the plugin SDK reads stdin and writes stdout with
/// plain blocking calls.
pub fn make_blocking(fd: BorrowedFd<'_>) {
    let _ = unix::set_nonblocking(fd, false);
}

/// Tries to grow a pipe's buffer to `bytes` (fewer wake-ups when streaming a large message);
/// whether it did. Best effort: only Linux can.
pub(crate) fn grow_pipe(fd: BorrowedFd<'_>, bytes: usize) -> bool {
    os::grow_pipe(fd, bytes)
}

/// A pidfd for `pid`, readable once the process exits; `None` where there are none.
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    os::pidfd_open(pid)
}

/// Kills process `pid` and its process group with `SIGKILL`. The caller guarantees the pid has
/// not been reaped (so neither the pid nor the group id can have been reused).
pub(crate) fn kill_group(pid: Pid) {
    unix::kill_group(pid);
}

/// Waits for our child `pid`: `Ok(None)` if `block` is false and it has not exited; retried on
/// `EINTR`. `ECHILD` (someone else reaped it) is an error the caller treats as "reaped".
pub(crate) fn wait_pid(pid: Pid, block: bool) -> io::Result<Option<ExitStatus>> {
    unix::wait_pid(pid, block)
}

/// Whether `e` is `ECHILD`: the child was reaped by someone else.
pub(crate) fn is_no_child(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECHILD)
}

/// What [`Poller::ready`] found besides ready descriptors.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    /// The timer was due.
    pub timer: bool,
    /// A [`Waker`] woke the poller.
    pub woken: bool,
}

/// A descriptor for [`poll`], and what it was found ready for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollFd {
    /// The descriptor.
    pub fd: RawFd,
    /// Watched for writing (otherwise for reading).
    pub writable: bool,
    /// Set by [`poll`]: it is ready (or in error, or hung up).
    pub ready: bool,
}

/// `poll(2)` over `fds` for at most `timeout` (`None`: for ever); returns how many are ready.
/// `EINTR` is returned as an error of kind `Interrupted`.
pub(crate) fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    unix::poll(fds, timeout)
}

/// Whether `path` is executable by this process's effective ids (`faccessat(AT_EACCESS)`);
/// `None` where the system cannot tell (the caller falls back to the mode bits).
pub(crate) fn is_executable(path: &std::path::Path) -> Option<bool> {
    unix::is_executable(path)
}

/// Whether the calling thread is the process's main thread; `None` where the system cannot
/// tell. (Python runs its signal handlers on the main thread only.)
#[must_use]
pub fn is_main_thread() -> Option<bool> {
    os::is_main_thread()
}

/// The symbolic name of an `errno` value (`"ENOENT"`), as Node's `fs` errors carry it in
/// `code`, for the values an I/O error of ours can have.
#[must_use]
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EISDIR => "EISDIR",
        libc::ENOTDIR => "ENOTDIR",
        libc::ELOOP => "ELOOP",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EAGAIN => "EAGAIN",
        libc::EINVAL => "EINVAL",
        libc::ENOMEM => "ENOMEM",
        libc::EPIPE => "EPIPE",
        libc::ENOEXEC => "ENOEXEC",
        libc::E2BIG => "E2BIG",
        _ => return None,
    })
}

/// The name of a signal that kills plugins, for error messages (`"signal"` for others).
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        _ => "signal",
    }
}

/// What a failed spawn most likely means, for the error message.
pub(crate) fn spawn_error_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOEXEC) => {
            "exec format error: the file is neither a binary for this machine nor a script with a \"#!\" line"
        }
        Some(libc::EACCES) => "permission denied: the program (or its interpreter) is not executable by this user",
        Some(libc::ENOENT) => "the program or its \"#!\" interpreter does not exist (was it removed after discovery?)",
        Some(libc::E2BIG) => "the arguments and environment are too large for the kernel",
        _ => "could not start the plugin program",
    }
}
