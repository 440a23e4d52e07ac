//! The Go-generated golden vectors in `tests/vectors`: our encoder writes exactly what the Go
//! client writes, our decoders read requests and responses exactly as Go's decoder does.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use serde_json::Value;
use sigstore_kms_plugins::protocol::fields::{
    outcome_to_fields, request_from_fields, request_to_fields, response_from_fields,
};
use sigstore_kms_plugins::protocol::gojson::base64_decode;
use sigstore_kms_plugins::protocol::{decode_response, MethodResult, PluginArgs, ResponseError};
use sigstore_kms_plugins::Method;

/// Builds the request a vector's `fields` describe (the one conversion, shared with the
/// bindings).
fn build(fields: &Value) -> PluginArgs {
    request_from_fields(fields).unwrap()
}

/// `null` and absent mean the same on the way in; compare without that difference.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

#[test]
fn requests_encode_byte_for_byte_like_go() {
    let vectors = common::load_vectors("requests");
    assert!(vectors.len() >= 20, "expected the request vectors, found {}", vectors.len());
    for (name, v) in vectors {
        let built = build(&v["fields"]);
        let got = String::from_utf8(built.to_json()).unwrap();
        assert_eq!(got, v["expected"].as_str().unwrap(), "request vector {name}");
    }
}

#[test]
fn requests_decode_back_to_their_fields() {
    for (name, v) in common::load_vectors("requests") {
        let decoded = PluginArgs::from_json(v["expected"].as_str().unwrap().as_bytes()).unwrap();
        let mut want = build(&v["fields"]);
        // On the way in, Go cannot tell an absent digest from `null`: both are "no digest".
        for opts in [
            want.sign_message.as_mut().and_then(|s| s.sign_options.as_mut()),
            want.verify_signature.as_mut().and_then(|s| s.verify_options.as_mut()),
        ]
        .into_iter()
        .flatten()
        {
            if opts.message_options.digest == Some(None) {
                opts.message_options.digest = None;
            }
        }
        if let Some(v) = want.verify_signature.as_mut() {
            // A nil signature decodes as nil.
            if v.signature.is_none() {
                v.signature = None;
            }
        }
        assert_eq!(decoded, want, "request vector {name}");
        assert_eq!(decoded.method().map(Method::as_str), v["fields"]["method"].as_str());
        // And back to the fields, as the Python and Node codecs return them.
        assert_eq!(normalize(&request_to_fields(&decoded)), normalize(&v["fields"]), "request vector {name}");
    }
}

fn stdout_of(v: &Value) -> Vec<u8> {
    match (v.get("stdout"), v.get("stdoutBase64")) {
        (Some(s), _) => s.as_str().unwrap().as_bytes().to_vec(),
        (None, Some(b)) => base64_decode(b.as_str().unwrap()).unwrap(),
        _ => panic!("vector without stdout"),
    }
}

#[test]
fn responses_decode_as_expected() {
    let vectors = common::load_vectors("responses");
    assert!(vectors.len() >= 60, "expected the response vectors, found {}", vectors.len());
    for (name, v) in vectors {
        let method = Method::from_wire_name(v["method"].as_str().unwrap()).unwrap();
        let got = decode_response(method, &stdout_of(&v));
        let expect = &v["expect"];
        let shaped = outcome_to_fields(&got);
        assert_eq!(shaped.get("ok"), expect.get("ok"), "response vector {name}");
        assert_eq!(shaped.get("error"), expect.get("error"), "response vector {name}");
        match (expect.get("ok"), expect["error"].as_str(), got) {
            (Some(want), _, Ok(r)) => assert_eq!(
                &sigstore_kms_plugins::protocol::fields::result_to_fields(&r),
                want,
                "response vector {name}"
            ),
            (None, Some("InvalidResponse"), Err(ResponseError::Invalid(e))) => {
                assert!(!e.to_string().is_empty(), "{name}: empty reason");
            }
            (None, Some("PluginReturned"), Err(ResponseError::Returned(m))) => assert!(!m.is_empty(), "{name}"),
            (_, _, got) => panic!("response vector {name}: expected {expect}, got {got:?}"),
        }
    }
}

/// The Go handler's own output, re-encoded by our encoder, is byte-identical (the plugin side
/// writes what the Go handler writes).
#[test]
fn handler_responses_reencode_byte_for_byte() {
    use sigstore_kms_plugins::protocol::PluginResponse;
    let mut checked = 0;
    for (name, v) in common::load_vectors("responses") {
        if !name.starts_with("handler_") {
            continue;
        }
        let stdout = stdout_of(&v);
        let decoded = PluginResponse::from_json(&stdout).unwrap();
        if name == "handler_supported_algorithms_nil" {
            continue; // Go writes a nil slice as null; we never produce a nil list.
        }
        assert_eq!(String::from_utf8(decoded.to_json()).unwrap(), String::from_utf8(stdout.clone()).unwrap(), "{name}");
        // From the vector's shape too.
        let method = Method::from_wire_name(v["method"].as_str().unwrap()).unwrap();
        let from_fields = match v["expect"].get("ok") {
            Some(ok) => response_from_fields(method, ok).unwrap(),
            None => response_from_fields(method, &serde_json::json!({"errorMessage": decoded.error_message})).unwrap(),
        };
        assert_eq!(from_fields.to_json(), stdout, "{name}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} handler vectors");
}

/// Go's decoder accepts unknown members nested up to 10,000 levels (its scanner's limit), and
/// so do we, without recursing that deep; one level more is refused, as by Go.
#[test]
fn responses_nested_as_deep_as_go_accepts() {
    let answer = |levels: usize| {
        // The response object is level 1, "debug"'s array level 2, ...
        format!(
            r#"{{"debug":{}{},"signMessage":{{"signature":"AQID"}}}}"#,
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    let small_stack = std::thread::Builder::new().stack_size(128 * 1024);
    let (ok, refused) = small_stack
        .spawn(move || {
            (
                decode_response(Method::SignMessage, answer(10_000).as_bytes()),
                decode_response(Method::SignMessage, answer(10_001).as_bytes()),
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(ok.unwrap(), MethodResult::SignMessage { signature: vec![1, 2, 3] });
    match refused {
        Err(ResponseError::Invalid(e)) => assert!(e.message.contains("nested more than 10000 levels"), "{e}"),
        other => panic!("expected the depth to be refused, got {other:?}"),
    }
}
