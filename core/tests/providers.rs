//! In-process providers, consulted before PATH.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::io::Read;
use std::sync::Arc;

use sigstore_kms_plugins::{
    get_signer_verifier, register_provider, registered_providers, unregister_provider, CallContext, ErrorKind,
    HandlerError, HashFunc, KmsHandler, MessageOptions, Options,
};

/// Echoes what it was given, so the test can see the context and options it received.
struct Echo;

impl KmsHandler for Echo {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        Ok(format!("{}|{}|{}|{}", ctx.key_resource_id, ctx.hash_func, ctx.key_version, ctx.deadline.is_some()))
    }
    fn supported_algorithms(&self, _: &CallContext) -> Result<Vec<String>, HandlerError> {
        panic!("boom")
    }
    fn create_key(&self, _: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        Err(format!("cannot create {algorithm}").into())
    }
    fn public_key(&self, _: &CallContext) -> Result<String, HandlerError> {
        Ok(include_str!("../../tests/fixtures/keys/fixture-p256.pub.pem").to_owned())
    }
    fn sign_message(
        &self,
        _: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        let mut data = Vec::new();
        message.read_to_end(&mut data)?;
        if let Some(d) = opts.digest() {
            data.extend_from_slice(d);
        }
        Ok(data)
    }
    fn verify_signature(
        &self,
        _: &CallContext,
        sig: &[u8],
        message: &mut dyn Read,
        _: &MessageOptions,
    ) -> Result<(), HandlerError> {
        let mut data = Vec::new();
        message.read_to_end(&mut data)?;
        if data == sig {
            Ok(())
        } else {
            Err("mismatch".into())
        }
    }
}

#[test]
fn providers_win_over_path_and_behave_like_plugins() {
    register_provider("fixture", Arc::new(|_: &str| Ok(Arc::new(Echo) as Arc<dyn KmsHandler>))).unwrap();
    assert!(registered_providers().contains(&"fixture://".to_owned()));
    let opts = Options::default().search_path(common::fixture_path()).key_version("7").hash_func(HashFunc::Sha384);
    let sv = get_signer_verifier("fixture://a/b", opts.clone()).unwrap();
    assert!(sv.program_path().is_none());
    assert_eq!(sv.default_algorithm_blocking().unwrap(), "a/b|sha384|7|true");
    assert_eq!(sv.sign_message_blocking(&b"msg"[..]).unwrap(), b"msg");
    assert_eq!(sv.sign_digest_blocking(b"dd", HashFunc::Sha256).unwrap(), b"dd");
    sv.verify_signature_blocking(b"msg", &b"msg"[..]).unwrap();
    assert_eq!(sv.public_key_blocking().unwrap().key_type(), "ecdsa-p256");
    let err = sv.create_key_blocking("rsa-2048").unwrap_err();
    assert_eq!((err.kind(), err.plugin_message()), (ErrorKind::PluginReturned, Some("cannot create rsa-2048")));
    let err = sv.supported_algorithms_blocking().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginReturned);
    assert!(err.to_string().contains("provider panicked: boom"), "{err}");

    // Unregistered, the same URI reaches the fixture program on PATH again.
    assert!(unregister_provider("fixture://"));
    let sv = get_signer_verifier("fixture://a/b", opts).unwrap();
    assert!(sv.program_path().is_some());
    assert_eq!(sv.default_algorithm_blocking().unwrap(), "ecdsa-p256");

    assert!(register_provider("../x", Arc::new(|_: &str| Ok(Arc::new(Echo) as Arc<dyn KmsHandler>))).is_err());
}

/// A provider is found by the plugin name the URI parses to, so one registered as `pkcs11`
/// serves the plain RFC 7512 form `pkcs11:...` as well as `pkcs11://...`, and is given the
/// parsed key reference; a PIN in that reference is never shown by `Debug` or in errors.
#[test]
fn providers_match_by_plugin_name_and_hide_pins() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    register_provider(
        "pkcs11",
        Arc::new(move |key_ref: &str| {
            record.lock().unwrap().push(key_ref.to_owned());
            if key_ref.contains("object=broken") {
                return Err(HandlerError::new("no such object"));
            }
            Ok(Arc::new(Echo) as Arc<dyn KmsHandler>)
        }),
    )
    .unwrap();
    let reference = "token=ci;object=k?module-path=/m.so&pin-value=8264";
    for uri in [format!("pkcs11:{reference}"), format!("pkcs11://{reference}")] {
        let sv = get_signer_verifier(&uri, Options::default()).unwrap();
        assert!(sv.program_path().is_none(), "{uri} reached the provider");
        assert_eq!(sv.key_ref(), reference);
        assert!(sv.default_algorithm_blocking().unwrap().starts_with(reference));
        let shown = format!("{sv:?}");
        assert!(!shown.contains("8264") && shown.contains("pin-value=[redacted]"), "{shown}");
    }
    assert_eq!(*seen.lock().unwrap(), [reference, reference]);

    let err = get_signer_verifier("pkcs11:token=ci;object=broken?pin-value=8264", Options::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginReturned);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("pkcs11://") && shown.contains("no such object"), "{shown}");
    assert!(!shown.contains("8264"), "{shown}");

    // A handler may log its context: the PIN is not in it.
    let ctx = CallContext::new(reference);
    let shown = format!("{ctx:?}");
    assert!(!shown.contains("8264") && shown.contains("pin-value=[redacted]"), "{shown}");

    // A name that only starts like a registered one is not it.
    let err = get_signer_verifier("pkcs11x://k", Options::default().search_path("/nonexistent")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginNotFound);
    assert!(unregister_provider("pkcs11"));
}
