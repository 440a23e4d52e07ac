//! The host client against real fixture plugin programs, well-behaved and misbehaving.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{fixture, fixture_options, sha256, PatternReader};
use sigstore_kms_plugins::{get_signer_verifier, ErrorKind, HashFunc, Options, StderrMode};

const FIXTURE_PUB: &str = include_str!("../../tests/fixtures/keys/fixture-p256.pub.pem");

#[test]
fn well_behaved_plugin_blocking() {
    let sv = fixture("fixture://my-key");
    assert!(sv.program_path().unwrap().is_absolute());
    assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256");
    assert_eq!(sv.supported_algorithms_blocking().unwrap(), vec!["ecdsa-p256", "ed25519"]);
    let key = sv.public_key_blocking().unwrap();
    assert_eq!(key.pem(), FIXTURE_PUB);
    assert_eq!(key.key_type(), "ecdsa-p256");
    assert_eq!(sv.create_key_blocking("ecdsa-p256").unwrap(), key);
    let sig = sv.sign_message_blocking(&b"hello\n"[..]).unwrap();
    assert_eq!(sig, sha256(b"hello\n"));
    sv.verify_signature_blocking(&sig, &b"hello\n"[..]).unwrap();
    let err = sv.verify_signature_blocking(&sig, &b"tampered"[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginReturned);
    assert_eq!(err.plugin_message(), Some("invalid signature"));
    // Go's CryptoSigner path: digest + hash function in the request, empty stdin.
    let digest = sha256(b"abc");
    assert_eq!(sv.sign_digest_blocking(&digest, HashFunc::Sha256).unwrap(), [b"digest:".as_slice(), &digest].concat());
}

// The async methods run on a different engine by where they are awaited (Tokio's I/O driver in
// a task or on a current-thread runtime, the blocking pool in `block_on` of a multi-thread
// runtime): the same answers from each.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_plugin_async_in_a_task() {
    tokio::spawn(well_behaved_plugin_async()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_plugin_async_in_block_on() {
    well_behaved_plugin_async().await;
}

#[tokio::test(flavor = "current_thread")]
async fn well_behaved_plugin_async_on_a_current_thread_runtime() {
    well_behaved_plugin_async().await;
}

async fn well_behaved_plugin_async() {
    let sv = fixture("fixture://my-key");
    assert_eq!(sv.default_algorithm().await.unwrap(), "ecdsa-p256");
    assert_eq!(sv.supported_algorithms().await.unwrap(), vec!["ecdsa-p256", "ed25519"]);
    assert_eq!(sv.public_key().await.unwrap().pem(), FIXTURE_PUB);
    assert_eq!(sv.create_key("ed25519").await.unwrap().pem(), FIXTURE_PUB);
    let sig = sv.sign_message(b"hello\n".to_vec()).await.unwrap();
    assert_eq!(sig, sha256(b"hello\n"));
    sv.verify_signature(&sig, "hello\n").await.unwrap();
    assert_eq!(sv.verify_signature(&sig, "nope").await.unwrap_err().kind(), ErrorKind::PluginReturned);
    let digest = sha256(b"abc");
    assert_eq!(sv.sign_digest(&digest, HashFunc::Sha256).await.unwrap(), [b"digest:".as_slice(), &digest].concat());
}

#[test]
fn environment_is_inherited() {
    // SAFETY-free: the variable is set before any thread of ours reads it and never changed.
    let sv = fixture("fixture://env:HOME");
    assert_eq!(sv.default_algorithm_blocking().unwrap(), std::env::var("HOME").unwrap());
}

#[test]
fn large_message_streams_whole() {
    let sv = fixture("fixture://stdin-count");
    let len = 64 * 1024 * 1024 + 7;
    let sig = sv.sign_message_blocking(PatternReader { left: len }).unwrap();
    assert_eq!(String::from_utf8(sig).unwrap(), len.to_string());
}

fn kind_of(
    uri: &str,
    opts: Options,
    call: impl Fn(&sigstore_kms_plugins::PluginSignerVerifier) -> sigstore_kms_plugins::Result<()>,
) -> sigstore_kms_plugins::Error {
    let sv = get_signer_verifier(uri, opts).unwrap();
    call(&sv).expect_err(uri)
}

fn default_algorithm(sv: &sigstore_kms_plugins::PluginSignerVerifier) -> sigstore_kms_plugins::Result<()> {
    sv.default_algorithm_blocking().map(drop)
}

#[test]
fn timeout_kills_a_hanging_plugin() {
    let started = Instant::now();
    let err = kind_of("hang://k", fixture_options().timeout(Some(Duration::from_millis(300))), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let msg = err.to_string();
    assert!(
        msg.contains("sigstore-kms-hang") && msg.contains("defaultAlgorithm") && msg.contains("timed out"),
        "{msg}"
    );
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let err = kind_of("hang-child://k", fixture_options().timeout(Some(Duration::from_millis(500))), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let tail = err.stderr_tail().expect("stderr was captured");
    let pid: u32 = tail.lines().find_map(|l| l.strip_prefix("grandchild=")).expect(tail).trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !common::process_dead(pid) {
        assert!(Instant::now() < deadline, "grandchild {pid} survived the timeout");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn endless_stdout_is_capped() {
    let err = kind_of("endless://k", fixture_options().stdout_limit(1 << 20), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::OutputTooLarge, "{err}");
    assert!(err.to_string().contains("1048576"));
}

#[test]
fn huge_answer_exceeds_the_default_cap() {
    let err = kind_of("huge-answer://k", fixture_options(), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::OutputTooLarge, "{err}");
}

#[test]
fn garbage_and_malformed_answers_are_invalid_responses() {
    for (name, needle) in [
        ("garbage", "this is not json"),
        ("logline", "starting plugin"),
        ("twojson", "trailing"),
        ("empty-object", "no \"defaultAlgorithm\" object"),
        ("wrong-types", "defaultAlgorithm.defaultAlgorithm: expected a string, got a number"),
        ("invalid-utf8", "not valid UTF-8"),
        ("exit-noanswer", "empty output"),
    ] {
        let err = kind_of(&format!("{name}://k"), fixture_options(), default_algorithm);
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(msg.contains(&format!("sigstore-kms-{name}")) && msg.contains("defaultAlgorithm"), "{msg}");
    }
    let err = kind_of("bad-base64://k", fixture_options(), |sv| sv.sign_message_blocking(&b"x"[..]).map(drop));
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.to_string().contains("signMessage.signature: invalid base64"), "{err}");
    // The preview of a non-UTF-8 answer is escaped, not raw bytes.
    let err = kind_of("invalid-utf8://k", fixture_options(), default_algorithm);
    assert!(err.to_string().contains("\\xff\\xfe"), "{err}");
}

#[test]
fn error_messages_are_plugin_returned() {
    let err = kind_of("errmsg://k", fixture_options(), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::PluginReturned);
    assert_eq!(err.plugin_message(), Some("key not found: the KMS said no"));
    let err = kind_of("errmsg-result://k", fixture_options(), |sv| sv.sign_message_blocking(&b"x"[..]).map(drop));
    assert_eq!(err.kind(), ErrorKind::PluginReturned);
}

#[test]
fn exit_status_is_ignored_but_signals_are_not() {
    assert_eq!(fixture("exit1://k").default_algorithm_blocking().unwrap(), "ecdsa-p256");
    let err = kind_of("sigkill://k", fixture_options(), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(err.to_string().contains("signal 9 (SIGKILL)"), "{err}");
}

#[test]
fn stderr_flood_is_drained() {
    for mode in [StderrMode::Capture, StderrMode::Null] {
        let sv = get_signer_verifier("stderr-flood://k", fixture_options().stderr(mode)).unwrap();
        assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256");
    }
}

#[test]
fn captured_stderr_tail_is_attached_to_errors() {
    let err = kind_of("hang-child://k", fixture_options().timeout(Some(Duration::from_millis(200))), default_algorithm);
    assert!(err.to_string().contains("plugin stderr (last lines):\ngrandchild="), "{err}");
}

#[test]
fn plugin_that_ignores_stdin_is_fine() {
    let sv = fixture("ignore-stdin://k");
    let sig = sv.sign_message_blocking(PatternReader { left: 32 * 1024 * 1024 }).unwrap();
    assert_eq!(sig, b"sig");
}

#[test]
fn grandchild_holding_pipes_does_not_stall() {
    for name in ["grandchild-stdout", "grandchild-stderr"] {
        let started = Instant::now();
        let sv = fixture(&format!("{name}://k"));
        assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256", "{name}");
        assert!(started.elapsed() < Duration::from_secs(3), "{name} stalled {:?}", started.elapsed());
    }
}

#[test]
fn slow_plugin_within_timeout_is_fine() {
    let sv = get_signer_verifier("slow://k", fixture_options().timeout(Some(Duration::from_secs(30)))).unwrap();
    assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256");
}

#[test]
fn no_shebang_is_an_exec_error_not_a_shell_run() {
    let err = kind_of("noshebang://k", fixture_options(), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(err.to_string().contains("#!"), "{err}");
}

#[test]
fn request_over_the_argument_limit_is_refused_before_spawning() {
    let uri = format!("fixture://{}", "k".repeat(200 * 1024));
    let err = kind_of(&uri, fixture_options(), default_algorithm);
    assert_eq!(err.kind(), ErrorKind::Exec);
    assert!(err.to_string().contains("nothing was run"), "{err}");
}

#[test]
fn timeout_can_be_disabled() {
    let sv = get_signer_verifier("fixture://k", fixture_options().timeout(None)).unwrap();
    assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256");
}

/// `Call::check` refuses a digest of the wrong length for its hash function (the bindings call
/// it before running a call); the Rust API itself sends what it is given, as Go's does.
#[test]
fn digest_lengths_are_checked_on_request() {
    use sigstore_kms_plugins::{Call, ErrorKind, HashFunc};
    let err = Call::sign_digest(b"abc".to_vec(), HashFunc::Sha256).check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOption);
    assert!(err.to_string().contains("SHA-256 digest is 32 bytes, got 3 bytes"), "{err}");
    assert!(Call::verify_digest(b"s".to_vec(), vec![0; 47], HashFunc::Sha384).check().is_err());
    assert!(Call::sign_digest(vec![1; 48], HashFunc::Sha384).check().is_ok());
    assert!(Call::sign_digest(vec![1; 3], HashFunc::None).check().is_ok(), "no length to check");
    let sv = common::fixture("fixture://k");
    assert_eq!(sv.sign_digest_blocking(b"abc", HashFunc::Sha256).unwrap(), b"digest:abc");
}
