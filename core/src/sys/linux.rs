//! The Linux implementation: `pipe2`, pipe growth, pidfds, epoll with a timerfd and an
//! eventfd, `sigtimedwait`, and the `clone3` spawn on x86-64.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::unix::owned;
use super::Ready;

pub(super) const NAME: &str = "linux";

pub(super) fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
    // SAFETY: pipe2 fills the two-element array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((owned(fds[0])?, owned(fds[1])?))
}

pub(super) fn grow_pipe(fd: BorrowedFd<'_>, bytes: usize) -> bool {
    let Ok(bytes) = libc::c_int::try_from(bytes) else { return false };
    // SAFETY: fcntl on a descriptor the caller borrows.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) >= 0 }
}

pub(super) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    owned(libc::c_int::try_from(fd).ok()?).ok()
}

#[allow(clippy::unnecessary_wraps)] // the portable implementation cannot always tell
pub(super) fn is_main_thread() -> Option<bool> {
    // SAFETY: gettid has no preconditions. The main thread's id is the process id.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    Some(tid == i64::from(std::process::id()))
}

/// Consumes a pending `SIGPIPE` (blocked in this thread) without waiting.
pub(super) fn consume_pending_sigpipe(set: &libc::sigset_t) {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: sigtimedwait with a zero timeout never blocks; the signal is blocked here.
    unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &raw const zero) };
}

// ---------------------------------------------------------------------------------------------
// The poller: one epoll instance, with a timerfd and an eventfd of its own in it

/// The epoll tokens of the poller's own descriptors (the reactor's tokens are below them).
const TIMER_TOKEN: u64 = u64::MAX;
const WAKE_TOKEN: u64 = u64::MAX - 1;
/// Events read per `epoll_wait`.
const EVENTS: usize = 64;

/// Many descriptors behind one: the epoll instance is readable when any of them is ready, when
/// the timer is due, or when a [`Waker`] was woken.
pub(crate) struct Poller {
    epoll: OwnedFd,
    timerfd: OwnedFd,
    wake: Arc<OwnedFd>,
}

/// Makes the poller's descriptor readable from any thread.
#[derive(Clone)]
pub(crate) struct Waker(Arc<OwnedFd>);

impl Waker {
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: an 8-byte write to our non-blocking eventfd (a full counter just stays full).
        unsafe { libc::write(self.0.as_raw_fd(), (&raw const one).cast(), 8) };
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: plain syscalls making fresh close-on-exec descriptors, owned at once.
        let (epoll, timerfd, wake) = unsafe {
            (
                owned(libc::epoll_create1(libc::EPOLL_CLOEXEC))?,
                owned(libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK))?,
                owned(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?,
            )
        };
        let poller = Poller { epoll, timerfd, wake: Arc::new(wake) };
        poller.ctl(libc::EPOLL_CTL_ADD, poller.timerfd.as_raw_fd(), libc::EPOLLIN, TIMER_TOKEN)?;
        poller.ctl(libc::EPOLL_CTL_ADD, poller.wake.as_raw_fd(), libc::EPOLLIN, WAKE_TOKEN)?;
        Ok(poller)
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker(Arc::clone(&self.wake))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: libc::c_int, token: u64) -> io::Result<()> {
        #[allow(clippy::cast_sign_loss)] // epoll's event bits, as the kernel takes them
        let mut event = libc::epoll_event { events: events as u32, u64: token };
        // SAFETY: epoll_ctl on our epoll fd with a valid event struct.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &raw mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn add(&self, fd: RawFd, writable: bool, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, if writable { libc::EPOLLOUT } else { libc::EPOLLIN }, token)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Arms the timer for `at` (`None` disarms it).
    pub(crate) fn set_timer(&self, at: Option<Instant>) -> io::Result<()> {
        let wait = match at {
            // A relative time, at least 1 ns (zero would disarm).
            Some(at) => at.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(wait.subsec_nanos()),
            },
        };
        // SAFETY: timerfd_settime on our timerfd with a valid spec.
        if unsafe { libc::timerfd_settime(self.timerfd.as_raw_fd(), 0, &raw const spec, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Collects what is ready, without blocking: the tokens of ready descriptors go to
    /// `tokens`; whether the timer fired or a waker woke is returned.
    pub(crate) fn ready(&self, tokens: &mut Vec<u64>) -> io::Result<Ready> {
        let mut ready = Ready::default();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // 64
            // SAFETY: a zero-timeout wait into a valid array of EVENTS entries.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), EVENTS as i32, 0) };
            let Ok(n) = usize::try_from(n) else {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            };
            for event in &events[..n] {
                match event.u64 {
                    TIMER_TOKEN => {
                        drain(self.timerfd.as_raw_fd());
                        ready.timer = true;
                    }
                    WAKE_TOKEN => {
                        drain(self.wake.as_raw_fd());
                        ready.woken = true;
                    }
                    token => tokens.push(token),
                }
            }
            if n < EVENTS {
                return Ok(ready);
            }
        }
    }
}

/// Reads the 8-byte counter of a non-blocking timerfd or eventfd, resetting it.
fn drain(fd: RawFd) {
    let mut count = [0u8; 8];
    // SAFETY: an 8-byte read into a local buffer from our own non-blocking descriptor.
    unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) };
}

// ---------------------------------------------------------------------------------------------
// The clone3 spawn (x86-64)

#[cfg(target_arch = "x86_64")]
pub(super) use fast::{fast_spawn, FastSpawnError};

#[cfg(target_arch = "x86_64")]
mod fast {
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::sys::spawn::{environment, Argv, ChildPipes, Spawned, Spec};

    /// Set once the kernel refused `clone3` with our flags: then never tried again.
    static DISABLED: AtomicBool = AtomicBool::new(false);

    /// The child's stack: 128 KiB above a guard page, made once per thread and kept (a fresh
    /// one per spawn is what makes `posix_spawn` costly in a multi-threaded host).
    const STACK_BYTES: usize = 128 * 1024;
    const GUARD_BYTES: usize = 4096;

    /// A thread's child stack, unmapped when the thread exits.
    struct ChildStack {
        base: usize,
    }

    impl Drop for ChildStack {
        fn drop(&mut self) {
            // SAFETY: our own mapping; no child can be using it (a spawning thread is suspended
            // until its child has exec'd or exited).
            unsafe { libc::munmap(self.base as *mut libc::c_void, STACK_BYTES + GUARD_BYTES) };
        }
    }

    thread_local! {
        static STACK: std::cell::OnceCell<ChildStack> = const { std::cell::OnceCell::new() };
    }

    /// The top of this thread's child stack (16-byte aligned).
    fn stack_top() -> io::Result<usize> {
        let base = STACK.try_with(|cell| -> io::Result<usize> {
            if let Some(stack) = cell.get() {
                return Ok(stack.base);
            }
            // SAFETY: an anonymous private mapping, then its lowest page made inaccessible.
            let base = unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    STACK_BYTES + GUARD_BYTES,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    return Err(io::Error::last_os_error());
                }
                libc::mprotect(p, GUARD_BYTES, libc::PROT_NONE);
                p as usize
            };
            let _ = cell.set(ChildStack { base });
            Ok(base)
        });
        // A thread that is exiting (its thread-locals gone) cannot keep a stack: no fast spawn.
        let base = base.map_err(|_| io::Error::from_raw_os_error(libc::ENOSYS))??;
        Ok(base + GUARD_BYTES + STACK_BYTES)
    }

    /// Everything the child needs, prepared by the parent (the child must not allocate).
    #[repr(C)]
    struct ChildArgs {
        path: *const libc::c_char,
        argv: *const *const libc::c_char,
        envp: *const *const libc::c_char,
        /// Descriptors to make 0, 1 and 2 (-1: leave as it is).
        fds: [RawFd; 3],
        /// Set by the child when exec failed: the errno.
        error: libc::c_int,
    }

    /// The kernel's `struct clone_args`, first version (64 bytes).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
    }

    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

    /// Why the fast spawn did not give a process.
    pub(crate) enum FastSpawnError {
        /// `clone3` with these flags is not available here: use `posix_spawn`.
        Unsupported,
        /// The spawn failed (the plugin's exec, a pipe, ...): report it.
        Failed(io::Error),
    }

    impl From<io::Error> for FastSpawnError {
        fn from(e: io::Error) -> Self {
            FastSpawnError::Failed(e)
        }
    }

    pub(crate) fn fast_spawn(spec: &Spec<'_>) -> Result<Spawned, FastSpawnError> {
        if DISABLED.load(Ordering::Relaxed) {
            return Err(FastSpawnError::Unsupported);
        }
        let argv = Argv::new(spec)?;
        let pipes = ChildPipes::new(spec)?;
        let fds = pipes.targets(spec);
        let envp = environment();
        let mut child = ChildArgs { path: argv.path.as_ptr(), argv: argv.argv(), envp, fds, error: 0 };
        let top = match stack_top() {
            Ok(top) => top,
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Err(FastSpawnError::Unsupported),
            Err(e) => return Err(FastSpawnError::Failed(e)),
        };
        let mut pidfd: libc::c_int = -1;
        let clone_args = CloneArgs {
            flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64 | CLONE_CLEAR_SIGHAND,
            pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
            exit_signal: libc::SIGCHLD as u64,
            stack: (top - STACK_BYTES) as u64,
            stack_size: STACK_BYTES as u64,
            ..CloneArgs::default()
        };

        // No signal handler may run in the child before its exec (it shares our memory): all
        // signals are blocked across the clone; the child unblocks them just before exec, after
        // CLONE_CLEAR_SIGHAND reset the handlers.
        // SAFETY: sigset manipulation on local sets; affects this thread only.
        let old_mask = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&raw mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old);
            old
        };
        // SAFETY: see `clone3`.
        let pid = unsafe { clone3(&clone_args, &raw mut child) };
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old_mask, std::ptr::null_mut()) };
        if pid < 0 {
            let errno = i32::try_from(-pid).unwrap_or(libc::EINVAL);
            if matches!(errno, libc::ENOSYS | libc::EINVAL | libc::EPERM) {
                DISABLED.store(true, Ordering::Relaxed);
                return Err(FastSpawnError::Unsupported);
            }
            return Err(FastSpawnError::Failed(io::Error::from_raw_os_error(errno)));
        }
        let pid =
            libc::pid_t::try_from(pid).map_err(|_| FastSpawnError::Failed(io::Error::other("pid out of range")))?;
        // SAFETY: CLONE_PIDFD stored a fresh fd (close-on-exec) for us.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        // CLONE_VFORK: the child has exec'd or exited by now; `error` is final.
        // SAFETY: a plain read of a field the (finished) child may have written.
        let error = unsafe { std::ptr::read_volatile(&raw const child.error) };
        if error != 0 {
            let _ = crate::sys::wait_pid(pid, true);
            return Err(FastSpawnError::Failed(io::Error::from_raw_os_error(error)));
        }
        Ok(pipes.into_spawned(pid, pidfd))
    }

    /// `clone3`; in the child, runs [`child_main`] on the new stack (it never returns).
    ///
    /// # Safety
    /// `args` describes a valid stack this thread owns; `child` outlives the call. With
    /// `CLONE_VFORK` this thread is suspended until the child has exec'd or exited.
    unsafe fn clone3(args: &CloneArgs, child: *mut ChildArgs) -> i64 {
        let ret: i64;
        // SAFETY: the syscall returns twice. In the parent, only rax (and the rcx/r11 the
        // syscall instruction clobbers) change. In the child, rsp is the new stack's top
        // (16-byte aligned: `call` then leaves it as the ABI wants at function entry) and
        // `child_main` never returns.
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") libc::SYS_clone3 => ret,
                in("rdi") std::ptr::from_ref(args),
                in("rsi") std::mem::size_of::<CloneArgs>(),
                in("r12") child,
                in("r13") child_main as *const () as usize,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// The child, between clone and exec: only async-signal-safe calls, no allocation.
    extern "C" fn child_main(args: *mut ChildArgs) -> ! {
        // SAFETY: the parent prepared `args` and is suspended until we exec or exit.
        unsafe {
            let a = &mut *args;
            let fail = |a: &mut ChildArgs| -> ! {
                std::ptr::write_volatile(&raw mut a.error, *libc::__errno_location());
                libc::_exit(127)
            };
            if libc::setpgid(0, 0) != 0 {
                fail(a);
            }
            for (target, fd) in (0..).zip(a.fds) {
                // Every source is above 2 (see `fast_spawn`); dup2 clears close-on-exec on the
                // copy.
                if fd >= 0 && libc::dup2(fd, target) < 0 {
                    fail(a);
                }
            }
            // CLONE_CLEAR_SIGHAND reset the handlers but left ignored signals ignored; SIGPIPE
            // is ignored by Rust programs, and a plugin expects its default (as std does).
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGPIPE, &raw const dfl, std::ptr::null_mut());
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &raw const empty, std::ptr::null_mut());
            libc::execve(a.path, a.argv, a.envp);
            fail(a)
        }
    }

    // The first version of the kernel's struct, as `clone3` is told.
    const _: () = assert!(std::mem::size_of::<CloneArgs>() == 64);
}
