//! A host whose SIGPIPE disposition is the default (as a C program embedding us, unlike Rust,
//! Python or Node binaries) survives a plugin that exits without reading its stdin.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use common::{fixture, PatternReader};

#[test]
fn default_sigpipe_disposition_does_not_kill_the_host() {
    // SAFETY: restoring the default disposition of one signal; this binary has only this test.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let sv = fixture("ignore-stdin://k");
    for _ in 0..5 {
        let sig = sv.sign_message_blocking(PatternReader { left: 16 * 1024 * 1024 }).unwrap();
        assert_eq!(sig, b"sig");
    }
    // And nothing is left pending that would kill us once unblocked.
    // SAFETY: querying the pending set of this thread.
    unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&raw mut pending);
        assert_eq!(libc::sigismember(&raw const pending, libc::SIGPIPE), 0);
    }
}
