//! Starting a plugin process.
//!
//! Two ways, giving the plugin the same start: its own process group, stdin/stdout/stderr as
//! asked, every other descriptor closed (ours are all close-on-exec), default signal
//! dispositions (`SIGPIPE` included; ignored signals other than `SIGPIPE` stay ignored, as with
//! `posix_spawn`), an empty signal mask, the host's environment, `argv[0]` the bare program
//! name (as Go's `exec.Command` gives it: plugins that dispatch on their own name see the same
//! from any host).
//!
//! * `posix_spawn` (`posix_spawn`): everywhere.
//! * `clone3(CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_PIDFD)` on a small stack the
//!   calling thread keeps for it (`linux::fast_spawn`; x86-64 Linux 5.5+, not with the
//!   `portable` feature). Why: the bench (`bench/RESULTS.md`) showed a spawn from a large,
//!   multi-threaded host (Node, a Tokio runtime) costing 70 µs more than from a small one.
//!   glibc's child resets the handler of every one of the 64 signals with two `rt_sigaction`
//!   calls each while the host waits (`CLONE_CLEAR_SIGHAND` does it in one step), and glibc
//!   maps and unmaps a fresh stack for every child (the unmap interrupts every CPU running one
//!   of the host's threads to flush its TLB). The pidfd comes with the clone instead of a
//!   separate call.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::unix::{above_stdio, dev_null};
use crate::process::StderrMode;

/// A started plugin: its pid, pidfd (where the kernel has them) and our ends of its pipes.
pub(crate) struct Spawned {
    pub pid: super::Pid,
    pub pidfd: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
}

/// What to start.
pub(crate) struct Spec<'a> {
    pub program: &'a Path,
    pub args: [&'a [u8]; 2],
    pub stdin: bool,
    pub stderr: StderrMode,
}

/// Starts the plugin (see the module docs).
pub(crate) fn spawn(spec: &Spec<'_>) -> io::Result<Spawned> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64", not(feature = "portable")))]
    {
        match super::linux::fast_spawn(spec) {
            Ok(spawned) => return Ok(spawned),
            Err(super::linux::FastSpawnError::Failed(e)) => return Err(e),
            // An older kernel (clone3 or CLONE_CLEAR_SIGHAND unknown) or a seccomp filter
            // refusing clone3: `posix_spawn` works everywhere (and is used from now on).
            Err(super::linux::FastSpawnError::Unsupported) => {}
        }
    }
    posix_spawn(spec)
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an argument contains a NUL byte"))
}

/// The program's path and `argv` (`argv[0]` the bare program name), NUL-terminated, as exec
/// takes them; the pointers stay valid as long as this lives.
pub(crate) struct Argv {
    pub path: CString,
    /// Owns what `pointers` point to.
    _args: [CString; 3],
    pointers: [*const libc::c_char; 4],
}

impl Argv {
    pub(crate) fn new(spec: &Spec<'_>) -> io::Result<Self> {
        let path = c_string(spec.program.as_os_str().as_bytes())?;
        let args = [
            c_string(spec.program.file_name().unwrap_or(spec.program.as_os_str()).as_bytes())?,
            c_string(spec.args[0])?,
            c_string(spec.args[1])?,
        ];
        let pointers = [args[0].as_ptr(), args[1].as_ptr(), args[2].as_ptr(), std::ptr::null()];
        Ok(Argv { path, _args: args, pointers })
    }

    /// The NULL-terminated argument vector.
    pub(crate) fn argv(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// The pipes of a child, with the child's ends above 0-2 (they are there only if the host
/// closed its own stdio): putting one in place in the child can then never overwrite another
/// still to move, and `dup2` always makes a copy (one without close-on-exec).
pub(crate) struct ChildPipes {
    /// `/dev/null`, for stdin or stderr.
    pub null: Option<OwnedFd>,
    /// (child's read end, our write end).
    pub stdin: Option<(OwnedFd, OwnedFd)>,
    /// (our read end, child's write end).
    pub stdout: (OwnedFd, OwnedFd),
    /// (our read end, child's write end), when captured.
    pub stderr: Option<(OwnedFd, OwnedFd)>,
}

impl ChildPipes {
    pub(crate) fn new(spec: &Spec<'_>) -> io::Result<Self> {
        let pipe = || super::pipe(false);
        Ok(ChildPipes {
            null: if !spec.stdin || spec.stderr == StderrMode::Null { Some(above_stdio(dev_null()?)?) } else { None },
            stdin: if spec.stdin { Some(pipe().and_then(|(r, w)| Ok((above_stdio(r)?, w)))?) } else { None },
            stdout: pipe().and_then(|(r, w)| Ok((r, above_stdio(w)?)))?,
            stderr: match spec.stderr {
                StderrMode::Capture => Some(pipe().and_then(|(r, w)| Ok((r, above_stdio(w)?)))?),
                _ => None,
            },
        })
    }

    /// What to make the child's descriptors 0, 1 and 2 (-1: leave as inherited).
    pub(crate) fn targets(&self, spec: &Spec<'_>) -> [libc::c_int; 3] {
        let null = self.null.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        [
            self.stdin.as_ref().map_or(null, |(r, _)| r.as_raw_fd()),
            self.stdout.1.as_raw_fd(),
            match spec.stderr {
                StderrMode::Inherit => -1,
                StderrMode::Capture => self.stderr.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
                StderrMode::Null => null,
            },
        ]
    }

    /// Our ends, once the child runs (the child's ends are closed when `self` drops).
    pub(crate) fn into_spawned(self, pid: super::Pid, pidfd: Option<OwnedFd>) -> Spawned {
        Spawned {
            pid,
            pidfd,
            stdin: self.stdin.map(|(_, w)| w),
            stdout: self.stdout.0,
            stderr: self.stderr.map(|(r, _)| r),
        }
    }
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// The process's environment, as `execve` takes it.
pub(crate) fn environment() -> *const *const libc::c_char {
    // SAFETY: reads the process's environment pointer; the child only passes it on to exec.
    unsafe { environ }
}

/// `posix_spawn` with: a process group of its own, an empty signal mask, `SIGPIPE` at its
/// default (Rust and Node hosts ignore it, and exec keeps ignored signals ignored), the pipes
/// on 0, 1, 2.
fn posix_spawn(spec: &Spec<'_>) -> io::Result<Spawned> {
    let argv = Argv::new(spec)?;
    let pipes = ChildPipes::new(spec)?;
    let targets = pipes.targets(spec);
    let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) };
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // on every path (`Spawning`); every pointer passed outlives the posix_spawn call.
    unsafe {
        let mut spawning = Spawning { attr: std::mem::zeroed(), actions: std::mem::zeroed(), ready: (false, false) };
        check(libc::posix_spawnattr_init(&raw mut spawning.attr))?;
        spawning.ready.0 = true;
        check(libc::posix_spawn_file_actions_init(&raw mut spawning.actions))?;
        spawning.ready.1 = true;
        for (target, fd) in (0..).zip(targets) {
            if fd >= 0 {
                check(libc::posix_spawn_file_actions_adddup2(&raw mut spawning.actions, fd, target))?;
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut empty);
        let mut pipe_only: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut pipe_only);
        libc::sigaddset(&raw mut pipe_only, libc::SIGPIPE);
        check(libc::posix_spawnattr_setsigmask(&raw mut spawning.attr, &raw const empty))?;
        check(libc::posix_spawnattr_setsigdefault(&raw mut spawning.attr, &raw const pipe_only))?;
        check(libc::posix_spawnattr_setpgroup(&raw mut spawning.attr, 0))?;
        #[allow(clippy::cast_possible_truncation)] // the flag values are small
        let flags =
            (libc::POSIX_SPAWN_SETPGROUP | libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        check(libc::posix_spawnattr_setflags(&raw mut spawning.attr, flags))?;
        check(libc::posix_spawn(
            &raw mut pid,
            argv.path.as_ptr(),
            &raw const spawning.actions,
            &raw const spawning.attr,
            argv.argv().cast::<*mut libc::c_char>(),
            environment().cast::<*mut libc::c_char>(),
        ))?;
    }
    Ok(pipes.into_spawned(pid, super::pidfd_open(pid)))
}

/// posix_spawn's attribute and file-action objects, destroyed when dropped.
struct Spawning {
    attr: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
    /// Which of the two were initialised.
    ready: (bool, bool),
}

impl Drop for Spawning {
    fn drop(&mut self) {
        // SAFETY: destroys only what was initialised, once.
        unsafe {
            if self.ready.0 {
                libc::posix_spawnattr_destroy(&raw mut self.attr);
            }
            if self.ready.1 {
                libc::posix_spawn_file_actions_destroy(&raw mut self.actions);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::io::Read;
    use std::path::PathBuf;

    use super::{posix_spawn, Spawned, Spec, StderrMode};

    fn procinfo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plugins/sigstore-kms-procinfo")
    }

    /// Runs a started plugin to its end: its stdout and exit status.
    fn finish(s: Spawned) -> (String, i32) {
        drop(s.stdin);
        let mut out = String::new();
        std::fs::File::from(s.stdout).read_to_string(&mut out).unwrap();
        let status = super::super::wait_pid(s.pid, true).unwrap().unwrap();
        (out, std::os::unix::process::ExitStatusExt::into_raw(status))
    }

    fn spec(program: &std::path::Path) -> Spec<'_> {
        Spec { program, args: [b"v1", b"{}"], stdin: true, stderr: StderrMode::Null }
    }

    /// Both ways of spawning start the plugin the same way.
    #[test]
    fn posix_and_fast_spawns_agree() {
        let program = procinfo();
        let (spawn_out, status) = finish(posix_spawn(&spec(&program)).unwrap());
        assert_eq!(status, 0);
        assert!(spawn_out.contains("blk=0000000000000000") && spawn_out.contains("leader=yes"), "{spawn_out}");
        #[cfg(all(target_os = "linux", target_arch = "x86_64", not(feature = "portable")))]
        {
            let Ok(fast) = super::super::linux::fast_spawn(&spec(&program)) else {
                panic!("clone3 refused on this kernel")
            };
            let fast_out = finish(fast).0;
            // glibc's posix_spawn also leaves its own internal signals (32, 33) ignored in the
            // child; the fast spawn does not. Everything else is the same.
            let ignored = |out: &str| {
                let hex = out.split(' ').find_map(|w| w.strip_prefix("ign=")).unwrap();
                u64::from_str_radix(hex, 16).unwrap() & !(0b11 << 31)
            };
            assert_eq!(ignored(&fast_out), ignored(&spawn_out));
            let without_ign =
                |out: &str| out.split(' ').filter(|w| !w.starts_with("ign=")).collect::<Vec<_>>().join(" ");
            assert_eq!(without_ign(&fast_out), without_ign(&spawn_out));
        }
    }

    #[test]
    fn exec_errors_are_reported_by_both() {
        let missing = PathBuf::from("/nonexistent/sigstore-kms-nothing");
        let err = posix_spawn(&spec(&missing)).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        #[cfg(all(target_os = "linux", target_arch = "x86_64", not(feature = "portable")))]
        match super::super::linux::fast_spawn(&spec(&missing)) {
            Err(super::super::linux::FastSpawnError::Failed(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
            _ => panic!("the exec failure must be reported"),
        }
    }
}
