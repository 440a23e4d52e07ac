//! Unit tests of the handler that need no server (the end-to-end tests against local-kms are
//! tests/interop/go/interop/provider_awskms_test.go).

use std::time::{Duration, SystemTime};

use super::*;

fn ctx(reference: &str) -> CallContext {
    CallContext::new(reference)
}

#[test]
fn algorithms_in_go_names() {
    let h = AwsKms::new();
    assert_eq!(h.default_algorithm(&ctx("/alias/x")).unwrap(), "ECC_NIST_P256");
    assert_eq!(
        h.supported_algorithms(&ctx("/alias/x")).unwrap(),
        ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"]
    );
}

#[test]
fn bad_references_fail_every_method_before_any_io() {
    let h = AwsKms::new();
    let c = ctx("/not-a-key");
    let errors = [
        h.default_algorithm(&c).unwrap_err(),
        h.supported_algorithms(&c).unwrap_err(),
        h.create_key(&c, "ECC_NIST_P256").unwrap_err(),
        h.public_key(&c).unwrap_err(),
        h.sign_message(&c, &mut &b"m"[..], &MessageOptions::default()).unwrap_err(),
        h.verify_signature(&c, b"s", &mut &b"m"[..], &MessageOptions::default()).unwrap_err(),
    ];
    for e in errors {
        assert!(e.message().starts_with("invalid AWS KMS key reference \"awskms:///not-a-key\""), "{e}");
    }
}

#[test]
fn create_key_checks_the_algorithm_first() {
    let e = AwsKms::new().create_key(&ctx("/alias/x"), "any-algorithm").unwrap_err();
    assert!(e.message().contains("\"any-algorithm\" is not supported") && e.message().contains("ECC_NIST_P256"), "{e}");
}

#[test]
fn a_passed_deadline_is_refused_before_any_io() {
    let mut c = ctx("/alias/x");
    c.deadline = Some(SystemTime::now() - Duration::from_secs(1));
    let e = AwsKms::new().public_key(&c).unwrap_err();
    assert!(e.message().contains("deadline"), "{e}");
}

#[test]
fn verification_hash() {
    let opts = |h| MessageOptions { digest: None, hash_func: h };
    assert_eq!(verify_hash(&opts(None), HashFunc::Sha384), HashFunc::Sha384);
    assert_eq!(verify_hash(&opts(Some(HashFunc::None)), HashFunc::Sha384), HashFunc::Sha384);
    assert_eq!(verify_hash(&opts(Some(HashFunc::Sha256)), HashFunc::Sha384), HashFunc::Sha256);
}
