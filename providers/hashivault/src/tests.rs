//! Handler tests that need no server: what is signed for each call, and the failures that come
//! before any request (or from a closed port). The end-to-end tests against a real OpenBao are
//! tests/interop/go/interop/provider_hashivault_test.go.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn opts(digest: Option<&[u8]>, hash: Option<HashFunc>) -> MessageOptions {
    MessageOptions { digest: Some(digest.map(<[u8]>::to_vec)), hash_func: hash }
}

fn ctx(key: &str) -> CallContext {
    CallContext::new(key)
}

#[test]
fn what_ecdsa_and_rsa_keys_sign() {
    let c = ctx("k");
    // The message, hashed with the client's hash (SHA-256), whatever the curve (as in Go).
    let Signed::Digest(h, d) = signed_input(KeyKind::Ecdsa, &c, &opts(None, None), &mut &b"abc"[..]).unwrap() else {
        panic!("a digest")
    };
    assert_eq!((h, d.len(), d[0]), (HashFunc::Sha256, 32, 0xba));
    let Signed::Digest(h, d) =
        signed_input(KeyKind::Rsa, &c, &opts(None, Some(HashFunc::Sha512)), &mut &b"abc"[..]).unwrap()
    else {
        panic!("a digest")
    };
    assert_eq!((h, d.len()), (HashFunc::Sha512, 64));
    // A SHA-384 digest for a P-384 key with hashFunc unset (what cosign sends): taken as SHA-384.
    let digest = [9u8; 48];
    let Signed::Digest(h, _) = signed_input(KeyKind::Ecdsa, &c, &opts(Some(&digest), None), &mut &b""[..]).unwrap()
    else {
        panic!("a digest")
    };
    assert_eq!(h, HashFunc::Sha384);
    // RSA needs the digest's hash: a length that does not match is refused.
    let e = signed_input(KeyKind::Rsa, &c, &opts(Some(&digest), None), &mut &b""[..]).err().unwrap().to_string();
    assert!(e.contains("48 bytes") && e.contains("hashFunc"), "{e}");
    // An explicit hash must match the digest.
    let e = signed_input(KeyKind::Ecdsa, &c, &opts(Some(&digest), Some(HashFunc::Sha256)), &mut &b""[..]);
    assert!(e.err().unwrap().to_string().contains("48 bytes"));
    // Hashes transit does not take are refused before anything is read.
    let e = signed_input(KeyKind::Ecdsa, &c, &opts(None, Some(HashFunc::Sha512_256)), &mut &b"abc"[..]);
    assert!(e.err().unwrap().to_string().contains("SHA-224, SHA-256, SHA-384 or SHA-512"));
    let e = signed_input(KeyKind::Ecdsa, &c, &opts(Some(&[1; 20]), None), &mut &b""[..]);
    assert!(e.err().unwrap().to_string().contains("20 bytes"));
}

#[test]
fn what_ed25519_keys_sign() {
    let c = ctx("k");
    let Signed::Message(m) = signed_input(KeyKind::Ed25519, &c, &opts(None, None), &mut &b"hello"[..]).unwrap() else {
        panic!("the message")
    };
    assert_eq!(m, b"hello");
    let e = signed_input(KeyKind::Ed25519, &c, &opts(Some(&[1; 32]), None), &mut &b""[..]).err().unwrap();
    assert!(e.to_string().contains("Ed25519"), "{e}");
    let mut big = std::io::repeat(0).take(MAX_ED25519_MESSAGE + 1);
    let e = signed_input(KeyKind::Ed25519, &c, &opts(None, None), &mut big).err().unwrap().to_string();
    assert!(e.contains("larger than 24 MiB"), "{e}");
}

#[test]
fn algorithms() {
    assert_eq!(algorithm("").unwrap(), "ecdsa-p256");
    assert_eq!(algorithm("rsa-4096").unwrap(), "rsa-4096");
    let e = algorithm("aes256-gcm96").unwrap_err().to_string();
    assert!(e.contains("not supported") && e.contains("ed25519"), "{e}");
    let h = HashiVault::new(Scheme::Hashivault);
    assert_eq!(h.supported_algorithms(&ctx("k")).unwrap().len(), 7);
    assert_eq!(h.default_algorithm(&ctx("k")).unwrap(), "ecdsa-p256");
}

/// The failures a new user meets first, each before any request is made.
#[test]
fn configuration_errors_come_first_and_say_what_to_set() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    let cases: &[Case] = &[
        (&[("VAULT_TOKEN", "s.t")], "k", "VAULT_ADDR or BAO_ADDR is not set"),
        (&[("VAULT_ADDR", "http://127.0.0.1:1"), ("HOME", h)], "k", "no Vault token"),
        (&[("VAULT_ADDR", "http://127.0.0.1:1"), ("VAULT_TOKEN", "s.t")], "a/b", "hashivault://KEY"),
        (&[("VAULT_ADDR", "127.0.0.1:8200"), ("VAULT_TOKEN", "s.t")], "k", "http://"),
        (&[("VAULT_ADDR", "http://v"), ("VAULT_TOKEN", "s.t"), ("VAULT_SKIP_VERIFY", "y")], "k", "VAULT_SKIP_VERIFY"),
    ];
    for (pairs, key, want) in cases {
        let h = HashiVault::with_env(Scheme::Hashivault, env(pairs));
        let e = h.public_key(&ctx(key)).unwrap_err().to_string();
        assert!(e.contains(want), "{pairs:?} {key}: {e}");
        assert!(!e.contains("s.t\""), "{e}");
    }
    let h = HashiVault::with_env(Scheme::Openbao, env(&[]));
    let e = h.create_key(&ctx("k"), "rsa-1024").unwrap_err().to_string();
    assert!(e.contains("rsa-1024") && e.contains("not supported"), "{e}");
    let e = h.sign_message(&ctx("-bad"), &mut &b""[..], &opts(None, None)).unwrap_err().to_string();
    assert!(e.contains("openbao://KEY"), "{e}");
}

#[test]
fn key_versions_are_checked_before_any_request() {
    let h = HashiVault::with_env(Scheme::Hashivault, env(&[]));
    let mut c = ctx("k");
    c.key_version = "two".into();
    assert!(h.public_key(&c).unwrap_err().to_string().contains("not a key version"));
    c.key_version = "0".into();
    let e = h.verify_signature(&c, b"s", &mut &b"m"[..], &opts(None, None)).unwrap_err().to_string();
    assert!(e.contains("start at 1"), "{e}");
}

#[test]
fn a_passed_deadline_is_refused() {
    let h =
        HashiVault::with_env(Scheme::Hashivault, env(&[("VAULT_ADDR", "http://127.0.0.1:1"), ("VAULT_TOKEN", "t")]));
    let mut c = ctx("k");
    c.deadline = Some(SystemTime::now() - Duration::from_secs(1));
    assert!(h.public_key(&c).unwrap_err().to_string().contains("deadline"));
}

/// A server that is down: a clear error, quickly, without the token.
#[test]
fn a_server_that_is_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("http://127.0.0.1:{port}");
    let h = HashiVault::with_env(Scheme::Openbao, env(&[("BAO_ADDR", &addr), ("BAO_TOKEN", "s.very-secret")]));
    let mut c = ctx("release");
    c.deadline = Some(SystemTime::now() + Duration::from_secs(10));
    let start = Instant::now();
    let e = h.sign_message(&c, &mut &b"m"[..], &opts(None, None)).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(e.contains("reading transit key \"release\" failed: cannot reach OpenBao at"), "{e}");
    assert!(e.contains("refused") && e.contains("BAO_ADDR") && !e.contains("very-secret"), "{e}");
}

/// A server that accepts connections and never answers: the deadline ends the call.
#[test]
fn a_server_that_hangs_is_bounded_by_the_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let h = HashiVault::with_env(Scheme::Hashivault, env(&[("VAULT_ADDR", &addr), ("VAULT_TOKEN", "t")]));
    let mut c = ctx("k");
    c.deadline = Some(SystemTime::now() + Duration::from_millis(700));
    let start = Instant::now();
    let e = h.public_key(&c).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(e.contains("did not answer within") && e.contains("deadline"), "{e}");
    drop(listener);
}
