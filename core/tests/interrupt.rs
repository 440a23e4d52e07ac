//! `process::with_interrupt_check`: a blocking call on the calling thread that stays
//! interruptible (what the Python binding uses on its main thread, for Ctrl-C). One test
//! function, run alone in this binary, because it counts this process's children.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{fixture, fixture_options, live_children};
use sigstore_kms_plugins::process::with_interrupt_check;
use sigstore_kms_plugins::{get_signer_verifier, ErrorKind};

extern "C" fn ignore(_: libc::c_int) {}

#[test]
fn interrupt_checks_run_while_a_plugin_runs_and_can_stop_it() {
    // A check that never fires: the call succeeds, and the check ran while the plugin (which
    // sleeps a second) was running.
    let calls = Rc::new(Cell::new(0u32));
    let counted = Rc::clone(&calls);
    let slow = fixture("slow://k");
    let answer = with_interrupt_check(
        Duration::from_millis(50),
        move || {
            counted.set(counted.get() + 1);
            false
        },
        || slow.default_algorithm_blocking(),
    );
    assert_eq!(answer.unwrap(), "ecdsa-p256");
    assert!(calls.get() >= 5, "the check ran {} times in about a second", calls.get());

    // Outside the scope nothing is checked.
    let before = calls.get();
    assert_eq!(fixture("fixture://k").default_algorithm_blocking().unwrap(), "ecdsa-p256");
    assert_eq!(calls.get(), before);

    // A check that fires stops a plugin that would never answer: killed and reaped at once.
    let hang = get_signer_verifier("hang://k", fixture_options().timeout(None)).unwrap();
    let started = Instant::now();
    let ticks = Rc::new(Cell::new(0u32));
    let t = Rc::clone(&ticks);
    let err = with_interrupt_check(
        Duration::from_millis(20),
        move || {
            t.set(t.get() + 1);
            t.get() >= 3
        },
        || hang.default_algorithm_blocking(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(live_children().is_empty(), "live children: {:?}", live_children());

    // A signal that interrupts the wait (EINTR) runs the check at once, long before it is due.
    // SAFETY: installs a handler that does nothing, without SA_RESTART, as Python installs its
    // SIGINT handler; SIGUSR1 is not used otherwise in this test binary.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&raw mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGUSR1, &raw const sa, std::ptr::null_mut());
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let signaller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: the target thread is alive: it waits in the plugin call below until this
        // signal makes it stop.
        unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
    });
    let started = Instant::now();
    let err = with_interrupt_check(Duration::from_secs(60), || true, || hang.default_algorithm_blocking()).unwrap_err();
    signaller.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(live_children().is_empty(), "live children: {:?}", live_children());
}
