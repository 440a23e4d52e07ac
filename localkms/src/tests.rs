//! Handler tests: the plugin driven through the SDK exactly as a host drives it.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sigstore_kms_plugins::plugin::serve_with;
use sigstore_kms_plugins::protocol::gojson::base64_encode;
use sigstore_kms_plugins::protocol::PluginResponse;
use sigstore_kms_plugins::HashFunc;

use super::*;

/// Runs one request; answers the decoded response.
fn call(request: &str, stdin: &[u8]) -> PluginResponse {
    let args: Vec<OsString> = vec!["sigstore-kms-localkms".into(), "v1".into(), request.into()];
    let mut out = Vec::new();
    serve_with(&args, &mut &stdin[..], &mut out, &LocalKms).unwrap();
    PluginResponse::from_json(&out).unwrap()
}

fn init(key: &Path, hash: u32) -> String {
    format!(
        r#""initOptions":{{"protocolVersion":"v1","keyResourceID":{},"hashFunc":{hash},"rpcOptions":{{"keyVersion":"","remoteVerification":false}}}}"#,
        serde_json_string(&key.display().to_string())
    )
}

fn serde_json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn msg_opts(digest: Option<&[u8]>, hash: Option<u32>) -> String {
    let d = digest.map_or_else(|| "null".to_owned(), |d| format!("\"{}\"", base64_encode(d)));
    match hash {
        Some(h) => format!(r#"{{"digest":{d},"hashFunc":{h}}}"#),
        None => format!(r#"{{"digest":{d}}}"#),
    }
}

fn create(key: &Path, alg: &str) -> PluginResponse {
    call(&format!(r#"{{{},"methodName":"createKey","createKey":{{"algorithm":"{alg}"}}}}"#, init(key, 5)), b"")
}

fn public_key(key: &Path) -> PluginResponse {
    call(
        &format!(
            r#"{{{},"methodName":"publicKey","publicKey":{{"publicKeyOptions":{{"rpcOptions":{{}}}}}}}}"#,
            init(key, 5)
        ),
        b"",
    )
}

fn sign(key: &Path, hash: u32, message: &[u8], digest: Option<&[u8]>, msg_hash: Option<u32>) -> PluginResponse {
    let req = format!(
        r#"{{{},"methodName":"signMessage","signMessage":{{"signOptions":{{"rpcOptions":{{}},"messageOptions":{}}}}}}}"#,
        init(key, hash),
        msg_opts(digest, msg_hash)
    );
    call(&req, message)
}

fn verify(
    key: &Path,
    hash: u32,
    sig: &[u8],
    message: &[u8],
    digest: Option<&[u8]>,
    msg_hash: Option<u32>,
) -> PluginResponse {
    let req = format!(
        r#"{{{},"methodName":"verifySignature","verifySignature":{{"signature":"{}","verifyOptions":{{"rpcOptions":{{}},"messageOptions":{}}}}}}}"#,
        init(key, hash),
        base64_encode(sig),
        msg_opts(digest, msg_hash)
    );
    call(&req, message)
}

fn signature(resp: PluginResponse) -> Vec<u8> {
    assert_eq!(resp.error_message, "");
    resp.sign_message.unwrap().signature
}

fn ok(resp: &PluginResponse) {
    assert_eq!(resp.error_message, "");
}

#[test]
fn default_and_supported_algorithms() {
    let key = Path::new("/nonexistent");
    let r = call(&format!(r#"{{{},"methodName":"defaultAlgorithm","defaultAlgorithm":{{}}}}"#, init(key, 5)), b"");
    assert_eq!(r.default_algorithm.unwrap().default_algorithm, "ecdsa-p256");
    let r =
        call(&format!(r#"{{{},"methodName":"supportedAlgorithms","supportedAlgorithms":{{}}}}"#, init(key, 5)), b"");
    assert_eq!(
        r.supported_algorithms.unwrap().supported_algorithms,
        ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"]
    );
}

#[test]
fn create_key_writes_0600_pkcs8_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let first = create(&key, "ecdsa-p384");
    ok(&first);
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
    let pem = first.create_key.unwrap().public_key_pem;
    assert!(String::from_utf8(pem.clone()).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    // A second createKey, even for another algorithm, answers the same key and keeps the file.
    let again = create(&key, "ed25519");
    assert_eq!(again.create_key.unwrap().public_key_pem, pem);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
    assert_eq!(public_key(&key).public_key.unwrap().public_key_pem, pem);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn concurrent_creates_agree_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("race.pem");
    let pems: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| create(&key, "ecdsa-p256").create_key.unwrap().public_key_pem)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(pems.windows(2).all(|w| w[0] == w[1]), "every caller answers the winner's key");
    assert_eq!(public_key(&key).public_key.unwrap().public_key_pem, pems[0]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn create_key_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = create(&dir.path().join("x.pem"), "any-algorithm").error_message;
    assert!(e.contains("algorithm \"any-algorithm\" not supported"), "{e}");
    let e = create(&dir.path().join("missing-dir/x.pem"), "ecdsa-p256").error_message;
    assert!(e.contains("cannot write the key file"), "{e}");
    let e = create(Path::new(""), "ecdsa-p256").error_message;
    assert!(e.contains("key reference is empty"), "{e}");
    let e = public_key(&dir.path().join("none.pem")).error_message;
    assert!(e.contains("cannot open the key file"), "{e}");
    // The empty algorithm means the default.
    let key = dir.path().join("default.pem");
    ok(&create(&key, ""));
    assert_eq!(LocalKms::load_key(&key).unwrap().public_key().describe(), "ecdsa-p256");
}

#[test]
fn sign_and_verify_every_algorithm_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"] {
        let key = dir.path().join(format!("{alg}.pem"));
        ok(&create(&key, alg));
        let message = b"any message";
        let sig = signature(sign(&key, 5, message, None, None));
        ok(&verify(&key, 5, &sig, message, None, None));
        let bad = verify(&key, 5, &sig, b"any messagE", None, None).error_message;
        assert!(bad.starts_with("invalid signature"), "{alg}: {bad}");
        let bad = verify(&key, 5, b"bad signature", message, None, None).error_message;
        assert!(bad.starts_with("invalid signature"), "{alg}: {bad}");
        // The same signature checks against the public key outside the plugin.
        let pem = public_key(&key).public_key.unwrap().public_key_pem;
        let public = PublicKey::from_pem(&pem).unwrap();
        public
            .verify(&sig, Input::Message(&mut &message[..]), HashChoice { hash: HashFunc::Sha256, explicit: false })
            .unwrap();
    }
}

#[test]
fn digest_paths_follow_go_and_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let message = b"any message";
    let sha256 = hash::digest_reader(HashFunc::Sha256, &mut &message[..]).unwrap();
    let sha384 = hash::digest_reader(HashFunc::Sha384, &mut &message[..]).unwrap();
    for alg in ["ecdsa-p256", "ecdsa-p384", "rsa-2048"] {
        let key = dir.path().join(format!("{alg}.pem"));
        ok(&create(&key, alg));
        // Go's CryptoSigner: digest and hashFunc, empty stdin.
        let sig = signature(sign(&key, 5, b"", Some(&sha256), Some(5)));
        ok(&verify(&key, 5, &sig, message, None, None));
        ok(&verify(&key, 5, &sig, b"", Some(&sha256), Some(5)));
        // The message and the digest (signer_program_test "message and digest").
        let sig = signature(sign(&key, 5, message, Some(&sha256), None));
        ok(&verify(&key, 5, &sig, message, Some(&sha256), None));
        // A bad digest is refused.
        let e = sign(&key, 5, b"", Some(b"bad digest"), None).error_message;
        assert!(e.contains("10 bytes"), "{alg}: {e}");
        // hashFunc in messageOptions replaces initOptions.hashFunc.
        let sig = signature(sign(&key, 5, message, None, Some(6)));
        ok(&verify(&key, 6, &sig, message, None, None));
        ok(&verify(&key, 5, &sig, b"", Some(&sha384), Some(6)));
        assert!(!verify(&key, 5, &sig, message, None, None).error_message.is_empty());
        // An empty digest counts as none, as in Go's example.
        let sig = signature(sign(&key, 5, message, Some(b""), None));
        ok(&verify(&key, 5, &sig, message, None, None));
    }
    // cosign and a P-384 key: a SHA-384 digest with hashFunc SHA-256.
    let key = dir.path().join("ecdsa-p384.pem");
    let sig = signature(sign(&key, 5, message, Some(&sha384), None));
    ok(&verify(&key, 6, &sig, message, None, None));
    // RSA cannot guess which hash a digest of another length was made with.
    let e = sign(&dir.path().join("rsa-2048.pem"), 5, message, Some(&sha384), None).error_message;
    assert!(e.contains("48 bytes") && e.contains("SHA-256 digest is 32 bytes"), "{e}");
    // hashFunc 0 falls back to the key's default (P-384: SHA-384).
    let sig = signature(sign(&key, 0, message, None, Some(0)));
    ok(&verify(&key, 6, &sig, message, None, None));
    // Ed25519 refuses digests.
    let key = dir.path().join("ed.pem");
    ok(&create(&key, "ed25519"));
    let e = sign(&key, 5, b"", Some(&sha256), Some(5)).error_message;
    assert!(e.contains("pure Ed25519"), "{e}");
    // An unsupported hash is a clear error.
    let e = sign(&dir.path().join("ecdsa-p256.pem"), 2, message, None, None).error_message;
    assert!(e.contains("MD5") && e.contains("not supported"), "{e}");
}

#[test]
fn expired_deadline_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let req = format!(
        r#"{{{},"methodName":"createKey","createKey":{{"ctxDeadline":"2001-01-01T00:00:00Z","algorithm":"ecdsa-p256"}}}}"#,
        init(&key, 5)
    );
    let e = call(&req, b"").error_message;
    assert!(e.contains("deadline exceeded"), "{e}");
    assert!(!key.exists());
}

#[test]
fn reads_keys_written_by_go_and_openssl_tools() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture P-256 key (SEC 1 or PKCS#8, whichever it is).
    let fixture = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/keys/fixture-p256.pem"));
    let want = std::fs::read(fixture.with_file_name("fixture-p256.pub.pem")).unwrap();
    let got = public_key(fixture).public_key.unwrap().public_key_pem;
    assert_eq!(PublicKey::from_pem(&got).unwrap(), PublicKey::from_pem(&want).unwrap());
    // Go's example plugin: an RSA PRIVATE KEY block written twice, mode 0400.
    let PrivateKey::Rsa(rsa) = PrivateKey::generate(Algorithm::Rsa2048).unwrap() else { unreachable!() };
    let block = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(rsa.as_ref(), pkcs8::LineEnding::LF).unwrap();
    let key = dir.path().join("go.pem");
    std::fs::write(&key, format!("{}{}", block.as_str(), block.as_str())).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    let sig = signature(sign(&key, 5, b"m", None, None));
    ok(&verify(&key, 5, &sig, b"m", None, None));
    // createKey on it answers it, whatever algorithm is asked for.
    ok(&create(&key, "ecdsa-p256"));
    assert_eq!(LocalKms::load_key(&key).unwrap().public_key().describe(), "rsa-2048");
}
