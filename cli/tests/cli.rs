//! End-to-end tests of the `sigstore-kms` program with the `localkms` plugin on `PATH`, and of
//! its signatures with OpenSSL (the plugin: see `common`).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use common::Env;

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl(args: &[&str]) -> Output {
    Command::new(OPENSSL).args(args).output().unwrap()
}

fn openssl_verifies(alg: &str, public: &str, sig_der: &str, file: &str) -> bool {
    let out = if alg == "ed25519" {
        openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-in", file, "-sigfile", sig_der])
    } else {
        openssl(&["dgst", "-sha256", "-verify", public, "-signature", sig_der, file])
    };
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && (text.contains("Verified OK") || text.contains("Signature Verified Successfully"))
}

/// Everything the issue asks of one algorithm: generate-key, sign, verify through the plugin
/// and locally, OpenSSL agrees, digest mode, and tampering is caught.
fn full_cycle(alg: &str) {
    let env = Env::new();
    let key = env.key("key.pem");
    let public = env.ok(&["generate-key", "--key", &key, "--algorithm", alg]);
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n") && public.ends_with("-----END PUBLIC KEY-----\n"),
        "{public}"
    );
    assert_eq!(env.ok(&["public-key", "--key", &key]), public, "public-key answers the generated key");
    let pub_pem = env.write("pub.pem", public.as_bytes());
    let file = env.write("blob.txt", b"hello, sigstore\n");
    let tampered = env.write("tampered.txt", b"hello, sigstorE\n");

    // sign: standard base64 and one newline, as cosign sign-blob prints it.
    let sig_b64 = env.ok(&["sign", "--key", &key, &file]);
    assert!(sig_b64.ends_with('\n') && !sig_b64.trim_end().contains('\n'), "{sig_b64:?}");
    let sig = base64::engine::general_purpose::STANDARD.decode(sig_b64.trim_end()).unwrap();
    let sig_file = env.write("sig.b64", sig_b64.as_bytes());
    let sig_der = env.write("sig.der", &sig);

    assert_eq!(env.ok(&["verify", "--key", &key, "--signature", &sig_file, &file]), "Verified OK\n");
    assert_eq!(env.ok(&["verify", "--public-key", &pub_pem, "--signature", &sig_file, &file]), "Verified OK\n");
    assert_eq!(
        env.ok(&["verify", "--public-key", &pub_pem, "--signature", &sig_der, &file]),
        "Verified OK\n",
        "raw signature file"
    );
    assert!(openssl_verifies(alg, &pub_pem, &sig_der, &file), "openssl rejects the {alg} signature");

    // Tampering is caught by the plugin, locally, and by OpenSSL.
    let e = env.fails(&["verify", "--key", &key, "--signature", &sig_file, &tampered], 1);
    assert!(e.starts_with("error: verification failed"), "{e}");
    let e = env.fails(&["verify", "--public-key", &pub_pem, "--signature", &sig_file, &tampered], 1);
    assert!(e.starts_with("error: verification failed"), "{e}");
    assert!(!openssl_verifies(alg, &pub_pem, &sig_der, &tampered));

    // Digest mode: hashed here, only the digest sent.
    if alg == "ed25519" {
        let e = env.fails(&["sign", "--key", &key, "--digest", &file], 1);
        assert!(e.contains("pure Ed25519"), "{e}");
    } else {
        let dsig_b64 = env.ok(&["sign", "--key", &key, "--digest", &file]);
        let dsig_file = env.write("dsig.b64", dsig_b64.as_bytes());
        let dsig = base64::engine::general_purpose::STANDARD.decode(dsig_b64.trim_end()).unwrap();
        let dsig_der = env.write("dsig.der", &dsig);
        assert_eq!(env.ok(&["verify", "--key", &key, "--signature", &dsig_file, &file]), "Verified OK\n");
        assert_eq!(env.ok(&["verify", "--key", &key, "--digest", "--signature", &dsig_file, &file]), "Verified OK\n");
        assert_eq!(env.ok(&["verify", "--public-key", &pub_pem, "--signature", &dsig_file, &file]), "Verified OK\n");
        assert!(openssl_verifies(alg, &pub_pem, &dsig_der, &file), "openssl rejects the {alg} digest signature");
        env.fails(&["verify", "--key", &key, "--digest", "--signature", &dsig_file, &tampered], 1);
    }

    // The key on disk is PKCS#8 with mode 0600, and OpenSSL reads it.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(env.path("key.pem")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let key_path = env.path("key.pem").display().to_string();
    let out = openssl(&["pkey", "-in", &key_path, "-pubout"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), public, "OpenSSL derives the same public key");
}

#[test]
fn ecdsa_p256_full_cycle() {
    full_cycle("ecdsa-p256");
}

#[test]
fn ecdsa_p384_full_cycle() {
    full_cycle("ecdsa-p384");
}

#[test]
fn ed25519_full_cycle() {
    full_cycle("ed25519");
}

#[test]
fn rsa_2048_full_cycle() {
    full_cycle("rsa-2048");
}

#[test]
fn rsa_3072_full_cycle() {
    full_cycle("rsa-3072");
}

#[test]
fn rsa_4096_full_cycle() {
    full_cycle("rsa-4096");
}

#[test]
fn default_algorithm_comes_from_the_plugin() {
    let env = Env::new();
    let key = env.key("k.pem");
    env.ok(&["generate-key", "--key", &key]);
    let out = openssl(&["pkey", "-in", &env.path("k.pem").display().to_string(), "-noout", "-text"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("P-256"), "ecdsa-p256 is the default");
    // generate-key again answers the same key.
    assert_eq!(
        env.ok(&["generate-key", "--key", &key, "--algorithm", "ed25519"]),
        env.ok(&["public-key", "--key", &key])
    );
}

#[test]
fn openssl_signatures_and_keys_work_with_the_plugin() {
    let env = Env::new();
    // An OpenSSL SEC 1 key (EC PRIVATE KEY with named curve) used as a localkms key.
    let key_path = env.path("ossl.pem").display().to_string();
    assert!(openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key_path]).status.success());
    let key = env.key("ossl.pem");
    let file = env.write("f.txt", b"signed by openssl\n");
    let pub_pem = env.write("pub.pem", env.ok(&["public-key", "--key", &key]).as_bytes());
    // Several signatures, so that high-S values (which OpenSSL does not normalise) occur.
    for i in 0..8 {
        let sig = env.path(&format!("s{i}.der")).display().to_string();
        assert!(openssl(&["dgst", "-sha256", "-sign", &key_path, "-out", &sig, &file]).status.success());
        assert_eq!(env.ok(&["verify", "--key", &key, "--signature", &sig, &file]), "Verified OK\n");
        assert_eq!(env.ok(&["verify", "--public-key", &pub_pem, "--signature", &sig, &file]), "Verified OK\n");
    }
    // An RSA key from OpenSSL (PKCS#8).
    let rsa_path = env.path("rsa.pem").display().to_string();
    assert!(openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &rsa_path])
        .status
        .success());
    let sig = env.path("rsa.sig").display().to_string();
    assert!(openssl(&["dgst", "-sha256", "-sign", &rsa_path, "-out", &sig, &file]).status.success());
    assert_eq!(env.ok(&["verify", "--key", &env.key("rsa.pem"), "--signature", &sig, &file]), "Verified OK\n");
}

#[test]
fn the_fixture_key_is_read() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys");
    let key = format!("localkms://{}", root.join("fixture-p256.pem").display());
    let public = env.ok(&["public-key", "--key", &key]);
    let want = std::fs::read_to_string(root.join("fixture-p256.pub.pem")).unwrap();
    assert_eq!(public.trim(), want.trim());
}

#[test]
fn sign_reads_stdin_and_honours_the_hash() {
    let env = Env::new();
    let key = env.key("k.pem");
    env.ok(&["generate-key", "--key", &key, "--algorithm", "ecdsa-p384"]);
    let file = env.write("f", b"from stdin");
    let out = env
        .cmd(&["sign", "--key", &key, "--hash", "sha384", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sig = env.write("sig", &out.stdout);
    assert_eq!(env.ok(&["verify", "--key", &key, "--hash", "sha384", "--signature", &sig, &file]), "Verified OK\n");
    let pub_pem = env.write("pub.pem", env.ok(&["public-key", "--key", &key]).as_bytes());
    assert_eq!(
        env.ok(&["verify", "--public-key", &pub_pem, "--hash", "SHA-384", "--signature", &sig, &file]),
        "Verified OK\n"
    );
    // The default hash is SHA-256: the SHA-384 signature does not verify with it.
    env.fails(&["verify", "--public-key", &pub_pem, "--signature", &sig, &file], 1);
    let raw = base64::engine::general_purpose::STANDARD.decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let der = env.write("sig.der", &raw);
    let ok = openssl(&["dgst", "-sha384", "-verify", &pub_pem, "-signature", &der, &file]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
}

#[test]
fn check_passes_on_localkms() {
    let env = Env::new();
    for (name, alg) in [
        ("default.pem", None),
        ("ed.pem", Some("ed25519")),
        ("rsa.pem", Some("rsa-2048")),
        ("p384.pem", Some("ecdsa-p384")),
    ] {
        let key = env.key(name);
        if let Some(alg) = alg {
            env.ok(&["generate-key", "--key", &key, "--algorithm", alg]);
        }
        let out = env.ok(&["check", "--key", &key]);
        assert!(out.contains(" passed, 0 failed"), "{out}");
        assert!(!out.contains("FAIL"), "{out}");
        assert!(out.contains("PASS  an unknown method is answered with errorMessage"), "{out}");
        assert!(out.contains("PASS  an unknown protocol version is answered with errorMessage"), "{out}");
        if alg == Some("ed25519") {
            assert!(out.contains("SKIP  digest signing"), "{out}");
        } else {
            assert!(out.contains("PASS  signMessage with the message and its digest"), "{out}");
        }
    }
}

#[test]
fn check_fails_on_a_fake_plugin() {
    let env = Env::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plugins");
    let out = env
        .cmd(&["check", "--key", "fixture://k"])
        .env("PATH", format!("{}:/usr/bin:/bin", fixtures.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("FAIL  the signature verifies locally with the public key"), "{stdout}");
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("error: "));
}

#[test]
fn list_shows_the_plugin() {
    let env = Env::new();
    let text = env.ok(&["list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert!(lines[1].starts_with("localkms  PATH ") && lines[1].ends_with("  ok"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
    assert_eq!(json[0]["name"], "localkms");
    assert_eq!(json[0]["usable"], true);
    assert_eq!(json[0]["path"], env.bin.join("sigstore-kms-localkms").display().to_string());
    assert_eq!(json[0]["source"], "path");
    assert_eq!(json[0]["shadowedBy"], serde_json::Value::Null);

    // A shadowed and a non-executable one are flagged.
    let second = env.path("second");
    std::fs::create_dir(&second).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sigstore-kms"), second.join("sigstore-kms-localkms")).unwrap();
    std::fs::write(second.join("sigstore-kms-broken"), "#!/bin/sh\n").unwrap();
    let path = format!("{}:{}", env.bin.display(), second.display());
    let out = env.cmd(&["list"]).env("PATH", &path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let shadowed = format!("shadowed by {}", env.bin.join("sigstore-kms-localkms").display());
    assert!(text.contains(&shadowed), "{text}");
    assert!(text.contains("not executable"), "{text}");

    // Nothing found is not an error.
    let out = env.cmd(&["list"]).env("PATH", env.path("empty-nowhere")).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("no sigstore-kms-* plugins"));
}

#[test]
fn plugin_dirs_are_searched_after_path() {
    let env = Env::new();
    // The plugin only in a --plugin-dir: PATH has nothing.
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let dir = env.bin.display().to_string();
    let key = env.key("k.pem");
    let run = |args: &[&str]| {
        let out = env.cmd(args).env("PATH", &empty).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["--plugin-dir", &dir, "generate-key", "--key", &key]).contains("BEGIN PUBLIC KEY"));
    let msg = env.write("msg", b"hello");
    let sig = run(&["sign", "--plugin-dir", &dir, "--key", &key, &msg]);
    let sig_file = env.write("msg.sig", sig.as_bytes());
    run(&["verify", "--plugin-dir", &dir, "--key", &key, "--signature", &sig_file, &msg]);
    let json: serde_json::Value = serde_json::from_str(&run(&["list", "--json", "--plugin-dir", &dir])).unwrap();
    assert_eq!(json[0]["source"], "bundled", "{json}");
    assert_eq!(json[0]["usable"], true, "{json}");

    // Without it the plugin is not found, and the error names what was searched.
    let out = env.cmd(&["public-key", "--key", &key]).env("PATH", &empty).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    // A program of the same name on PATH wins: the bundled one is listed as shadowed by it.
    let mine = env.path("mine");
    std::fs::create_dir(&mine).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sigstore-kms"), mine.join("sigstore-kms-localkms")).unwrap();
    let out = env.cmd(&["list", "--plugin-dir", &dir]).env("PATH", &mine).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("localkms  PATH ") && lines[1].ends_with("  ok"), "{text}");
    assert!(lines[2].starts_with("localkms  bundled ") && lines[2].contains("shadowed by"), "{text}");
    assert!(lines[2].ends_with(&mine.join("sigstore-kms-localkms").display().to_string()), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        &[][..],
        &["sign"][..],
        &["sign", "--key", "x://y"][..],
        &["sign", "--key", "x://y", "--hash", "sha-1024", "f"][..],
        &["verify", "--signature", "s", "f"][..],
        &["verify", "--key", "a://b", "--public-key", "p", "--signature", "s", "f"][..],
        &["no-such-command"][..],
        &["--timeout", "soon", "list"][..],
    ] {
        let e = env.fails(args, 2);
        assert!(e.contains("error:") || e.contains("Usage:"), "{args:?}: {e}");
    }
    assert!(env.ok(&["--help"]).contains("generate-key"));
}

#[test]
fn plugin_not_found_exits_1() {
    let env = Env::new();
    let e = env.fails(&["public-key", "--key", "nosuchplugin://k"], 1);
    assert!(e.starts_with("error: ") && e.contains("sigstore-kms-nosuchplugin"), "{e}");
    let e = env.fails(&["public-key", "--key", "no-separator"], 1);
    assert!(e.starts_with("error: "), "{e}");
    let e = env.fails(&["public-key", "--key", &env.key("missing.pem")], 1);
    assert!(e.starts_with("error: ") && e.contains("cannot open the key file"), "{e}");
    let f = env.write("f", b"x");
    let e = env
        .fails(&["verify", "--key", &env.key("k.pem"), "--signature", &env.path("nosig").display().to_string(), &f], 1);
    assert!(e.starts_with("error: cannot read the signature"), "{e}");
}

#[test]
fn timeout_zero_means_no_timeout() {
    let env = Env::new();
    assert!(env.ok(&["--timeout", "0", "generate-key", "--key", &env.key("k.pem")]).contains("PUBLIC KEY"));
    assert!(env.ok(&["public-key", "--timeout", "2.5", "--key", &env.key("k.pem")]).contains("PUBLIC KEY"));
}

#[test]
fn the_binary_is_the_localkms_plugin_under_that_name() {
    let env = Env::new();
    let plugin = env.bin.join("sigstore-kms-localkms");
    let out = Command::new(&plugin).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().starts_with(r#"{"errorMessage":"expected at least 3 arguments"#));
    let req = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#;
    let out = Command::new(&plugin).args(["v1", req]).output().unwrap();
    assert_eq!(out.stdout, br#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256"}}"#);
}
