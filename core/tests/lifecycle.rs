//! Process lifecycle under load and cancellation: no zombies, no leaked fds, no leftover
//! processes. One test function, run alone in this binary, because it counts this process's
//! children and descriptors.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{fixture_options, live_children, open_fds};
use sigstore_kms_plugins::{get_signer_verifier, ErrorKind};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn no_unreaped_children() -> bool {
    // SAFETY: waitpid with WNOHANG on "any child" only queries; ECHILD means none exist.
    let rc = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_and_cancellation_leave_nothing_behind() {
    let sv = get_signer_verifier("fixture://k", fixture_options()).unwrap();
    // Warm up the runtime's blocking pool so its threads' own fds are counted in the baseline.
    sv.default_algorithm().await.unwrap();
    let fds_before = open_fds();

    // 64 concurrent calls, async and blocking mixed, with messages.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let sv = sv.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                sv.sign_message(vec![b'x'; 100_000 + i]).await.map(drop)
            } else {
                tokio::task::spawn_blocking(move || sv.default_algorithm_blocking().map(drop)).await.unwrap()
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(no_unreaped_children(), "zombie children after 64 concurrent calls");
    assert!(live_children().is_empty(), "live children: {:?}", live_children());
    wait_until("fd count back to baseline", || open_fds() <= fds_before);

    // Timeouts on 16 concurrent hanging plugins: all killed and reaped.
    let hang = get_signer_verifier("hang://k", fixture_options().timeout(Some(Duration::from_millis(300)))).unwrap();
    let results = futures_join_all((0..16).map(|_| {
        let h = hang.clone();
        async move { h.default_algorithm().await }
    }))
    .await;
    assert!(results.iter().all(|r| r.as_ref().unwrap_err().kind() == ErrorKind::Timeout));
    assert!(no_unreaped_children());
    assert!(live_children().is_empty(), "live children: {:?}", live_children());

    // Cancellation: dropping the future kills and reaps the plugin, awaited here in `block_on`
    // (the blocking pool's engine) and in a task (Tokio's I/O driver).
    let slow = get_signer_verifier("hang://k", fixture_options().timeout(None)).unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(300), slow.default_algorithm()).await;
    assert!(r.is_err(), "the hanging call should not finish");
    wait_until("cancelled plugin killed and reaped", || live_children().is_empty() && no_unreaped_children());
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_until("fd count back to baseline after cancellation", || open_fds() <= fds_before);

    let started = Instant::now();
    let in_task =
        tokio::spawn(async move { tokio::time::timeout(Duration::from_millis(300), slow.default_algorithm()).await });
    assert!(in_task.await.unwrap().is_err(), "the hanging call should not finish");
    wait_until("cancelled plugin killed and reaped (task)", || live_children().is_empty() && no_unreaped_children());
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_until("fd count back to baseline after cancellation (task)", || open_fds() <= fds_before);
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F: std::future::Future + Send + 'static>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
