//! Property tests: the decoders and the URI parser never panic, and what we write we read back.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use sigstore_kms_plugins::protocol::{decode_response, PluginArgs, PluginResponse};
use sigstore_kms_plugins::{KeyUri, Method};

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(Method::ALL.to_vec())
}

/// JSON-ish byte soup: fragments of real responses glued with random bytes, so the decoder sees
/// inputs near the valid ones as well as pure noise.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "null",
        "true",
        "1e9",
        "-0",
        "\"signMessage\"",
        "\"SIGNATURE\"",
        "\"errorMessage\"",
        "\"defaultAlgorithm\"",
        "\"publicKeyPEM\"",
        "\"supportedAlgorithms\"",
        "\"AAAA\"",
        "\"AB==\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        " ",
        "\n",
        "\u{212A}",
        "\u{17F}",
    ]);
    let piece = prop_oneof![fragments.prop_map(|s| s.as_bytes().to_vec()), prop::collection::vec(any::<u8>(), 0..4),];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn response_decoder_never_panics(m in method(), bytes in jsonish()) {
        let _ = decode_response(m, &bytes);
        let _ = PluginArgs::from_json(&bytes);
    }

    #[test]
    fn response_decoder_never_panics_on_noise(m in method(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_response(m, &bytes);
    }

    #[test]
    fn uri_parser_never_panics(s in any::<String>()) {
        if let Ok(uri) = KeyUri::parse(&s) {
            // A valid URI round-trips and names a program inside PATH.
            prop_assert_eq!(uri.to_string(), s);
            prop_assert!(!uri.program_name().contains('/'));
        }
    }

    #[test]
    fn sign_responses_round_trip(sig in prop::collection::vec(any::<u8>(), 0..300), err in ".{0,40}") {
        let mut resp = PluginResponse::from_result(sigstore_kms_plugins::protocol::MethodResult::SignMessage { signature: sig.clone() });
        resp.error_message = err.clone();
        let decoded = PluginResponse::from_json(&resp.to_json()).unwrap();
        prop_assert_eq!(&decoded, &resp);
        match decoded.into_result(Method::SignMessage) {
            Ok(sigstore_kms_plugins::protocol::MethodResult::SignMessage { signature }) => prop_assert_eq!(signature, sig),
            Err(sigstore_kms_plugins::protocol::ResponseError::Returned(m)) => prop_assert_eq!(m, err),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn key_resource_ids_round_trip(id in any::<String>()) {
        use sigstore_kms_plugins::protocol::{InitOptions, MethodArgs, DefaultAlgorithmArgs, RpcOptions};
        let args = PluginArgs::new(InitOptions::new(&id, sigstore_kms_plugins::HashFunc::Sha256, RpcOptions::packed(None, None, false)), MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}));
        let json = args.to_json();
        prop_assert!(!json.contains(&0u8));
        let back = PluginArgs::from_json(&json).unwrap();
        prop_assert_eq!(back.init_options.unwrap().key_resource_id, id);
    }
}
