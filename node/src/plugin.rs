//! The plugin side: `serve()` of the JavaScript SDK runs the core's plugin SDK
//! ([`sigstore_kms_plugins::plugin::serve_with`]) with a handler written in JavaScript, so a
//! plugin written in JavaScript answers byte for byte what a Rust (or Go) plugin answers.
//! Also the wire codec, in the language-neutral JSON shapes of `tests/vectors`.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd;

use napi::bindgen_prelude::{Either, Function, PromiseRaw, Uint8Array};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sigstore_kms_plugins::protocol::{decode_response as core_decode_response, fields, PluginArgs};
use sigstore_kms_plugins::sys::make_blocking;
use sigstore_kms_plugins::Method;

use crate::error;
use crate::handler::{self, HandlerCall};

/// Makes stdin and stdout blocking again: Node switches the stdio pipes it touches to
/// non-blocking mode, and the plugin SDK reads stdin and writes stdout with plain blocking calls.
pub fn blocking_stdio() {
    make_blocking(io::stdin().as_fd());
    make_blocking(io::stdout().as_fd());
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
            blocking_stdio();
            sigstore_kms_plugins::plugin::serve_args(&os_argv, handler.as_ref()).unsigned_abs()
        })
        .await;
        Ok(code.unwrap_or(1))
    })
}

// ----- the wire codec: the core's, in the shape of tests/vectors ([`fields`]) -----------------

fn bad(env: &Env, what: &str) -> napi::Error {
    error::invalid_arg(env, "ERR_INVALID_ARG_VALUE", what)
}

fn method_arg(env: &Env, method: &str) -> napi::Result<Method> {
    Method::from_wire_name(method).ok_or_else(|| bad(env, &format!("unknown method {method:?}")))
}

/// Builds the request JSON (`argv[2]`) that `fields` describe, byte for byte as the Go client
/// writes it. `fields` has the shape of a request vector's `fields` (tests/vectors/README.md).
#[napi(ts_args_type = "fields: Record<string, unknown>")]
pub fn encode_request(env: &Env, fields: Value) -> napi::Result<String> {
    let req = fields::request_from_fields(&fields).map_err(|e| bad(env, &e.to_string()))?;
    String::from_utf8(req.to_json()).map_err(|e| bad(env, &e.to_string()))
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
    Ok(fields::request_to_fields(&req))
}

/// Encodes a plugin's response to `method`, byte for byte as the Go handler writes it.
/// `result` has the shape of a response vector's `expect.ok` (bytes as base64), or is
/// `{ errorMessage }` for an error answer.
#[napi(ts_args_type = "method: string, result: Record<string, unknown>")]
pub fn encode_response(env: &Env, method: String, result: Value) -> napi::Result<String> {
    let method = method_arg(env, &method)?;
    let response = fields::response_from_fields(method, &result).map_err(|e| bad(env, &e.to_string()))?;
    String::from_utf8(response.to_json()).map_err(|e| bad(env, &e.to_string()))
}

/// Decodes a plugin's stdout as the host does for `method`: `{ ok: RESULT }` (the shape of a
/// response vector's `expect.ok`) or `{ error: 'InvalidResponse' | 'PluginReturned', message }`.
#[napi(
    ts_return_type = "{ ok: Record<string, unknown> } | { error: 'InvalidResponse' | 'PluginReturned'; message: string }"
)]
pub fn decode_response(env: &Env, method: String, stdout: Uint8Array) -> napi::Result<Value> {
    let method = method_arg(env, &method)?;
    Ok(fields::outcome_to_fields(&core_decode_response(method, &stdout)))
}
