//! `sigstore-kms sign --bundle`, `verify --bundle` and `attest`, end to end with the `localkms`
//! plugin on `PATH` (the same binary, started as `sigstore-kms-localkms`), for every key type.
//! Cross-checks with cosign and sigstore-js are in the Go interop harness
//! (tests/interop/go/interop/bundle_test.go).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};

use common::Env;

const ALGORITHMS: [(&str, &str); 4] =
    [("ecdsa-p256", "SHA2_256"), ("ecdsa-p384", "SHA2_384"), ("rsa-2048", "SHA2_256"), ("ed25519", "SHA2_512")];

#[test]
fn sign_bundle_and_verify_it_for_every_key_type() {
    let env = Env::new();
    let artifact = env.write("artifact.bin", b"release 1.0\n");
    let tampered = env.write("tampered.bin", b"release 1.1\n");
    for (alg, digest_algorithm) in ALGORITHMS {
        let key = env.key(&format!("{alg}.pem"));
        let (pem, _) = env.ok_with_stderr(&["generate-key", "--key", &key, "--algorithm", alg]);
        let pubfile = env.write(&format!("{alg}.pub"), pem.as_bytes());
        let bundle = env.file(&format!("{alg}.sigstore.json"));
        let (stdout, stderr) = env.ok_with_stderr(&["sign", "--key", &key, "--bundle", &bundle, &artifact]);
        assert_eq!(stdout, "", "the bundle goes to the file");
        assert!(stderr.contains("wrote the bundle"), "{stderr}");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
        assert_eq!(json["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
        assert_eq!(json["messageSignature"]["messageDigest"]["algorithm"], digest_algorithm, "{alg}");
        assert!(json["verificationMaterial"].get("tlogEntries").is_none(), "omitted when empty, as cosign does");

        for with in [["--public-key", pubfile.as_str()], ["--key", key.as_str()]] {
            let (stdout, stderr) = env.ok_with_stderr(&["verify", with[0], with[1], "--bundle", &bundle, &artifact]);
            assert_eq!(stdout, "Verified OK\n");
            assert!(stderr.contains(digest_algorithm), "{stderr}");
            let err = env.fails(&["verify", with[0], with[1], "--bundle", &bundle, &tampered], 1);
            assert!(err.contains("verification failed") && err.contains("messageDigest"), "{err}");
        }

        // From stdin to stdout.
        let out = env.run_with_stdin(&["sign", "--key", &key, "--bundle", "-", "-"], b"release 1.0\n");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let piped = env.write("piped.json", &out.stdout);
        env.ok_with_stderr(&["verify", "--public-key", &pubfile, "--bundle", &piped, &artifact]);
    }
}

#[test]
fn attest_makes_a_dsse_bundle_about_the_files() {
    let env = Env::new();
    let a = env.write("a.tar.gz", b"first");
    let b = env.write("b.tar.gz", b"second");
    let other = env.write("other", b"third");
    let predicate = env.write("predicate.json", br#"{"builder":{"id":"https://example.com/ci"}}"#);
    for (alg, _) in ALGORITHMS {
        let key = env.key(&format!("{alg}.pem"));
        let (pem, _) = env.ok_with_stderr(&["generate-key", "--key", &key, "--algorithm", alg]);
        let pubfile = env.write(&format!("{alg}.pub"), pem.as_bytes());
        let bundle = env.file("att.json");
        env.ok_with_stderr(&[
            "attest",
            "--key",
            &key,
            "--type",
            "slsaprovenance1",
            "--predicate",
            &predicate,
            "--bundle",
            &bundle,
            &a,
            &b,
        ]);
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
        let env_json = &json["dsseEnvelope"];
        assert_eq!(env_json["payloadType"], "application/vnd.in-toto+json");
        let payload = base64_decode(env_json["payload"].as_str().unwrap());
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(statement["predicate"]["builder"]["id"], "https://example.com/ci");
        assert_eq!(statement["subject"][1]["name"], "b.tar.gz");

        let (_, stderr) = env.ok_with_stderr(&["verify", "--public-key", &pubfile, "--bundle", &bundle, &b]);
        assert!(stderr.contains("\"b.tar.gz\""), "{stderr}");
        env.ok_with_stderr(&["verify", "--key", &key, "--bundle", &bundle]);
        let err = env.fails(&["verify", "--public-key", &pubfile, "--bundle", &bundle, &other], 1);
        assert!(err.contains("matches none of the statement's 2 subjects"), "{err}");
    }
}

#[test]
fn verify_bundle_failures_say_why() {
    let env = Env::new();
    let artifact = env.write("artifact.bin", b"release 1.0\n");
    let key = env.key("k.pem");
    let (pem, _) = env.ok_with_stderr(&["generate-key", "--key", &key]);
    let pubfile = env.write("k.pub", pem.as_bytes());
    let (other_pem, _) = env.ok_with_stderr(&["generate-key", "--key", &env.key("other.pem")]);
    let other = env.write("other.pub", other_pem.as_bytes());
    let bundle = env.file("b.json");
    env.ok_with_stderr(&["sign", "--key", &key, "--bundle", &bundle, &artifact]);
    let text = std::fs::read_to_string(&bundle).unwrap();

    let err = env.fails(&["verify", "--public-key", &other, "--bundle", &bundle, &artifact], 1);
    assert!(err.contains("key hint"), "{err}");
    let hint = serde_json::from_str::<serde_json::Value>(&text).unwrap()["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong_hint = env.write("wrong-hint.json", text.replace(&hint, "AAAA").as_bytes());
    let err = env.fails(&["verify", "--public-key", &pubfile, "--bundle", &wrong_hint, &artifact], 1);
    assert!(err.contains("is not the given key's hint"), "{err}");
    let truncated = env.write("truncated.json", &text.as_bytes()[..text.len() / 2]);
    let err = env.fails(&["verify", "--public-key", &pubfile, "--bundle", &truncated, &artifact], 1);
    assert!(err.contains("malformed bundle: not JSON"), "{err}");
    let err = env.fails(&["verify", "--public-key", &pubfile, "--bundle", &bundle], 1);
    assert!(err.contains("give the artifact"), "{err}");
    let err = env.fails(&["verify", "--public-key", &pubfile, "--bundle", &env.file("missing.json"), &artifact], 1);
    assert!(err.contains("cannot read the bundle"), "{err}");
    // Usage errors.
    env.fails(&["verify", "--public-key", &pubfile, "--bundle", &bundle, "--signature", "x", &artifact], 2);
    env.fails(&["sign", "--key", &key, "--bundle", &bundle, "--digest", &artifact], 2);
    env.fails(&["verify", "--public-key", &pubfile, &artifact], 2);
    let err = env.fails(
        &["attest", "--key", &key, "--type", "nonsense", "--predicate", &artifact, "--bundle", &bundle, &artifact],
        1,
    );
    assert!(err.contains("neither a URI nor one of"), "{err}");
    let err = env.fails(&["attest", "--key", &key, "--predicate", &artifact, "--bundle", &bundle, &artifact], 1);
    assert!(err.contains("is not JSON"), "{err}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// The shell examples of README.md and docs/cli.md marked `<!-- test: sh ... -->` run as they
/// are (bash, errexit), each in a fresh directory holding an `app.tar.gz`, with `sigstore-kms`
/// and the localkms plugin on PATH.
#[test]
fn documented_shell_examples_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut ran = Vec::new();
    for doc in ["README.md", "docs/cli.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for (i, part) in text.split("<!-- test: sh").skip(1).enumerate() {
            let block = part.split_once("```sh\n").and_then(|(_, rest)| rest.split_once("\n```")).map(|(b, _)| b);
            let Some(block) = block else { panic!("{doc}: a `<!-- test: sh` marker without a ```sh block after it") };
            let env = Env::new();
            env.write("app.tar.gz", b"release 1.0\n");
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sigstore-kms"), env.bin.join("sigstore-kms")).unwrap();
            let out = Command::new("/bin/bash")
                .args(["-euo", "pipefail", "-c", block])
                .env("PATH", format!("{}:/usr/bin:/bin", env.bin.display()))
                .current_dir(env.dir.path())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{doc} example {}:\n{block}\nstdout: {}\nstderr: {}",
                i + 1,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
            ran.push(format!("{doc}#{}", i + 1));
        }
    }
    assert!(
        ran.iter().any(|r| r.starts_with("README.md")) && ran.iter().any(|r| r.starts_with("docs/cli.md")),
        "{ran:?}"
    );
}
