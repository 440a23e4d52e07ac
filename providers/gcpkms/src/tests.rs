use sigstore_kms_plugins::{CallContext, KmsHandler};

use super::*;

#[test]
fn versions_from_the_uri_and_the_option() {
    let unpinned = KeyRef::parse("projects/p/locations/l/keyRings/r/cryptoKeys/k").unwrap();
    let pinned = KeyRef::parse("projects/p/locations/l/keyRings/r/cryptoKeys/k/versions/2").unwrap();
    assert_eq!(pinned_version(&unpinned, "").unwrap(), "");
    assert_eq!(pinned_version(&unpinned, "3").unwrap(), "3");
    assert_eq!(pinned_version(&pinned, "").unwrap(), "2");
    assert_eq!(pinned_version(&pinned, "2").unwrap(), "2");
    let e = pinned_version(&pinned, "3").unwrap_err().to_string();
    assert!(e.contains("pins version 2") && e.contains("asks for 3"), "{e}");
    assert!(pinned_version(&unpinned, "a/b").is_err());
}

#[test]
fn sign_answers_are_checked() {
    let sig = b"signature bytes".to_vec();
    let good = Some(i64::from(crc32c::checksum(&sig)));
    let name = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1";
    check_sign_answer(name, 7, name, true, good, &sig).unwrap();
    check_sign_answer(name, 7, "", true, good, &sig).unwrap();
    let e = check_sign_answer(name, 7, name, false, good, &sig).unwrap_err().to_string();
    assert!(e.contains("request was corrupted") && e.contains("verifiedDigestCrc32c"), "{e}");
    let e = check_sign_answer(name, 7, name, true, Some(1), &sig).unwrap_err().to_string();
    assert!(e.contains("response was corrupted") && e.contains("signatureCrc32c is 1"), "{e}");
    let e = check_sign_answer(name, 7, name, true, None, &sig).unwrap_err().to_string();
    assert!(e.contains("no signatureCrc32c"), "{e}");
    let e = check_sign_answer(name, 7, "projects/p/other", true, good, &sig).unwrap_err().to_string();
    assert!(e.contains("another key version"), "{e}");
}

#[test]
fn algorithm_methods_need_no_configuration() {
    let ctx = CallContext::new("projects/p/locations/l/keyRings/r/cryptoKeys/k");
    assert_eq!(GcpKms.default_algorithm(&ctx).unwrap(), "ecdsa-p256-sha256");
    assert_eq!(GcpKms.supported_algorithms(&ctx).unwrap().len(), 10);
    let bad = CallContext::new("projects/p/keyRings/r");
    let e = GcpKms.default_algorithm(&bad).unwrap_err().to_string();
    assert!(e.contains("invalid gcpkms key reference"), "{e}");
}

#[test]
fn create_key_refuses_an_unknown_algorithm_before_any_network() {
    let mut ctx = CallContext::new("projects/p/locations/l/keyRings/r/cryptoKeys/k");
    ctx.deadline = Some(std::time::SystemTime::now() + std::time::Duration::from_secs(5));
    let e = GcpKms.create_key(&ctx, "any-algorithm").unwrap_err().to_string();
    assert!(e.contains("unsupported algorithm \"any-algorithm\""), "{e}");
}
