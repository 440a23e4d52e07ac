//! The plugin side: `serve()` of the JavaScript SDK runs the core's plugin SDK
//! ([`sigstore_kms_plugins::plugin::serve_with`]) with a handler written in JavaScript, so a
//! plugin written in JavaScript answers byte for byte what a Rust (or Go) plugin answers.
//! Also the wire codec, in the language-neutral JSON shapes of `tests/vectors`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::RawFd;

use napi::bindgen_prelude::{Either, Function, PromiseRaw, Uint8Array};
use napi::Env;
use napi_derive::napi;
use serde_json::{json, Map, Value};
use sigstore_kms_plugins::protocol::gojson::{base64_decode, base64_encode, format_rfc3339, parse_rfc3339};
use sigstore_kms_plugins::protocol::{
    decode_response as core_decode_response, CreateKeyArgs, DefaultAlgorithmArgs, InitOptions, MessageOptions,
    MethodArgs, MethodResult, PluginArgs, PluginResponse, PublicKeyArgs, PublicKeyOptions, ResponseError, RpcOptions,
    SignMessageArgs, SignOptions, SupportedAlgorithmsArgs, VerifySignatureArgs,
};
use sigstore_kms_plugins::{HashFunc, Method};

use crate::error;
use crate::handler::{self, HandlerCall};

/// Makes `fd` blocking again: Node switches the stdio pipes it touches to non-blocking mode,
/// and the plugin SDK reads stdin and writes stdout with plain blocking calls.
pub fn make_blocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor number only reads and sets its status flags; an invalid
    // descriptor makes it fail with EBADF, which we ignore.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// Serves one plugin call: `argv` is `[program, "v1", REQUEST-JSON, ...]`; the request is
/// decoded, `dispatch` runs the JavaScript handler, and exactly one response is written to
/// file descriptor 1. Resolves the exit code (0 when a response was written).
///
/// The JavaScript side must not read `process.stdin` nor write `process.stdout`.
#[napi(ts_return_type = "Promise<number>")]
pub fn serve_plugin<'e>(
    env: &'e Env,
    argv: Vec<String>,
    dispatch: Function<HandlerCall, ()>,
) -> napi::Result<PromiseRaw<'e, u32>> {
    let handler = handler::bind(&dispatch)?;
    env.spawn_future(async move {
        let code = tokio::task::spawn_blocking(move || {
            let os_argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
            make_blocking(0);
            make_blocking(1);
            let stdin = io::stdin();
            let stdout = io::stdout();
            let written = sigstore_kms_plugins::plugin::serve_with(
                &os_argv,
                &mut stdin.lock(),
                &mut stdout.lock(),
                handler.as_ref(),
            );
            match written {
                Ok(_) => 0,
                Err(e) => {
                    let program = argv.first().map_or("plugin", String::as_str);
                    let _ = writeln!(io::stderr(), "{program}: cannot write the response to stdout: {e}");
                    1
                }
            }
        })
        .await;
        Ok(code.unwrap_or(1))
    })
}

// ----- the wire codec ------------------------------------------------------------------------

fn bad(env: &Env, what: &str) -> napi::Error {
    error::invalid_arg(env, "ERR_INVALID_ARG_VALUE", what)
}

fn opt_time(env: &Env, v: Option<&Value>, at: &str) -> napi::Result<Option<std::time::SystemTime>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_rfc3339(s).map(Some).map_err(|e| bad(env, &format!("{at}: {e}"))),
        Some(other) => Err(bad(env, &format!("{at}: expected an RFC 3339 string or null, got {other}"))),
    }
}

fn opt_str(env: &Env, v: Option<&Value>, at: &str) -> napi::Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(env, &format!("{at}: expected a string or null, got {other}"))),
    }
}

fn bytes(env: &Env, v: &str, at: &str) -> napi::Result<Vec<u8>> {
    base64_decode(v).map_err(|e| bad(env, &format!("{at}: {e}")))
}

fn hash(env: &Env, v: Option<&Value>, at: &str) -> napi::Result<Option<HashFunc>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(HashFunc::from_number)
            .map(Some)
            .ok_or_else(|| bad(env, &format!("{at}: {n} is not a Go crypto.Hash number"))),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|e| bad(env, &format!("{at}: {e}"))),
        Some(other) => Err(bad(env, &format!("{at}: expected a number, got {other}"))),
    }
}

fn rpc(env: &Env, v: Option<&Value>, at: &str) -> napi::Result<RpcOptions> {
    let empty = Map::new();
    let o = v.and_then(Value::as_object).unwrap_or(&empty);
    Ok(RpcOptions {
        ctx_deadline: opt_time(env, o.get("ctxDeadline"), &format!("{at}.ctxDeadline"))?,
        key_version: opt_str(env, o.get("keyVersion"), &format!("{at}.keyVersion"))?,
        remote_verification: match o.get("remoteVerification") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => return Err(bad(env, &format!("{at}.remoteVerification: expected a boolean, got {other}"))),
        },
    })
}

fn message_options(env: &Env, v: Option<&Value>) -> napi::Result<MessageOptions> {
    let empty = Map::new();
    let o = v.and_then(Value::as_object).unwrap_or(&empty);
    let digest = match o.get("digest") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(bytes(env, s, "messageOptions.digest")?)),
        Some(other) => return Err(bad(env, &format!("messageOptions.digest: expected base64 or null, got {other}"))),
    };
    Ok(MessageOptions { digest, hash_func: hash(env, o.get("hashFunc"), "messageOptions.hashFunc")? })
}

/// Builds the request JSON (`argv[2]`) that `fields` describe, byte for byte as the Go client
/// writes it. `fields` has the shape of a request vector's `fields` (tests/vectors/README.md).
#[napi(ts_args_type = "fields: Record<string, unknown>")]
pub fn encode_request(env: &Env, fields: Value) -> napi::Result<String> {
    let f = fields.as_object().ok_or_else(|| bad(env, "fields must be an object"))?;
    let init_rpc = match f.get("initRpcOptions") {
        None | Some(Value::Null) => None,
        v => Some(rpc(env, v, "initRpcOptions")?),
    };
    let key_resource_id = opt_str(env, f.get("keyResourceID"), "keyResourceID")?.unwrap_or_default();
    let init = InitOptions {
        ctx_deadline: opt_time(env, f.get("initCtxDeadline"), "initCtxDeadline")?,
        protocol_version: sigstore_kms_plugins::protocol::PROTOCOL_VERSION.to_owned(),
        key_resource_id,
        hash_func: hash(env, f.get("hashFunc"), "hashFunc")?.unwrap_or(HashFunc::Sha256),
        rpc_options: init_rpc,
    };
    let method = opt_str(env, f.get("method"), "method")?.unwrap_or_default();
    let sign_options = || -> napi::Result<SignOptions> {
        Ok(SignOptions {
            rpc_options: rpc(env, f.get("rpcOptions"), "rpcOptions")?,
            message_options: message_options(env, f.get("messageOptions"))?,
        })
    };
    let args = match Method::from_wire_name(&method) {
        Some(Method::DefaultAlgorithm) => MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
        Some(Method::SupportedAlgorithms) => MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs {}),
        Some(Method::CreateKey) => {
            let ck = f.get("createKey");
            MethodArgs::CreateKey(CreateKeyArgs {
                ctx_deadline: opt_time(env, ck.and_then(|c| c.get("ctxDeadline")), "createKey.ctxDeadline")?,
                algorithm: opt_str(env, ck.and_then(|c| c.get("algorithm")), "createKey.algorithm")?
                    .unwrap_or_default(),
            })
        }
        Some(Method::PublicKey) => MethodArgs::PublicKey(PublicKeyArgs {
            public_key_options: Some(PublicKeyOptions { rpc_options: rpc(env, f.get("rpcOptions"), "rpcOptions")? }),
        }),
        Some(Method::SignMessage) => MethodArgs::SignMessage(SignMessageArgs { sign_options: Some(sign_options()?) }),
        Some(Method::VerifySignature) => MethodArgs::VerifySignature(VerifySignatureArgs {
            signature: match f.get("signature") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(bytes(env, s, "signature")?),
                Some(other) => return Err(bad(env, &format!("signature: expected base64 or null, got {other}"))),
            },
            verify_options: Some(sign_options()?),
        }),
        None => return Err(bad(env, &format!("method: unknown method {method:?}"))),
    };
    String::from_utf8(PluginArgs::new(init, args).to_json()).map_err(|e| bad(env, &e.to_string()))
}

fn time_value(t: Option<std::time::SystemTime>) -> Value {
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

/// Decodes a request (`argv[2]`) with Go's rules, into the shape of a request vector's
/// `fields`. A digest that is absent and one that is `null` both decode as absent, as in Go.
#[napi(ts_args_type = "json: string | Uint8Array", ts_return_type = "Record<string, unknown>")]
pub fn decode_request(env: &Env, json: Either<String, Uint8Array>) -> napi::Result<Value> {
    let raw: &[u8] = match &json {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    };
    let req = PluginArgs::from_json(raw).map_err(|e| bad(env, &format!("cannot decode the request: {e}")))?;
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
    Ok(Value::Object(f))
}

fn result_value(r: &MethodResult) -> Value {
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

/// Encodes a plugin's response to `method`, byte for byte as the Go handler writes it.
/// `result` has the shape of a response vector's `expect.ok` (bytes as base64), or is
/// `{ errorMessage }` for an error answer.
#[napi(ts_args_type = "method: string, result: Record<string, unknown>")]
pub fn encode_response(env: &Env, method: String, result: Value) -> napi::Result<String> {
    let o = result.as_object().ok_or_else(|| bad(env, "result must be an object"))?;
    if let Some(m) = o.get("errorMessage") {
        let m = m.as_str().ok_or_else(|| bad(env, "errorMessage must be a string"))?;
        return String::from_utf8(PluginResponse::from_error(m).to_json()).map_err(|e| bad(env, &e.to_string()));
    }
    let text = |k: &str| -> napi::Result<&str> {
        o.get(k).and_then(Value::as_str).ok_or_else(|| bad(env, &format!("{method} result: {k} must be a string")))
    };
    let result = match Method::from_wire_name(&method) {
        Some(Method::DefaultAlgorithm) => MethodResult::DefaultAlgorithm(text("defaultAlgorithm")?.to_owned()),
        Some(Method::SupportedAlgorithms) => MethodResult::SupportedAlgorithms(
            o.get("supportedAlgorithms")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(env, "supportedAlgorithms must be an array of strings"))?
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad(env, "supportedAlgorithms must be strings")))
                .collect::<napi::Result<_>>()?,
        ),
        Some(Method::CreateKey) => {
            MethodResult::CreateKey { public_key_pem: bytes(env, text("publicKeyPEM")?, "publicKeyPEM")? }
        }
        Some(Method::PublicKey) => {
            MethodResult::PublicKey { public_key_pem: bytes(env, text("publicKeyPEM")?, "publicKeyPEM")? }
        }
        Some(Method::SignMessage) => {
            MethodResult::SignMessage { signature: bytes(env, text("signature")?, "signature")? }
        }
        Some(Method::VerifySignature) => MethodResult::VerifySignature,
        None => return Err(bad(env, &format!("unknown method {method:?}"))),
    };
    String::from_utf8(PluginResponse::from_result(result).to_json()).map_err(|e| bad(env, &e.to_string()))
}

/// Decodes a plugin's stdout as the host does for `method`: `{ ok: RESULT }` (the shape of a
/// response vector's `expect.ok`) or `{ error: 'InvalidResponse' | 'PluginReturned', message }`.
#[napi(
    ts_return_type = "{ ok: Record<string, unknown> } | { error: 'InvalidResponse' | 'PluginReturned'; message: string }"
)]
pub fn decode_response(env: &Env, method: String, stdout: Uint8Array) -> napi::Result<Value> {
    let m = Method::from_wire_name(&method).ok_or_else(|| bad(env, &format!("unknown method {method:?}")))?;
    Ok(match core_decode_response(m, &stdout) {
        Ok(r) => json!({ "ok": result_value(&r) }),
        Err(ResponseError::Invalid(e)) => json!({ "error": "InvalidResponse", "message": e.to_string() }),
        Err(ResponseError::Returned(msg)) => json!({ "error": "PluginReturned", "message": msg }),
    })
}
