//! The `sigstore-kms-localkms` program driven by the core crate's host, as cosign would drive
//! it: found on a search path, one process per call.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;

use sigstore_kms_localkms::{HashChoice, Input, PublicKey};
use sigstore_kms_plugins::{get_signer_verifier, ErrorKind, HashFunc, Options, PluginSignerVerifier, StderrMode};

/// A search path holding only the plugin, and a key URI in a temporary directory.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_sigstore-kms-localkms"),
            dir.path().join("bin/sigstore-kms-localkms"),
        )
        .unwrap();
        Setup { dir }
    }

    fn sv(&self, key: &str, hash: HashFunc) -> PluginSignerVerifier {
        let uri = format!("localkms://{}", self.dir.path().join(key).display());
        let opts =
            Options::default().hash_func(hash).search_path(self.dir.path().join("bin")).stderr(StderrMode::Capture);
        get_signer_verifier(&uri, opts).unwrap()
    }
}

/// A reader of `len` pseudo-random bytes, generated as read.
struct Pattern {
    left: u64,
    state: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            self.state = self.state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            *b = self.state.to_be_bytes()[3];
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn pattern(len: u64) -> Pattern {
    Pattern { left: len, state: 7 }
}

#[test]
fn every_algorithm_through_the_host() {
    let s = Setup::new();
    for alg in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"] {
        let sv = s.sv(&format!("{alg}.pem"), HashFunc::Sha256);
        assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256");
        assert_eq!(sv.supported_algorithms_blocking().unwrap().len(), 6);
        let created = sv.create_key_blocking(alg).unwrap();
        let public = sv.public_key_blocking().unwrap();
        assert_eq!(created.spki_der(), public.spki_der());
        let sig = sv.sign_message_blocking(&b"message"[..]).unwrap();
        sv.verify_signature_blocking(&sig, &b"message"[..]).unwrap();
        let e = sv.verify_signature_blocking(&sig, &b"massage"[..]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PluginReturned, "{e}");
        let local = PublicKey::from_spki_der(public.spki_der()).unwrap();
        local
            .verify(&sig, Input::Message(&mut &b"message"[..]), HashChoice { hash: HashFunc::Sha256, explicit: false })
            .unwrap();
        if alg != "ed25519" {
            let digest = sigstore_kms_localkms::hash::digest_reader(HashFunc::Sha256, &mut &b"message"[..]).unwrap();
            let dsig = sv.sign_digest_blocking(&digest, HashFunc::Sha256).unwrap();
            sv.verify_signature_blocking(&dsig, &b"message"[..]).unwrap();
            sv.verify_digest_blocking(&sig, &digest, HashFunc::Sha256).unwrap();
        }
    }
}

#[test]
fn async_calls_work_too() {
    let s = Setup::new();
    let sv = s.sv("async.pem", HashFunc::Sha384);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        sv.create_key("ecdsa-p384").await.unwrap();
        let sig = sv.sign_message(b"m".to_vec()).await.unwrap();
        sv.verify_signature(&sig, b"m".to_vec()).await.unwrap();
    });
}

/// Large messages stream through the plugin (ECDSA hashes as it reads; Ed25519 spools).
#[test]
fn large_messages_stream() {
    let s = Setup::new();
    for (alg, len) in [("ecdsa-p256", 96 * 1024 * 1024_u64), ("ed25519", 24 * 1024 * 1024)] {
        let sv = s.sv(&format!("big-{alg}.pem"), HashFunc::Sha256);
        let public = sv.create_key_blocking(alg).unwrap();
        let sig = sv.sign_message_blocking(pattern(len)).unwrap();
        sv.verify_signature_blocking(&sig, pattern(len)).unwrap();
        let local = PublicKey::from_spki_der(public.spki_der()).unwrap();
        local
            .verify(&sig, Input::Message(&mut pattern(len)), HashChoice { hash: HashFunc::Sha256, explicit: false })
            .unwrap();
        let e = sv.verify_signature_blocking(&sig, pattern(len - 1)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PluginReturned);
    }
}

#[test]
fn errors_reach_the_host_as_plugin_errors() {
    let s = Setup::new();
    let sv = s.sv("missing.pem", HashFunc::Sha256);
    let e = sv.public_key_blocking().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PluginReturned);
    assert!(e.plugin_message().unwrap().contains("cannot open the key file"), "{e}");
    let e = sv.create_key_blocking("dsa-1024").unwrap_err();
    assert!(e.plugin_message().unwrap().contains("not supported"), "{e}");
    assert!(!Path::new(&s.dir.path().join("missing.pem")).exists());
}

#[test]
fn a_response_that_cannot_be_written_is_exit_1_with_a_message() {
    // Every call writes one response, an errorMessage for this empty request; /dev/full refuses it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sigstore-kms-localkms"))
        .args(["v1", "{}"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::options().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sigstore-kms-localkms: cannot write the response to stdout"), "{stderr}");
}
