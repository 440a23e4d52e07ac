//! `RunningCall`: calls started on a plugin and driven by an event loop of the caller's. The
//! loop here is a minimal one of our own (`poll(2)` over `watches()`), following the contract
//! of `process::exchange` to the letter, so every rule a binding's loop relies on is exercised.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fixture, fixture_options, live_children, open_fds, sha256};
use sigstore_kms_plugins::process::{Channel, Watches, OUTPUT_WATCH_DELAY};
use sigstore_kms_plugins::{
    get_signer_verifier, register_provider, CallContext, ErrorKind, HandlerError, HashFunc, MessageOptions, Result,
    RunningCall,
};

const FIXTURE_PUB: &str = include_str!("../../tests/fixtures/keys/fixture-p256.pub.pem");

/// Drives `call` to its end as an event loop would: watch, dispatch, re-read the watches,
/// release what left them. Returns the result and how many loop turns it took.
fn drive<T>(mut call: RunningCall<T>) -> (Result<T>, usize) {
    let mut turns = 0;
    loop {
        turns += 1;
        let watches = call.watches();
        let mut fds = Vec::new();
        let mut channels = Vec::new();
        for channel in Channel::ALL {
            if let Some(fd) = watches.get(channel) {
                let events = if channel.writable() { libc::POLLOUT } else { libc::POLLIN };
                fds.push(libc::pollfd { fd, events, revents: 0 });
                channels.push(channel);
            }
        }
        let timeout = call
            .next_timer()
            .map_or(-1, |t| i32::try_from(t.saturating_duration_since(Instant::now()).as_millis() + 1).unwrap());
        assert!(!fds.is_empty() || timeout >= 0, "nothing to wait for: the call could never end");
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        assert!(n >= 0);
        for (fd, channel) in fds.iter().zip(&channels) {
            if fd.revents != 0 {
                if let Some(result) = call.on_ready(*channel) {
                    return (result, turns);
                }
            }
        }
        if let Some(result) = call.on_timer() {
            return (result, turns);
        }
        // Our "loop" stops watching whatever left the set before the next turn.
        call.release_closed();
    }
}

#[test]
fn every_method_gives_what_the_async_method_gives() {
    let sv = fixture("fixture://my-key");
    assert_eq!(drive(sv.start_default_algorithm().unwrap()).0.unwrap(), "ecdsa-p256");
    assert_eq!(drive(sv.start_supported_algorithms().unwrap()).0.unwrap(), ["ecdsa-p256", "ed25519"]);
    assert_eq!(drive(sv.start_public_key().unwrap()).0.unwrap().pem(), FIXTURE_PUB);
    assert_eq!(drive(sv.start_create_key("ed25519").unwrap()).0.unwrap().pem(), FIXTURE_PUB);
    let sig = drive(sv.start_sign_message(b"hello\n".to_vec()).unwrap()).0.unwrap();
    assert_eq!(sig, sha256(b"hello\n"));
    drive(sv.start_verify_signature(&sig, b"hello\n".to_vec()).unwrap()).0.unwrap();
    let err = drive(sv.start_verify_signature(&sig, b"tampered".to_vec()).unwrap()).0.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginReturned);
    let digest = sha256(b"abc");
    let signed = drive(sv.start_sign_digest(&digest, HashFunc::Sha256).unwrap()).0.unwrap();
    assert_eq!(signed, [b"digest:".as_slice(), &digest].concat());
    drive(sv.start_verify_digest(&signed, &digest, HashFunc::Sha256).unwrap()).0.unwrap();
}

#[test]
fn a_message_larger_than_the_pipe_is_written_as_stdin_becomes_writable() {
    // 8 MiB: far more than a pipe holds, so stdin must be watched and written in turns.
    let message: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    let sv = fixture("fixture://stdin-count");
    let call = sv.start_sign_message(message.clone()).unwrap();
    assert!(call.watches().stdin.is_some(), "the rest of the message waits for stdin to be writable");
    let (result, turns) = drive(call);
    assert_eq!(result.unwrap(), message.len().to_string().as_bytes());
    assert!(turns > 1);
}

#[test]
fn a_small_message_is_written_at_start_and_needs_no_stdin_watch() {
    let call = fixture("fixture://my-key").start_sign_message(vec![7u8; 1024]).unwrap();
    assert_eq!(call.watches().stdin, None);
    drive(call).0.unwrap();
}

#[test]
fn the_answer_is_read_in_the_step_that_sees_the_exit() {
    // At first only the exit is watched (OUTPUT_WATCH_DELAY): the answer waits in the pipe,
    // and the one wake-up of the exit reads it whole and ends the call.
    let mut call = fixture("fixture://my-key").start_public_key().unwrap();
    let started = Instant::now();
    let watches = call.watches();
    let Some(exit) = watches.exit else {
        // No pidfd (the portable path, or a kernel before 5.3): nothing would tell of the exit
        // but a poll timer, so the pipes are watched from the start.
        assert!(watches.stdout.is_some(), "{watches:?}");
        assert_eq!(drive(call).0.unwrap().pem(), FIXTURE_PUB);
        return;
    };
    assert_eq!((watches.stdout, watches.stderr), (None, None), "{watches:?}");
    assert!(call.next_timer().unwrap() <= started + OUTPUT_WATCH_DELAY, "the delay ends with a timer");
    let mut fd = libc::pollfd { fd: exit, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll on one valid pollfd, no timeout (the fixture exits on its own).
    assert_eq!(unsafe { libc::poll(&raw mut fd, 1, -1) }, 1);
    let key = call.on_ready(Channel::Exit).expect("the exit step ends the call").unwrap();
    assert_eq!(key.pem(), FIXTURE_PUB);
}

#[test]
fn an_answer_larger_than_the_pipe_is_read_once_the_delay_is_over() {
    // 20 MiB of answer: the plugin blocks on the full pipe until stdout is watched.
    let sv = get_signer_verifier("huge-answer://k", fixture_options().stdout_limit(32 << 20)).unwrap();
    let call = sv.start_default_algorithm().unwrap();
    let (result, turns) = drive(call);
    assert_eq!(result.unwrap().len(), 20 << 20);
    assert!(turns > 2, "read in turns once watched, not at the exit: {turns}");
}

#[test]
fn errors_are_the_same_errors() {
    let opts = || fixture_options().timeout(Some(Duration::from_millis(300)));
    let hang = get_signer_verifier("hang://x", opts()).unwrap();
    let started = Instant::now();
    let err = drive(hang.start_default_algorithm().unwrap()).0.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let garbage = get_signer_verifier("garbage://x", opts()).unwrap();
    assert_eq!(drive(garbage.start_public_key().unwrap()).0.unwrap_err().kind(), ErrorKind::InvalidResponse);
    let huge = get_signer_verifier("huge-answer://x", opts().stdout_limit(4096)).unwrap();
    assert_eq!(drive(huge.start_default_algorithm().unwrap()).0.unwrap_err().kind(), ErrorKind::OutputTooLarge);
    let exit1 = get_signer_verifier("exit1://x", opts()).unwrap();
    // A valid answer counts whatever the exit status, as in Go.
    assert_eq!(drive(exit1.start_default_algorithm().unwrap()).0.unwrap(), "ecdsa-p256");
    let killed = get_signer_verifier("sigkill://x", opts()).unwrap();
    assert_eq!(drive(killed.start_default_algorithm().unwrap()).0.unwrap_err().kind(), ErrorKind::Exec);
    // A plugin exiting with a grandchild still holding stdout ends after the grace period.
    let grandchild = get_signer_verifier("grandchild-stdout://x", opts().timeout(None)).unwrap();
    let started = Instant::now();
    drop(drive(grandchild.start_default_algorithm().unwrap()));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn cancel_and_drop_kill_the_plugin_and_leave_nothing_behind() {
    let hang = get_signer_verifier("hang://x", fixture_options().timeout(None)).unwrap();
    let fds_before = open_fds();
    let mut call = hang.start_default_algorithm().unwrap();
    let pid = call.pid();
    let err = call.cancel().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert_eq!(call.watches(), Watches::default(), "a cancelled call watches nothing");
    call.release_closed();
    assert!(!live_children().contains(&pid));
    drop(call);
    let dropped = hang.start_default_algorithm().unwrap();
    let pid = dropped.pid();
    drop(dropped);
    assert!(!live_children().contains(&pid));
    assert!(open_fds() <= fds_before, "descriptors leaked");
}

struct Fixed;

impl sigstore_kms_plugins::KmsHandler for Fixed {
    fn default_algorithm(&self, _: &CallContext) -> std::result::Result<String, HandlerError> {
        Ok("fixed".into())
    }
    fn supported_algorithms(&self, _: &CallContext) -> std::result::Result<Vec<String>, HandlerError> {
        Ok(vec![])
    }
    fn create_key(&self, _: &CallContext, _: &str) -> std::result::Result<String, HandlerError> {
        Err("no".into())
    }
    fn public_key(&self, _: &CallContext) -> std::result::Result<String, HandlerError> {
        Err("no".into())
    }
    fn sign_message(
        &self,
        _: &CallContext,
        _: &mut dyn std::io::Read,
        _: &MessageOptions,
    ) -> std::result::Result<Vec<u8>, HandlerError> {
        Err("no".into())
    }
    fn verify_signature(
        &self,
        _: &CallContext,
        _: &[u8],
        _: &mut dyn std::io::Read,
        _: &MessageOptions,
    ) -> std::result::Result<(), HandlerError> {
        Err("no".into())
    }
}

#[test]
fn an_in_process_provider_is_not_started_as_a_process() {
    let factory = |_: &str| Ok(Arc::new(Fixed) as Arc<dyn sigstore_kms_plugins::KmsHandler>);
    register_provider("running-test-provider", Arc::new(factory)).unwrap();
    let sv = get_signer_verifier("running-test-provider://k", fixture_options()).unwrap();
    assert!(sv.program_path().is_none());
    let err = sv.start_default_algorithm().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(err.to_string().contains("in-process provider"), "{err}");
    assert_eq!(sv.default_algorithm_blocking().unwrap(), "fixed");
}
