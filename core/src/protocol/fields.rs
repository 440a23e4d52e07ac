//! The language-neutral shape of requests and results used by `tests/vectors` (see its
//! README): plain JSON values, bytes as standard base64, deadlines as RFC 3339 strings, hash
//! functions as Go's numbers.
//!
//! This is the one conversion between that shape and the wire types: the core's vector tests
//! use it, and the Python and Node codecs expose it, so a request or a result looks the same
//! in every language.
//!
//! ```
//! use sigstore_kms_plugins::protocol::fields;
//! let f = serde_json::json!({"method": "defaultAlgorithm", "keyResourceID": "k", "hashFunc": 5});
//! let request = fields::request_from_fields(&f)?;
//! assert_eq!(fields::request_to_fields(&request)["keyResourceID"], "k");
//! # Ok::<(), sigstore_kms_plugins::protocol::gojson::DecodeError>(())
//! ```

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::gojson::{base64_decode, base64_encode, format_rfc3339, parse_rfc3339, DecodeError};
use super::{
    CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, InitOptions, MessageOptions, Method, MethodArgs, MethodResult,
    PluginArgs, PluginResponse, PublicKeyArgs, PublicKeyOptions, ResponseError, RpcOptions, SignMessageArgs,
    SignOptions, SupportedAlgorithmsArgs, VerifySignatureArgs, PROTOCOL_VERSION,
};

fn bad(path: &str, message: impl Into<String>) -> DecodeError {
    DecodeError { path: path.to_owned(), message: message.into() }
}

fn opt_time(v: Option<&Value>, at: &str) -> Result<Option<SystemTime>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_rfc3339(s).map(Some).map_err(|e| bad(at, e)),
        Some(other) => Err(bad(at, format!("expected an RFC 3339 string or null, got {other}"))),
    }
}

fn opt_str(v: Option<&Value>, at: &str) -> Result<Option<String>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(at, format!("expected a string or null, got {other}"))),
    }
}

fn bytes(v: &str, at: &str) -> Result<Vec<u8>, DecodeError> {
    base64_decode(v).map_err(|e| bad(at, e))
}

fn hash(v: Option<&Value>, at: &str) -> Result<Option<HashFunc>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(HashFunc::from_number)
            .map(Some)
            .ok_or_else(|| bad(at, format!("{n} is not a Go crypto.Hash number"))),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|e: super::UnknownHashFunc| bad(at, e.to_string())),
        Some(other) => Err(bad(at, format!("expected a number, got {other}"))),
    }
}

fn rpc(v: Option<&Value>, at: &str) -> Result<RpcOptions, DecodeError> {
    let empty = Map::new();
    let o = v.and_then(Value::as_object).unwrap_or(&empty);
    Ok(RpcOptions {
        ctx_deadline: opt_time(o.get("ctxDeadline"), &format!("{at}.ctxDeadline"))?,
        key_version: opt_str(o.get("keyVersion"), &format!("{at}.keyVersion"))?,
        remote_verification: match o.get("remoteVerification") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return Err(bad(&format!("{at}.remoteVerification"), format!("expected a boolean, got {other}")))
            }
        },
    })
}

fn message_options(v: Option<&Value>) -> Result<MessageOptions, DecodeError> {
    let empty = Map::new();
    let o = v.and_then(Value::as_object).unwrap_or(&empty);
    let digest = match o.get("digest") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(bytes(s, "messageOptions.digest")?)),
        Some(other) => return Err(bad("messageOptions.digest", format!("expected base64 or null, got {other}"))),
    };
    Ok(MessageOptions { digest, hash_func: hash(o.get("hashFunc"), "messageOptions.hashFunc")? })
}

/// The request that `fields` (a request vector's `fields`) describe, as the Go client builds
/// it. A hash function may also be given by name.
pub fn request_from_fields(fields: &Value) -> Result<PluginArgs, DecodeError> {
    let f = fields.as_object().ok_or_else(|| bad("", "fields must be an object"))?;
    let init_rpc = match f.get("initRpcOptions") {
        None | Some(Value::Null) => None,
        v => Some(rpc(v, "initRpcOptions")?),
    };
    let init = InitOptions {
        ctx_deadline: opt_time(f.get("initCtxDeadline"), "initCtxDeadline")?,
        protocol_version: PROTOCOL_VERSION.to_owned(),
        key_resource_id: opt_str(f.get("keyResourceID"), "keyResourceID")?.unwrap_or_default(),
        hash_func: hash(f.get("hashFunc"), "hashFunc")?.unwrap_or(HashFunc::Sha256),
        rpc_options: init_rpc,
    };
    let method = opt_str(f.get("method"), "method")?.unwrap_or_default();
    let sign_options = || -> Result<SignOptions, DecodeError> {
        Ok(SignOptions {
            rpc_options: rpc(f.get("rpcOptions"), "rpcOptions")?,
            message_options: message_options(f.get("messageOptions"))?,
        })
    };
    let args = match Method::from_wire_name(&method) {
        Some(Method::DefaultAlgorithm) => MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
        Some(Method::SupportedAlgorithms) => MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs {}),
        Some(Method::CreateKey) => {
            let ck = f.get("createKey");
            MethodArgs::CreateKey(CreateKeyArgs {
                ctx_deadline: opt_time(ck.and_then(|c| c.get("ctxDeadline")), "createKey.ctxDeadline")?,
                algorithm: opt_str(ck.and_then(|c| c.get("algorithm")), "createKey.algorithm")?.unwrap_or_default(),
            })
        }
        Some(Method::PublicKey) => MethodArgs::PublicKey(PublicKeyArgs {
            public_key_options: Some(PublicKeyOptions { rpc_options: rpc(f.get("rpcOptions"), "rpcOptions")? }),
        }),
        Some(Method::SignMessage) => MethodArgs::SignMessage(SignMessageArgs { sign_options: Some(sign_options()?) }),
        Some(Method::VerifySignature) => MethodArgs::VerifySignature(VerifySignatureArgs {
            signature: match f.get("signature") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(bytes(s, "signature")?),
                Some(other) => return Err(bad("signature", format!("expected base64 or null, got {other}"))),
            },
            verify_options: Some(sign_options()?),
        }),
        None => return Err(bad("method", format!("unknown method {method:?}"))),
    };
    Ok(PluginArgs::new(init, args))
}

fn time_value(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(format_rfc3339(t)))
}

fn rpc_value(r: &RpcOptions) -> Value {
    json!({
        "ctxDeadline": time_value(r.ctx_deadline),
        "keyVersion": r.key_version,
        "remoteVerification": r.remote_verification,
    })
}

fn message_options_value(m: &MessageOptions) -> Value {
    let mut o = Map::new();
    if let Some(d) = &m.digest {
        o.insert("digest".into(), d.as_deref().map_or(Value::Null, |d| Value::String(base64_encode(d))));
    }
    o.insert("hashFunc".into(), m.hash_func.map_or(Value::Null, |h| json!(h.number())));
    Value::Object(o)
}

/// A decoded request in the shape of a request vector's `fields`. A digest that is absent and
/// one that is `null` both come out absent, as Go decodes them.
#[must_use]
pub fn request_to_fields(req: &PluginArgs) -> Value {
    let init = req.init_options.clone().unwrap_or_default();
    let mut f = Map::new();
    f.insert("method".into(), json!(req.method_name));
    f.insert("keyResourceID".into(), json!(init.key_resource_id));
    f.insert("hashFunc".into(), json!(init.hash_func.number()));
    f.insert("initCtxDeadline".into(), time_value(init.ctx_deadline));
    f.insert("initRpcOptions".into(), init.rpc_options.as_ref().map_or(Value::Null, rpc_value));
    let sign = |o: Option<&SignOptions>, f: &mut Map<String, Value>| {
        f.insert("rpcOptions".into(), o.map_or(Value::Null, |o| rpc_value(&o.rpc_options)));
        f.insert(
            "messageOptions".into(),
            o.map_or_else(
                || message_options_value(&MessageOptions::default()),
                |o| message_options_value(&o.message_options),
            ),
        );
    };
    match req.method() {
        Some(Method::CreateKey) => {
            if let Some(ck) = &req.create_key {
                f.insert(
                    "createKey".into(),
                    json!({"ctxDeadline": time_value(ck.ctx_deadline), "algorithm": ck.algorithm}),
                );
            }
        }
        Some(Method::PublicKey) => {
            let o = req.public_key.as_ref().and_then(|p| p.public_key_options.as_ref());
            f.insert("rpcOptions".into(), o.map_or(Value::Null, |o| rpc_value(&o.rpc_options)));
        }
        Some(Method::SignMessage) => sign(req.sign_message.as_ref().and_then(|s| s.sign_options.as_ref()), &mut f),
        Some(Method::VerifySignature) => {
            let v = req.verify_signature.as_ref();
            sign(v.and_then(|v| v.verify_options.as_ref()), &mut f);
            let sig = v.and_then(|v| v.signature.as_deref());
            f.insert("signature".into(), sig.map_or(Value::Null, |s| Value::String(base64_encode(s))));
        }
        _ => {}
    }
    Value::Object(f)
}

/// A result in the shape of a response vector's `expect.ok` (`{"signature": BASE64}`, ...).
#[must_use]
pub fn result_to_fields(r: &MethodResult) -> Value {
    match r {
        MethodResult::DefaultAlgorithm(a) => json!({ "defaultAlgorithm": a }),
        MethodResult::SupportedAlgorithms(a) => json!({ "supportedAlgorithms": a }),
        MethodResult::CreateKey { public_key_pem } | MethodResult::PublicKey { public_key_pem } => {
            json!({ "publicKeyPEM": base64_encode(public_key_pem) })
        }
        MethodResult::SignMessage { signature } => json!({ "signature": base64_encode(signature) }),
        MethodResult::VerifySignature => json!({}),
    }
}

/// How a host reads a response, in the shape of a response vector's `expect`:
/// `{"ok": RESULT}` or `{"error": "InvalidResponse" | "PluginReturned", "message": TEXT}`.
#[must_use]
pub fn outcome_to_fields(outcome: &Result<MethodResult, ResponseError>) -> Value {
    match outcome {
        Ok(r) => json!({ "ok": result_to_fields(r) }),
        Err(ResponseError::Invalid(e)) => json!({ "error": "InvalidResponse", "message": e.to_string() }),
        Err(ResponseError::Returned(m)) => json!({ "error": "PluginReturned", "message": m }),
    }
}

/// The response a plugin writes for `method` with `fields`: a result in the shape of
/// [`result_to_fields`], or `{"errorMessage": TEXT}` for an error answer.
pub fn response_from_fields(method: Method, fields: &Value) -> Result<PluginResponse, DecodeError> {
    let o = fields.as_object().ok_or_else(|| bad("", "the result must be an object"))?;
    if let Some(m) = o.get("errorMessage") {
        let m = m.as_str().ok_or_else(|| bad("errorMessage", "must be a string"))?;
        return Ok(PluginResponse::from_error(m));
    }
    let text = |k: &str| -> Result<&str, DecodeError> {
        o.get(k).and_then(Value::as_str).ok_or_else(|| bad(k, format!("the {method} result's {k} must be a string")))
    };
    let result = match method {
        Method::DefaultAlgorithm => MethodResult::DefaultAlgorithm(text("defaultAlgorithm")?.to_owned()),
        Method::SupportedAlgorithms => MethodResult::SupportedAlgorithms(
            o.get("supportedAlgorithms")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("supportedAlgorithms", "must be an array of strings"))?
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad("supportedAlgorithms", "must be strings")))
                .collect::<Result<_, _>>()?,
        ),
        Method::CreateKey => MethodResult::CreateKey { public_key_pem: bytes(text("publicKeyPEM")?, "publicKeyPEM")? },
        Method::PublicKey => MethodResult::PublicKey { public_key_pem: bytes(text("publicKeyPEM")?, "publicKeyPEM")? },
        Method::SignMessage => MethodResult::SignMessage { signature: bytes(text("signature")?, "signature")? },
        Method::VerifySignature => MethodResult::VerifySignature,
    };
    Ok(PluginResponse::from_result(result))
}
