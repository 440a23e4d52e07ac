//! How a plugin is started (`process::spawn`): what it inherits from the host and what not,
//! through both the blocking engine and a `RunningCall`.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use common::fixture;

/// The `procinfo` fixture's report, parsed: (blocked mask, ignored set, leads its group, fds).
fn report(text: &str) -> (u64, u64, bool, Vec<u32>) {
    let field = |name: &str| {
        text.split(' ').find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    let mut fds: Vec<u32> = field("fds").split(',').filter(|f| !f.is_empty()).map(|f| f.parse().unwrap()).collect();
    fds.sort_unstable();
    (hex(field("blk")), hex(field("ign")), field("leader") == "yes", fds)
}

/// Bit of signal `n` in /proc's masks.
fn bit(n: libc::c_int) -> u64 {
    1 << (n - 1)
}

/// This process's ignored signals, from /proc.
fn host_ignored() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap();
    u64::from_str_radix(line.trim(), 16).unwrap()
}

/// This process's descriptors that a child inherits (not close-on-exec): whoever started the
/// test may have left some open, and those are the host's to close, not ours.
fn host_inheritable_fds() -> Vec<u32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::c_int>().ok())
        .filter(|fd| {
            // SAFETY: F_GETFD on a number; a closed one (the directory listing's) gives -1.
            let flags = unsafe { libc::fcntl(*fd, libc::F_GETFD) };
            flags >= 0 && flags & libc::FD_CLOEXEC == 0
        })
        .filter_map(|fd| u32::try_from(fd).ok())
        .collect()
}

fn check(text: &str) {
    let (blocked, ignored, leader, fds) = report(text);
    assert_eq!(blocked, 0, "the plugin must start with no signal blocked: {text}");
    assert_eq!(ignored & bit(libc::SIGPIPE), 0, "SIGPIPE must be at its default in the plugin: {text}");
    // As with posix_spawn: what the host ignores (other than SIGPIPE) stays ignored, nothing more.
    let host = host_ignored();
    // glibc's posix_spawn (the portable implementation's spawn) leaves its own internal signals
    // 32 and 33 ignored in the child; a glibc program installs its handlers for them at start.
    let glibc_internal = if sigstore_kms_plugins::sys::IMPLEMENTATION == "portable" { 0b11 << 31 } else { 0 };
    assert_eq!(ignored & !host & !glibc_internal, 0, "the plugin ignores signals the host does not ({host:x}): {text}");
    assert!(leader, "the plugin leads its own process group: {text}");
    // The shell may hold its script open on a high fd (10 or more); none of our pipes leaks.
    let inherited = host_inheritable_fds();
    let extra: Vec<u32> = fds.into_iter().filter(|fd| *fd > 2 && *fd < 10 && !inherited.contains(fd)).collect();
    assert!(extra.is_empty(), "descriptors of the host leaked into the plugin: {extra:?} ({text})");
}

#[test]
fn the_plugin_starts_clean_whatever_the_host_thread_blocks_or_ignores() {
    // This thread blocks SIGUSR2 and SIGINT, and the Rust runtime ignores SIGPIPE: none of that
    // may reach the plugin. A SIGUSR1 handler must not run in the child either (it would share
    // our memory): the clone starts with every handler reset.
    extern "C" fn on_usr1(_: libc::c_int) {}
    // SAFETY: installs a no-op handler and changes this thread's mask.
    unsafe {
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGUSR2);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
    }
    let sv = fixture("procinfo://k");
    check(&sv.default_algorithm_blocking().unwrap());
    let mut call = sv.start_default_algorithm().unwrap();
    let text = loop {
        let watches = call.watches();
        let mut fds: Vec<libc::pollfd> = [watches.stdout, watches.exit]
            .into_iter()
            .flatten()
            .map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
            .collect();
        // SAFETY: a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
        let step = [sigstore_kms_plugins::process::Channel::Stdout, sigstore_kms_plugins::process::Channel::Exit]
            .into_iter()
            .find_map(|c| call.on_ready(c));
        call.release_closed();
        if let Some(result) = step.or_else(|| call.on_timer()) {
            break result.unwrap();
        }
    };
    check(&text);
}

#[test]
fn many_threads_spawn_at_once() {
    // Each thread has its own child stack; calls from many threads at once must not mix them.
    let sv = fixture("fixture://k");
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let sv = sv.clone();
            std::thread::spawn(move || (0..8).map(|_| sv.default_algorithm_blocking().unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().iter().all(|a| a == "ecdsa-p256"));
    }
}
