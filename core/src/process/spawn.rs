//! Starting a plugin process, and waiting for it.
//!
//! On Linux x86-64 the plugin is started with `clone3(CLONE_VM | CLONE_VFORK |
//! CLONE_CLEAR_SIGHAND | CLONE_PIDFD)` on a small stack the calling thread keeps for it; elsewhere
//! (and on kernels before 5.5) with `std::process::Command`, which uses glibc's `posix_spawn`.
//! Both give the plugin the same start: its own process group, stdin/stdout/stderr as asked,
//! every other descriptor closed (ours are all close-on-exec), default signal dispositions
//! (`SIGPIPE` included; ignored signals other than `SIGPIPE` stay ignored, as with
//! `posix_spawn`), an empty signal mask, the host's environment, `argv[0]` the bare program name.
//!
//! Why not only `posix_spawn`: the bench (`bench/RESULTS.md`) showed a spawn from a large,
//! multi-threaded host (Node, a Tokio runtime) costing 70 µs more than from a small one. glibc's
//! child resets the handler of every one of the 64 signals with two `rt_sigaction` calls each
//! while the host waits (`CLONE_CLEAR_SIGHAND` does it in one step), and glibc maps and unmaps a
//! fresh stack for every child (the unmap interrupts every CPU running one of the host's
//! threads to flush its TLB). The pidfd comes with the clone instead of a separate call.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::StderrMode;

/// A started plugin: its pid, pidfd (where the kernel has them) and our ends of its pipes.
pub(super) struct Spawned {
    pub pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
}

/// What to start.
pub(super) struct Spec<'a> {
    pub program: &'a Path,
    pub args: [&'a [u8]; 2],
    pub stdin: bool,
    pub stderr: StderrMode,
}

/// Starts the plugin (see the module docs).
pub(super) fn spawn(spec: &Spec<'_>) -> io::Result<Spawned> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        match fast::spawn(spec) {
            Ok(spawned) => return Ok(spawned),
            Err(fast::Error::Failed(e)) => return Err(e),
            // An older kernel (clone3 or CLONE_CLEAR_SIGHAND unknown) or a seccomp filter
            // refusing clone3: the portable way works everywhere (and is used from now on).
            Err(fast::Error::Unsupported) => {}
        }
    }
    portable(spec)
}

/// `std::process::Command` (glibc's `posix_spawn`).
fn portable(spec: &Spec<'_>) -> io::Result<Spawned> {
    let mut cmd = Command::new(spec.program);
    // argv[0] is the bare program name, as Go's exec.Command gives it (the path is only used to
    // find the file): plugins that dispatch on their own name see the same from any host.
    cmd.arg0(spec.program.file_name().unwrap_or(spec.program.as_os_str()))
        .arg(OsStr::from_bytes(spec.args[0]))
        .arg(OsStr::from_bytes(spec.args[1]))
        .stdin(if spec.stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(match spec.stderr {
            StderrMode::Inherit => Stdio::inherit(),
            StderrMode::Capture => Stdio::piped(),
            StderrMode::Null => Stdio::null(),
        })
        // A group of its own, so a timeout can kill whatever the plugin started too.
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))?;
    let stdout = child.stdout.take().map(OwnedFd::from).ok_or_else(|| io::Error::other("no stdout pipe"))?;
    Ok(Spawned {
        pid,
        pidfd: open_pidfd(pid),
        stdin: child.stdin.take().map(OwnedFd::from),
        stdout,
        stderr: child.stderr.take().map(OwnedFd::from),
    })
    // `child` is dropped without waiting: `Process` reaps the pid.
}

/// A pidfd for `pid` (Linux 5.3+), readable when the process exits; `None` where unsupported.
fn open_pidfd(pid: libc::pid_t) -> Option<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the syscall returned a fresh fd (close-on-exec) that nobody else owns.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// A pipe, both ends close-on-exec and with `flags` (`pipe2`'s): `(read, write)`.
pub(super) fn pipe(flags: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dev_null() -> io::Result<OwnedFd> {
    // SAFETY: open with a static NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fd`, or a duplicate of it numbered 3 or more (close-on-exec) if it is one of 0, 1, 2.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: duplicates an fd we own.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an argument contains a NUL byte"))
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod fast {
    //! The `clone3` spawn (x86-64 Linux 5.5+).

    use std::ffi::CString;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{above_stdio, c_string, dev_null, pipe, Spawned, Spec, StderrMode};

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
    pub(super) enum Error {
        /// `clone3` with these flags is not available here: use the portable spawn.
        Unsupported,
        /// The spawn failed (the plugin's exec, a pipe, ...): report it.
        Failed(io::Error),
    }

    impl From<io::Error> for Error {
        fn from(e: io::Error) -> Self {
            Error::Failed(e)
        }
    }

    pub(super) fn spawn(spec: &Spec<'_>) -> Result<Spawned, Error> {
        if DISABLED.load(Ordering::Relaxed) {
            return Err(Error::Unsupported);
        }
        let path = c_string(spec.program.as_os_str().as_bytes())?;
        let argv0 = c_string(spec.program.file_name().unwrap_or(spec.program.as_os_str()).as_bytes())?;
        let rest: [CString; 2] = [c_string(spec.args[0])?, c_string(spec.args[1])?];
        let argv: [*const libc::c_char; 4] = [argv0.as_ptr(), rest[0].as_ptr(), rest[1].as_ptr(), std::ptr::null()];

        // The child's ends are moved above 0-2 first (they are there only if the host closed its
        // own stdio), so that putting one in place can never overwrite another still to move.
        let null = if !spec.stdin || spec.stderr == StderrMode::Null { Some(above_stdio(dev_null()?)?) } else { None };
        let stdin = if spec.stdin { Some(pipe(0).and_then(|(r, w)| Ok((above_stdio(r)?, w)))?) } else { None };
        let stdout = pipe(0).and_then(|(r, w)| Ok((r, above_stdio(w)?)))?;
        let stderr = match spec.stderr {
            StderrMode::Capture => pipe(0).and_then(|(r, w)| Ok((r, above_stdio(w)?)))?.into(),
            _ => None,
        };
        let null_fd = null.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let fds = [
            stdin.as_ref().map_or(null_fd, |(r, _)| r.as_raw_fd()),
            stdout.1.as_raw_fd(),
            match spec.stderr {
                StderrMode::Inherit => -1,
                StderrMode::Capture => stderr.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
                StderrMode::Null => null_fd,
            },
        ];
        // SAFETY: reading the process's environment pointer; the child only passes it to execve.
        let envp = unsafe { environ }.cast_const();
        let mut child = ChildArgs { path: path.as_ptr(), argv: argv.as_ptr(), envp, fds, error: 0 };
        let top = match stack_top() {
            Ok(top) => top,
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Err(Error::Unsupported),
            Err(e) => return Err(Error::Failed(e)),
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
                return Err(Error::Unsupported);
            }
            return Err(Error::Failed(io::Error::from_raw_os_error(errno)));
        }
        let pid = libc::pid_t::try_from(pid).map_err(|_| Error::Failed(io::Error::other("pid out of range")))?;
        // SAFETY: CLONE_PIDFD stored a fresh fd (close-on-exec) for us.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        // CLONE_VFORK: the child has exec'd or exited by now; `error` is final.
        // SAFETY: a plain read of a field the (finished) child may have written.
        let error = unsafe { std::ptr::read_volatile(&raw const child.error) };
        if error != 0 {
            let mut status = 0;
            // SAFETY: reaps our own child, which has exited.
            unsafe { libc::waitpid(pid, &raw mut status, 0) };
            return Err(Error::Failed(io::Error::from_raw_os_error(error)));
        }
        Ok(Spawned { pid, pidfd, stdin: stdin.map(|(_, w)| w), stdout: stdout.0, stderr: stderr.map(|(r, _)| r) })
    }

    extern "C" {
        static environ: *mut *const libc::c_char;
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
                // Every source is above 2 (see `spawn`); dup2 clears close-on-exec on the copy.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::io::Read;
    use std::path::PathBuf;

    use super::{portable, Spawned, Spec, StderrMode};

    fn procinfo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plugins/sigstore-kms-procinfo")
    }

    /// Runs a started plugin to its end: its stdout and exit status.
    fn finish(s: Spawned) -> (String, i32) {
        drop(s.stdin);
        let mut out = String::new();
        std::fs::File::from(s.stdout).read_to_string(&mut out).unwrap();
        let mut status = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(s.pid, &raw mut status, 0) };
        (out, status)
    }

    fn spec(program: &std::path::Path) -> Spec<'_> {
        Spec { program, args: [b"v1", b"{}"], stdin: true, stderr: StderrMode::Null }
    }

    /// Both ways of spawning start the plugin the same way (the fast one is what runs here; the
    /// portable one runs on other systems and older kernels).
    #[test]
    fn portable_and_fast_spawns_agree() {
        let program = procinfo();
        let (portable_out, status) = finish(portable(&spec(&program)).unwrap());
        assert_eq!(status, 0);
        assert!(portable_out.contains("blk=0000000000000000") && portable_out.contains("leader=yes"), "{portable_out}");
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            let Ok(fast) = super::fast::spawn(&spec(&program)) else { panic!("clone3 refused on this kernel") };
            let fast_out = finish(fast).0;
            // glibc's posix_spawn also leaves its own internal signals (32, 33) ignored in the
            // child; the fast spawn does not. Everything else is the same.
            let ignored = |out: &str| {
                let hex = out.split(' ').find_map(|w| w.strip_prefix("ign=")).unwrap();
                u64::from_str_radix(hex, 16).unwrap() & !(0b11 << 31)
            };
            assert_eq!(ignored(&fast_out), ignored(&portable_out));
            let without_ign =
                |out: &str| out.split(' ').filter(|w| !w.starts_with("ign=")).collect::<Vec<_>>().join(" ");
            assert_eq!(without_ign(&fast_out), without_ign(&portable_out));
        }
    }

    #[test]
    fn exec_errors_are_reported_by_both() {
        let missing = PathBuf::from("/nonexistent/sigstore-kms-nothing");
        let err = portable(&spec(&missing)).err().unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        match super::fast::spawn(&spec(&missing)) {
            Err(super::fast::Error::Failed(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            _ => panic!("the exec failure must be reported"),
        }
    }
}
