//! Memory stays flat while a 1 GiB message streams to a plugin (peak RSS of this process).
//! Alone in its binary so that no other test's allocations count.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use common::{fixture, PatternReader};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn one_gib_message_with_flat_memory() {
    let sv = fixture("fixture://stdin-count");
    sv.default_algorithm_blocking().unwrap();
    let before = peak_rss_kib();
    let len: u64 = 1 << 30;
    let sig = sv.sign_message_blocking(PatternReader { left: len }).unwrap();
    assert_eq!(String::from_utf8(sig).unwrap(), len.to_string());
    let growth_mib = (peak_rss_kib() - before) / 1024;
    assert!(growth_mib < 16, "peak RSS grew by {growth_mib} MiB while streaming 1 GiB");
}
