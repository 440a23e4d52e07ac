//! The POSIX calls both implementations share.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use super::PollFd;

/// Sets or clears `O_NONBLOCK` on `fd`.
pub(super) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller borrows; it only reads and sets status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let wanted = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        if wanted != flags && libc::fcntl(fd, libc::F_SETFL, wanted) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Checks a call's return value; on success takes ownership of the new descriptor.
pub(super) fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call just returned this fresh descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `/dev/null`, read-write, close-on-exec.
pub(super) fn dev_null() -> io::Result<OwnedFd> {
    // SAFETY: open with a static NUL-terminated path.
    owned(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
}

/// `fd`, or a duplicate of it numbered 3 or more (close-on-exec) if it is one of 0, 1, 2.
pub(super) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: duplicates a descriptor we own.
    owned(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) })
}

/// Sets `FD_CLOEXEC` on `fd`.
#[cfg_attr(all(target_os = "linux", not(feature = "portable")), allow(dead_code))]
pub(super) fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller borrows; it only reads and sets its flags.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFD);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

pub(super) fn kill_group(pid: libc::pid_t) {
    // SAFETY: plain syscalls on a pid the caller owns and has not reaped.
    unsafe {
        libc::killpg(pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

pub(super) fn wait_pid(pid: libc::pid_t, block: bool) -> io::Result<Option<ExitStatus>> {
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    loop {
        // SAFETY: waits for the caller's own child.
        let rc = unsafe { libc::waitpid(pid, &raw mut status, flags) };
        if rc == pid {
            return Ok(Some(ExitStatus::from_raw(status)));
        }
        if rc == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub(super) fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let mut raw: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd { fd: f.fd, events: if f.writable { libc::POLLOUT } else { libc::POLLIN }, revents: 0 })
        .collect();
    // Rounded up, so a timer due in 0.3 ms is not polled for in a busy loop.
    let ms =
        timeout.map_or(-1, |t| i32::try_from(t.as_millis().max(u128::from(t > Duration::ZERO))).unwrap_or(i32::MAX));
    let nfds = libc::nfds_t::try_from(raw.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `raw` is a valid array of `nfds` pollfd structs.
    let rc = unsafe { libc::poll(raw.as_mut_ptr(), nfds, ms) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    for (f, r) in fds.iter_mut().zip(&raw) {
        f.ready = r.revents != 0;
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

pub(super) fn is_executable(path: &Path) -> Option<bool> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c_path.as_ptr(), libc::X_OK, libc::AT_EACCESS) };
    if rc == 0 {
        return Some(true);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOSYS | libc::EPERM | libc::EINVAL) => None,
        _ => Some(false),
    }
}

/// Blocks `SIGPIPE` in the current thread for the guard's lifetime, and discards a `SIGPIPE`
/// the guarded writes left pending: a write to a pipe whose reader is gone raises it in the
/// writing thread, and even a host whose disposition is the default must survive that.
pub(crate) struct SigpipeGuard {
    old_mask: libc::sigset_t,
    was_pending: bool,
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: initialises a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGPIPE);
        set
    }
}

fn sigpipe_pending() -> bool {
    // SAFETY: reads this thread's pending set into a local.
    unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&raw mut pending);
        libc::sigismember(&raw const pending, libc::SIGPIPE) == 1
    }
}

impl SigpipeGuard {
    pub(crate) fn new() -> Self {
        let set = sigpipe_set();
        // SAFETY: pthread_sigmask only affects this thread; `old` is a local.
        let old_mask = unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old);
            old
        };
        SigpipeGuard { old_mask, was_pending: sigpipe_pending() }
    }
}

impl Drop for SigpipeGuard {
    fn drop(&mut self) {
        if !self.was_pending && sigpipe_pending() {
            super::os::consume_pending_sigpipe(&sigpipe_set());
        }
        // SAFETY: restores the mask saved in `new`, for this thread only.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const self.old_mask, std::ptr::null_mut()) };
    }
}
