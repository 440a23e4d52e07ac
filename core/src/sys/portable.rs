//! The portable implementation (any Unix; Linux with the `portable` feature): `pipe` +
//! `fcntl`, no pipe growth, no pidfd, `sigwait`, and a [`Poller`] built on `poll(2)`.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::{unix, PollFd, Ready};

pub(super) const NAME: &str = "portable";

pub(super) fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe fills the two-element array on success.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Not atomic with the pipe's creation (there is no pipe2 everywhere): a fork+exec by another
    // thread in between would leak these two descriptors into that child. std's own pipes have
    // the same window on such systems.
    for fd in [r.as_fd(), w.as_fd()] {
        unix::set_cloexec(fd)?;
        if nonblocking {
            unix::set_nonblocking(fd, true)?;
        }
    }
    Ok((r, w))
}

pub(super) fn grow_pipe(_fd: BorrowedFd<'_>, _bytes: usize) -> bool {
    false
}

pub(super) fn pidfd_open(_pid: libc::pid_t) -> Option<OwnedFd> {
    None
}

pub(super) fn is_main_thread() -> Option<bool> {
    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    {
        // SAFETY: no preconditions.
        Some(unsafe { libc::pthread_main_np() } == 1)
    }
    #[cfg(not(any(target_vendor = "apple", target_os = "freebsd")))]
    {
        None
    }
}

/// Consumes a pending `SIGPIPE` (blocked in this thread): `sigwait` returns at once, since the
/// caller saw it pending.
pub(super) fn consume_pending_sigpipe(set: &libc::sigset_t) {
    let mut signal = 0;
    // SAFETY: the signal is blocked and pending, so sigwait does not wait.
    unsafe { libc::sigwait(set, &raw mut signal) };
}

// ---------------------------------------------------------------------------------------------
// The poller: a pipe made readable by a helper thread polling the registered descriptors

/// Many descriptors behind one: a helper thread `poll(2)`s the registered descriptors (and the
/// timer) and, when something is ready, makes the poller's pipe readable and pauses until the
/// host has collected (the descriptors are level-triggered: polling on would spin). The host
/// then polls the same set itself, without waiting, to learn what is ready.
pub(crate) struct Poller {
    notified: OwnedFd,
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    resume: Condvar,
    /// Written when something is ready (the write end of `Poller::notified`).
    notify: OwnedFd,
    /// Wakes the helper out of its `poll` (the set changed, or the poller is going away).
    wake_write: OwnedFd,
    wake_read: OwnedFd,
}

#[derive(Default)]
struct State {
    fds: Vec<(RawFd, bool, u64)>,
    timer: Option<Instant>,
    /// The helper signalled and waits for the host to collect.
    paused: bool,
    /// A [`Waker`] woke.
    woken: bool,
    shutdown: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes the poller's descriptor readable from any thread.
#[derive(Clone)]
pub(crate) struct Waker(Arc<Shared>);

impl Waker {
    pub(crate) fn wake(&self) {
        self.0.lock().woken = true;
        write_byte(&self.0.notify);
    }
}

/// Writes one byte to a non-blocking pipe (a full pipe is readable already).
fn write_byte(fd: &OwnedFd) {
    let one = [1u8];
    // SAFETY: a one-byte write from a local buffer to our own descriptor.
    unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), 1) };
}

/// Reads a non-blocking pipe until it is empty.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    let mut file = std::mem::ManuallyDrop::new(
        // SAFETY: borrowed for these reads only; ManuallyDrop keeps it from being closed.
        unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) },
    );
    while matches!(file.read(&mut buf), Ok(n) if n > 0) {}
}

impl Poller {
    pub(crate) fn new() -> io::Result<Self> {
        let (notified, notify) = pipe(true)?;
        let (wake_read, wake_write) = pipe(true)?;
        let shared =
            Arc::new(Shared { state: Mutex::default(), resume: Condvar::new(), notify, wake_write, wake_read });
        let for_helper = Arc::clone(&shared);
        let helper = std::thread::Builder::new().name("sigstore-kms-poll".into()).spawn(move || helper(&for_helper))?;
        Ok(Poller { notified, shared, helper: Some(helper) })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.notified.as_fd()
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker(Arc::clone(&self.shared))
    }

    fn changed(&self) {
        write_byte(&self.shared.wake_write);
    }

    #[allow(clippy::unnecessary_wraps)] // the same signature as the Linux poller's
    pub(crate) fn add(&self, fd: RawFd, writable: bool, token: u64) -> io::Result<()> {
        self.shared.lock().fds.push((fd, writable, token));
        self.changed();
        Ok(())
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut s = self.shared.lock();
        let before = s.fds.len();
        s.fds.retain(|(f, _, _)| *f != fd);
        let found = s.fds.len() != before;
        drop(s);
        self.changed();
        if found {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::ENOENT))
        }
    }

    #[allow(clippy::unnecessary_wraps)] // the same signature as the Linux poller's
    pub(crate) fn set_timer(&self, at: Option<Instant>) -> io::Result<()> {
        self.shared.lock().timer = at;
        self.changed();
        Ok(())
    }

    pub(crate) fn ready(&self, tokens: &mut Vec<u64>) -> io::Result<Ready> {
        drain(&self.notified);
        let (fds, timer, woken) = {
            let mut s = self.shared.lock();
            (s.fds.clone(), s.timer, std::mem::take(&mut s.woken))
        };
        let mut polled: Vec<PollFd> =
            fds.iter().map(|&(fd, writable, _)| PollFd { fd, writable, ready: false }).collect();
        let result = match unix::poll(&mut polled, Some(std::time::Duration::ZERO)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        };
        tokens.extend(polled.iter().zip(&fds).filter(|(p, _)| p.ready).map(|(_, &(_, _, token))| token));
        let ready = Ready { timer: timer.is_some_and(|t| Instant::now() >= t), woken };
        // Collected: the helper may watch again.
        self.shared.lock().paused = false;
        self.shared.resume.notify_one();
        result.map(|()| ready)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.resume.notify_one();
        self.changed();
        if let Some(helper) = self.helper.take() {
            let _ = helper.join();
        }
    }
}

/// The helper thread: polls the set and the timer; signals the host and pauses when something
/// is due.
fn helper(shared: &Shared) {
    loop {
        let (fds, timer) = {
            let mut s = shared.lock();
            while s.paused && !s.shutdown {
                s = shared.resume.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
            if s.shutdown {
                return;
            }
            (s.fds.clone(), s.timer)
        };
        let mut polled: Vec<PollFd> =
            fds.iter().map(|&(fd, writable, _)| PollFd { fd, writable, ready: false }).collect();
        polled.push(PollFd { fd: shared.wake_read.as_raw_fd(), writable: false, ready: false });
        let timeout = timer.map(|t| t.saturating_duration_since(Instant::now()));
        match unix::poll(&mut polled, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Nothing sensible to do but try again a little later.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
        if polled.pop().is_some_and(|w| w.ready) {
            drain(&shared.wake_read);
        }
        // A descriptor deleted (and closed) while we polled it shows up as ready (POLLNVAL):
        // the host then finds nothing for it, and the next round no longer has it.
        let due = polled.iter().any(|p| p.ready) || timer.is_some_and(|t| Instant::now() >= t);
        if due {
            let mut s = shared.lock();
            if !s.shutdown {
                s.paused = true;
                write_byte(&shared.notify);
            }
        }
    }
}
