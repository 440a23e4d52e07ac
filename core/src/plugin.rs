//! The plugin-author side: turn a [`KmsHandler`] into a `sigstore-kms-NAME` program.
//!
//! A plugin program is started once per call with `argv = [program, "v1", REQUEST-JSON]`, the
//! message on stdin (for `signMessage` and `verifySignature`), and must write exactly one JSON
//! response on stdout. [`serve`] does all of that for you:
//!
//! 1. checks the arguments (at least three, like Go's `handler.GetPluginArgs`; extra ones are
//!    ignored) and the protocol version (`v1`);
//! 2. decodes the request with Go's `encoding/json` rules ([`PluginArgs::from_json`]);
//! 3. builds a [`CallContext`] (see [`call_context`] for where each field comes from);
//! 4. dispatches on `methodName` by exact match, as Go's `handler.Dispatch` does;
//! 5. writes one response, byte for byte what the Go handler writes for the same result
//!    ([`PluginResponse::to_json`]: compact JSON, no trailing newline).
//!
//! Every failure becomes an `errorMessage` response instead of a crash: a wrong argument
//! count, an unknown protocol version, a request that does not decode, an unknown method, a
//! request without the method's object (where Go's handler dereferences nil), an error the
//! handler returns, and a panic in the handler (caught with [`std::panic::catch_unwind`]; the
//! panic message also goes to stderr through the usual panic hook). The exit code is 0
//! whenever a response was written; hosts ignore it anyway.
//!
//! Write logs to **stderr** only: the host passes stderr through to its user, while anything
//! extra on stdout makes the response unreadable.
//!
//! # A complete plugin
//!
//! The handler below answers every method; `main` would be `fn main() -> ExitCode {
//! plugin::serve(Echo) }`. The test drives it through [`serve_with`] exactly as a host would.
//!
//! ```
//! use std::ffi::OsString;
//! use std::io::Read;
//! use sigstore_kms_plugins::plugin::serve_with;
//! use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
//!
//! /// A toy "KMS": the signature is the message reversed.
//! struct Echo;
//!
//! impl KmsHandler for Echo {
//!     fn default_algorithm(&self, _: &CallContext) -> Result<String, HandlerError> {
//!         Ok("reverse".into())
//!     }
//!     fn supported_algorithms(&self, _: &CallContext) -> Result<Vec<String>, HandlerError> {
//!         Ok(vec!["reverse".into()])
//!     }
//!     fn create_key(&self, ctx: &CallContext, _alg: &str) -> Result<String, HandlerError> {
//!         self.public_key(ctx)
//!     }
//!     fn public_key(&self, _: &CallContext) -> Result<String, HandlerError> {
//!         Err("this toy has no public key".into())
//!     }
//!     fn sign_message(&self, _: &CallContext, msg: &mut dyn Read, _: &MessageOptions) -> Result<Vec<u8>, HandlerError> {
//!         let mut bytes = Vec::new();
//!         msg.read_to_end(&mut bytes)?;
//!         bytes.reverse();
//!         Ok(bytes)
//!     }
//!     fn verify_signature(&self, ctx: &CallContext, sig: &[u8], msg: &mut dyn Read, o: &MessageOptions) -> Result<(), HandlerError> {
//!         if self.sign_message(ctx, msg, o)? == sig { Ok(()) } else { Err("signature mismatch".into()) }
//!     }
//! }
//!
//! let request = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5},"methodName":"signMessage","signMessage":{"signOptions":{"rpcOptions":{},"messageOptions":{"digest":null}}}}"#;
//! let argv: Vec<OsString> = vec!["sigstore-kms-echo".into(), "v1".into(), request.into()];
//! let mut stdout = Vec::new();
//! serve_with(&argv, &mut &b"abc"[..], &mut stdout, &Echo).unwrap();
//! assert_eq!(stdout, br#"{"signMessage":{"signature":"Y2Jh"}}"#); // base64("cba")
//!
//! // Unknown methods and protocol versions are answered, not crashed on.
//! let argv: Vec<OsString> = vec!["p".into(), "v2".into(), request.into()];
//! let mut stdout = Vec::new();
//! serve_with(&argv, &mut std::io::empty(), &mut stdout, &Echo).unwrap();
//! assert!(stdout.starts_with(br#"{"errorMessage":"unsupported protocol version"#));
//! ```

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::client::Call;
use crate::handler::{dispatch, CallContext, HandlerError, KmsHandler};
use crate::protocol::{MessageOptions, Method, MethodResult, PluginArgs, PluginResponse, RpcOptions, PROTOCOL_VERSION};
use crate::public_key::PublicKey;

/// Serves one call of the current process: reads `argv` and stdin, writes the response to
/// stdout, and returns the exit code for `main`.
///
/// The exit code is [`ExitCode::SUCCESS`] whenever a response was written, whatever the
/// response says (hosts ignore the exit status of a program that exited normally), and
/// [`ExitCode::FAILURE`] only when stdout could not be written (the reason goes to stderr).
///
/// ```no_run
/// # use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
/// # struct MyKms;
/// # impl KmsHandler for MyKms {
/// #   fn default_algorithm(&self, _: &CallContext) -> Result<String, HandlerError> { Ok("x".into()) }
/// #   fn supported_algorithms(&self, _: &CallContext) -> Result<Vec<String>, HandlerError> { Ok(vec![]) }
/// #   fn create_key(&self, _: &CallContext, _: &str) -> Result<String, HandlerError> { Err("no".into()) }
/// #   fn public_key(&self, _: &CallContext) -> Result<String, HandlerError> { Err("no".into()) }
/// #   fn sign_message(&self, _: &CallContext, _: &mut dyn std::io::Read, _: &MessageOptions) -> Result<Vec<u8>, HandlerError> { Err("no".into()) }
/// #   fn verify_signature(&self, _: &CallContext, _: &[u8], _: &mut dyn std::io::Read, _: &MessageOptions) -> Result<(), HandlerError> { Err("no".into()) }
/// # }
/// fn main() -> std::process::ExitCode {
///     sigstore_kms_plugins::plugin::serve(MyKms)
/// }
/// ```
#[allow(clippy::needless_pass_by_value)] // taking the handler by value keeps `main` a one-liner
pub fn serve(handler: impl KmsHandler) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match serve_args(&args, &handler) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// [`serve`] with explicit arguments (`args[0]` is the program name, then `v1` and the request
/// JSON), on this process's stdin and stdout: for embedders whose process arguments are not the
/// plugin's (a Python console script, a Node `bin` launcher). Returns the exit code: 0 once the
/// response is written, 1 when stdout cannot be written (said on stderr, naming `args[0]`).
pub fn serve_args(args: &[OsString], handler: &dyn KmsHandler) -> i32 {
    let stdin = io::stdin();
    let stdout = io::stdout();
    match serve_with(args, &mut stdin.lock(), &mut stdout.lock(), handler) {
        Ok(_) => 0,
        Err(e) => {
            let program = args.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            eprintln!("{program}: cannot write the response to stdout: {e}");
            1
        }
    }
}

/// Serves one call with explicit arguments and streams: the testable core of [`serve`].
///
/// `args` is the whole argv (`args[0]` is the program). Writes exactly one JSON response to
/// `stdout`, flushes it, and returns the response written. The only error is failing to write
/// `stdout`.
pub fn serve_with(
    args: &[OsString],
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    handler: &dyn KmsHandler,
) -> io::Result<PluginResponse> {
    let done = handle(args, stdin, handler);
    stdout.write_all(&done.response.to_json())?;
    stdout.flush()?;
    Ok(done.response)
}

/// One call handled: the response to write, and the handler's error (with its source) when
/// the handler failed. A binding uses the error to re-raise what must not be swallowed (a
/// Python `KeyboardInterrupt` raised by the handler) once the response is written.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled {
    /// The response to write.
    pub response: PluginResponse,
    /// The error the response reports, as the handler (or the request checks) made it.
    pub error: Option<HandlerError>,
}

/// Computes the response to one call without writing it: argument and version checks,
/// decoding, dispatch, and conversion of every error and panic into `errorMessage`.
pub fn respond(args: &[OsString], stdin: &mut dyn Read, handler: &dyn KmsHandler) -> PluginResponse {
    handle(args, stdin, handler).response
}

/// [`respond`], keeping the handler's error.
pub fn handle(args: &[OsString], stdin: &mut dyn Read, handler: &dyn KmsHandler) -> Handled {
    match decode_call(args).and_then(|(ctx, call)| {
        let result = dispatch(handler, &ctx, &call, stdin, "the plugin")?;
        checked(result)
    }) {
        Ok(result) => Handled { response: PluginResponse::from_result(result), error: None },
        Err(e) => Handled { response: PluginResponse::from_error(e.message()), error: Some(e) },
    }
}

/// Checks argv and decodes the request into the call it asks for and its context.
fn decode_call(args: &[OsString]) -> Result<(CallContext, Call), HandlerError> {
    if args.len() < 3 {
        return Err(HandlerError::new(format!(
            "expected at least 3 arguments (program, protocol version, request JSON), got {}; \
             this program is a Sigstore KMS plugin, run by a host such as cosign",
            args.len()
        )));
    }
    let version = &args[1];
    if version.as_bytes() != PROTOCOL_VERSION.as_bytes() {
        return Err(HandlerError::new(format!(
            "unsupported protocol version {:?}: this plugin speaks {PROTOCOL_VERSION}",
            version.to_string_lossy()
        )));
    }
    let request = PluginArgs::from_json(args[2].as_bytes())
        .map_err(|e| HandlerError::new(format!("cannot decode the request (argv[2]): {e}")))?;
    let Some(method) = request.method() else {
        return Err(HandlerError::new(format!("unsupported method: {}", request.method_name)));
    };
    if request.init_options.is_none() {
        return Err(HandlerError::new("invalid request: it has no \"initOptions\" object"));
    }
    let missing = || {
        HandlerError::new(format!("invalid request: methodName is {0:?} but there is no {0:?} object", method.as_str()))
    };
    let call = match method {
        Method::DefaultAlgorithm => Call::DefaultAlgorithm,
        Method::SupportedAlgorithms => Call::SupportedAlgorithms,
        Method::CreateKey => {
            Call::CreateKey { algorithm: request.create_key.as_ref().ok_or_else(missing)?.algorithm.clone() }
        }
        Method::PublicKey => {
            request.public_key.as_ref().ok_or_else(missing)?;
            Call::PublicKey
        }
        Method::SignMessage => {
            request.sign_message.as_ref().ok_or_else(missing)?;
            Call::SignMessage { options: message_options(&request) }
        }
        Method::VerifySignature => {
            let args = request.verify_signature.as_ref().ok_or_else(missing)?;
            Call::VerifySignature {
                signature: args.signature.clone().unwrap_or_default(),
                options: message_options(&request),
            }
        }
    };
    Ok((call_context(&request), call))
}

/// Refuses a public key the host could not parse, so the plugin's bug is reported as such.
fn checked(result: MethodResult) -> Result<MethodResult, HandlerError> {
    if let MethodResult::CreateKey { public_key_pem } | MethodResult::PublicKey { public_key_pem } = &result {
        PublicKey::from_pem(public_key_pem)
            .map_err(|e| HandlerError::new(format!("the plugin produced an invalid public key PEM: {e}")))?;
    }
    Ok(result)
}

/// The [`CallContext`] of a decoded request.
///
/// * `key_resource_id` and `hash_func` come from `initOptions`.
/// * `key_version`: the method's `rpcOptions.keyVersion` if non-empty, else
///   `initOptions.rpcOptions.keyVersion`, else `""`. (The Go client always writes the
///   method-level value, as `""` when the caller gave none, so an empty string there means
///   "not set"; the client-wide value given at load time is in `initOptions.rpcOptions`.)
/// * `remote_verification`: true if either the method's or the init `rpcOptions` say true.
/// * `deadline`: the method's own deadline (`createKey.ctxDeadline`, or the method's
///   `rpcOptions.ctxDeadline`), else `initOptions.ctxDeadline`, else
///   `initOptions.rpcOptions.ctxDeadline`.
///
/// The message options (`digest`, `hashFunc`) are passed to the handler separately.
#[must_use]
pub fn call_context(request: &PluginArgs) -> CallContext {
    let init = request.init_options.clone().unwrap_or_default();
    let init_rpc = init.rpc_options.clone().unwrap_or_default();
    let (method_rpc, method_deadline): (Option<&RpcOptions>, Option<SystemTime>) = match request.method() {
        Some(Method::CreateKey) => (None, request.create_key.as_ref().and_then(|a| a.ctx_deadline)),
        Some(Method::PublicKey) => {
            let rpc = request.public_key.as_ref().and_then(|a| a.public_key_options.as_ref()).map(|o| &o.rpc_options);
            (rpc, rpc.and_then(|r| r.ctx_deadline))
        }
        Some(Method::SignMessage) => {
            let rpc = request.sign_message.as_ref().and_then(|a| a.sign_options.as_ref()).map(|o| &o.rpc_options);
            (rpc, rpc.and_then(|r| r.ctx_deadline))
        }
        Some(Method::VerifySignature) => {
            let rpc = request.verify_signature.as_ref().and_then(|a| a.verify_options.as_ref()).map(|o| &o.rpc_options);
            (rpc, rpc.and_then(|r| r.ctx_deadline))
        }
        _ => (None, None),
    };
    let key_version = method_rpc
        .and_then(|r| r.key_version.clone())
        .filter(|v| !v.is_empty())
        .or_else(|| init_rpc.key_version.clone())
        .unwrap_or_default();
    let remote_verification = method_rpc.and_then(|r| r.remote_verification).unwrap_or(false)
        || init_rpc.remote_verification.unwrap_or(false);
    CallContext {
        key_resource_id: init.key_resource_id,
        hash_func: init.hash_func,
        key_version,
        remote_verification,
        deadline: method_deadline.or(init.ctx_deadline).or(init_rpc.ctx_deadline),
    }
}

/// The message options of a decoded `signMessage` or `verifySignature` request (defaults for
/// other methods, or when the options object is absent).
#[must_use]
pub fn message_options(request: &PluginArgs) -> MessageOptions {
    let opts = match request.method() {
        Some(Method::SignMessage) => request.sign_message.as_ref().and_then(|a| a.sign_options.as_ref()),
        Some(Method::VerifySignature) => request.verify_signature.as_ref().and_then(|a| a.verify_options.as_ref()),
        _ => None,
    };
    opts.map(|o| o.message_options.clone()).unwrap_or_default()
}

/// The Rust example of `docs/plugin-authors.md`, compiled so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/plugin-authors.md")]
pub struct PluginAuthorsGuide;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Mutex;

    use super::*;
    use crate::protocol::gojson::{base64_decode, base64_encode, parse_rfc3339};
    use crate::protocol::HashFunc;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDHw40rZ/xIEwOp2rKlb+zA80N38h\npvpEsyMEpJUCMLMgAzVm1rj9hJJFU4GoW7YwpgXSzj6cmNQ6+VAscdohhQ==\n-----END PUBLIC KEY-----\n";

    /// What the handler saw in one call.
    #[derive(Debug, Default, Clone)]
    struct Seen {
        method: Option<Method>,
        ctx: Option<CallContext>,
        algorithm: Option<String>,
        message: Option<Vec<u8>>,
        opts: Option<MessageOptions>,
        signature: Option<Vec<u8>>,
    }

    /// Records every call and answers fixed results.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Seen>,
        supported: Vec<String>,
        pem: Option<String>,
    }

    impl Recorder {
        fn record(&self, method: Method, ctx: &CallContext) {
            let mut s = self.seen.lock().unwrap();
            s.method = Some(method);
            s.ctx = Some(ctx.clone());
        }
        fn seen(&self) -> Seen {
            self.seen.lock().unwrap().clone()
        }
    }

    impl KmsHandler for Recorder {
        fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
            self.record(Method::DefaultAlgorithm, ctx);
            Ok("ecdsa-p256-sha256".into())
        }
        fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
            self.record(Method::SupportedAlgorithms, ctx);
            Ok(self.supported.clone())
        }
        fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
            self.record(Method::CreateKey, ctx);
            self.seen.lock().unwrap().algorithm = Some(algorithm.to_owned());
            Ok(self.pem.clone().unwrap_or_else(|| PEM.to_owned()))
        }
        fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
            self.record(Method::PublicKey, ctx);
            Ok(self.pem.clone().unwrap_or_else(|| PEM.to_owned()))
        }
        fn sign_message(
            &self,
            ctx: &CallContext,
            message: &mut dyn Read,
            opts: &MessageOptions,
        ) -> Result<Vec<u8>, HandlerError> {
            self.record(Method::SignMessage, ctx);
            let mut m = Vec::new();
            message.read_to_end(&mut m)?;
            let mut s = self.seen.lock().unwrap();
            s.message = Some(m);
            s.opts = Some(opts.clone());
            Ok(vec![1, 2, 3])
        }
        fn verify_signature(
            &self,
            ctx: &CallContext,
            signature: &[u8],
            message: &mut dyn Read,
            opts: &MessageOptions,
        ) -> Result<(), HandlerError> {
            self.record(Method::VerifySignature, ctx);
            let mut m = Vec::new();
            message.read_to_end(&mut m)?;
            let mut s = self.seen.lock().unwrap();
            s.message = Some(m);
            s.opts = Some(opts.clone());
            s.signature = Some(signature.to_vec());
            Ok(())
        }
    }

    fn argv(version: &str, request: &str) -> Vec<OsString> {
        vec!["sigstore-kms-test".into(), version.into(), request.into()]
    }

    fn run(args: &[OsString], stdin: &[u8], handler: &dyn KmsHandler) -> (Vec<u8>, PluginResponse) {
        let mut out = Vec::new();
        let resp = serve_with(args, &mut &stdin[..], &mut out, handler).unwrap();
        assert_eq!(PluginResponse::from_json(&out).unwrap(), resp, "what was written is what was returned");
        (out, resp)
    }

    fn vectors_dir(kind: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors").join(kind)
    }

    fn load_vectors(kind: &str) -> Vec<serde_json::Value> {
        let mut paths: Vec<_> = std::fs::read_dir(vectors_dir(kind)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
            .collect()
    }

    fn opt_str(v: &serde_json::Value) -> Option<String> {
        v.as_str().map(str::to_owned)
    }

    fn opt_time(v: &serde_json::Value) -> Option<SystemTime> {
        v.as_str().map(|s| parse_rfc3339(s).unwrap())
    }

    /// Every request vector decodes, reaches the right method, and the handler sees the
    /// context and options the vector's `fields` describe.
    #[test]
    fn every_request_vector_is_served() {
        let vectors = load_vectors("requests");
        assert!(vectors.len() >= 20, "expected the request vectors, found {}", vectors.len());
        let message = b"the message on stdin".to_vec();
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let f = &v["fields"];
            let handler = Recorder { supported: vec!["a".into()], ..Recorder::default() };
            let (_, resp) = run(&argv("v1", v["expected"].as_str().unwrap()), &message, &handler);
            assert_eq!(resp.error_message, "", "{name}");
            let method = Method::from_wire_name(f["method"].as_str().unwrap()).unwrap();
            let seen = handler.seen();
            assert_eq!(seen.method, Some(method), "{name}");
            assert!(resp.clone().into_result(method).is_ok(), "{name}: the response carries the method's object");

            let ctx = seen.ctx.unwrap();
            assert_eq!(ctx.key_resource_id, f["keyResourceID"].as_str().unwrap(), "{name}");
            assert_eq!(u64::from(ctx.hash_func.number()), f["hashFunc"].as_u64().unwrap(), "{name}");

            let init_rpc = &f["initRpcOptions"];
            let method_rpc = &f["rpcOptions"];
            let method_deadline = match method {
                Method::CreateKey => opt_time(&f["createKey"]["ctxDeadline"]),
                _ => opt_time(&method_rpc["ctxDeadline"]),
            };
            let want_deadline =
                method_deadline.or(opt_time(&f["initCtxDeadline"])).or(opt_time(&init_rpc["ctxDeadline"]));
            assert_eq!(ctx.deadline, want_deadline, "{name}");
            let want_version = opt_str(&method_rpc["keyVersion"])
                .filter(|s| !s.is_empty())
                .or(opt_str(&init_rpc["keyVersion"]))
                .unwrap_or_default();
            assert_eq!(ctx.key_version, want_version, "{name}");
            let want_remote = method_rpc["remoteVerification"].as_bool().unwrap_or(false)
                || init_rpc["remoteVerification"].as_bool().unwrap_or(false);
            assert_eq!(ctx.remote_verification, want_remote, "{name}");

            match method {
                Method::CreateKey => {
                    assert_eq!(seen.algorithm.as_deref(), f["createKey"]["algorithm"].as_str(), "{name}");
                }
                Method::SignMessage | Method::VerifySignature => {
                    assert_eq!(seen.message.as_deref(), Some(&message[..]), "{name}: the handler reads stdin");
                    let opts = seen.opts.unwrap();
                    let mo = &f["messageOptions"];
                    // Go decodes an absent digest and `null` alike (a nil pointer), and so do we.
                    let want_digest = mo.get("digest").and_then(|d| d.as_str()).map(|d| base64_decode(d).unwrap());
                    assert_eq!(opts.digest(), want_digest.as_deref(), "{name}");
                    let want_hash = mo["hashFunc"].as_u64().map(|n| HashFunc::from_number(n).unwrap());
                    assert_eq!(opts.hash_func, want_hash, "{name}");
                    if method == Method::VerifySignature {
                        let want_sig = f["signature"].as_str().map(|s| base64_decode(s).unwrap()).unwrap_or_default();
                        assert_eq!(seen.signature.unwrap(), want_sig, "{name}");
                    }
                }
                _ => {}
            }
        }
    }

    /// Our responses are byte for byte what the Go handler wrote (the `handler_*` vectors).
    #[test]
    fn responses_match_the_go_handler() {
        let mut checked = 0;
        for v in load_vectors("responses") {
            let name = v["name"].as_str().unwrap();
            if !name.starts_with("handler_") {
                continue;
            }
            let stdout = v["stdout"].as_str().unwrap().as_bytes();
            let ours = match name {
                // A Go nil slice marshals as null; a Rust Vec cannot be nil, so we write [] (which
                // every host reads as the same empty list).
                "handler_supported_algorithms_nil" => continue,
                "handler_unsupported_method" => PluginResponse::from_error("unsupported method: signMessage"),
                "handler_verify_signature_error" => {
                    PluginResponse::from_error("invalid signature when validating ASN.1 encoded signature")
                }
                _ => {
                    let method = Method::from_wire_name(v["method"].as_str().unwrap()).unwrap();
                    let ok = &v["expect"]["ok"];
                    let b64 = |k: &str| base64_decode(ok[k].as_str().unwrap()).unwrap();
                    PluginResponse::from_result(match method {
                        Method::DefaultAlgorithm => {
                            MethodResult::DefaultAlgorithm(ok["defaultAlgorithm"].as_str().unwrap().into())
                        }
                        Method::SupportedAlgorithms => MethodResult::SupportedAlgorithms(
                            ok["supportedAlgorithms"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|s| s.as_str().unwrap().to_owned())
                                .collect(),
                        ),
                        Method::CreateKey => MethodResult::CreateKey { public_key_pem: b64("publicKeyPEM") },
                        Method::PublicKey => MethodResult::PublicKey { public_key_pem: b64("publicKeyPEM") },
                        Method::SignMessage => MethodResult::SignMessage { signature: b64("signature") },
                        Method::VerifySignature => MethodResult::VerifySignature,
                    })
                }
            };
            assert_eq!(String::from_utf8(ours.to_json()).unwrap(), std::str::from_utf8(stdout).unwrap(), "{name}");
            checked += 1;
        }
        assert!(checked >= 9, "checked {checked} handler vectors");
    }

    /// The same, end to end: a handler answering what the Go example answered produces the
    /// vector's stdout through `serve_with`.
    #[test]
    fn served_answers_match_the_go_handler() {
        let vector = |name: &str| -> String {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(vectors_dir("responses").join(format!("{name}.json"))).unwrap())
                    .unwrap();
            v["stdout"].as_str().unwrap().to_owned()
        };
        let req = |method: &str, body: &str| {
            format!(
                r#"{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5}},"methodName":"{method}","{method}":{body}}}"#
            )
        };
        let create_pem = {
            let v = vector("handler_create_key");
            let resp = PluginResponse::from_json(v.as_bytes()).unwrap();
            String::from_utf8(resp.create_key.unwrap().public_key_pem).unwrap()
        };
        let handler = Recorder {
            supported: vec!["ecdsa-p256-sha256".into(), "ecdsa-p384-sha384".into(), "ed25519".into()],
            pem: Some(create_pem),
            ..Recorder::default()
        };
        let cases = [
            ("handler_default_algorithm", req("defaultAlgorithm", "{}")),
            ("handler_supported_algorithms", req("supportedAlgorithms", "{}")),
            ("handler_create_key", req("createKey", r#"{"algorithm":"ecdsa-p256-sha256"}"#)),
            (
                "handler_verify_signature",
                req("verifySignature", r#"{"signature":"AA==","verifyOptions":{"rpcOptions":{},"messageOptions":{}}}"#),
            ),
        ];
        for (name, request) in cases {
            let (out, _) = run(&argv("v1", &request), b"", &handler);
            assert_eq!(String::from_utf8(out).unwrap(), vector(name), "{name}");
        }
    }

    fn error_of(args: &[OsString], handler: &dyn KmsHandler) -> String {
        let (out, resp) = run(args, b"", handler);
        assert_eq!(
            out,
            PluginResponse::from_error(resp.error_message.clone()).to_json(),
            "only errorMessage is written"
        );
        assert!(!resp.error_message.is_empty());
        resp.error_message
    }

    const DA: &str = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#;

    #[test]
    fn bad_invocations_are_answered_with_error_messages() {
        let h = Recorder::default();
        let e = error_of(&argv("v2", DA), &h);
        assert!(e.contains("unsupported protocol version \"v2\""), "{e}");
        let e = error_of(&argv("", DA), &h);
        assert!(e.contains("protocol version"), "{e}");
        let e = error_of(&["p".into(), "v1".into()], &h);
        assert!(e.contains("expected at least 3 arguments") && e.contains("got 2"), "{e}");
        let e = error_of(&[], &h);
        assert!(e.contains("got 0"), "{e}");
        let e = error_of(&argv("v1", "not json"), &h);
        assert!(e.starts_with("cannot decode the request"), "{e}");
        let e = error_of(&argv("v1", r#"{"methodName":"defaultAlgorithm","initOptions":{"hashFunc":"x"}}"#), &h);
        assert!(e.contains("initOptions.hashFunc"), "{e}");
        let e = error_of(&argv("v1", &DA.replace("\"defaultAlgorithm\",", "\"SignMessage\",")), &h);
        assert_eq!(e, "unsupported method: SignMessage");
        let e = error_of(&argv("v1", r#"{"methodName":"defaultAlgorithm"}"#), &h);
        assert!(e.contains("initOptions"), "{e}");
        assert_eq!(h.seen().method, None, "the handler was never called");
        // Extra arguments are ignored, as Go's GetPluginArgs does.
        let mut args = argv("v1", DA);
        args.push("extra".into());
        let (_, resp) = run(&args, b"", &h);
        assert_eq!(resp.default_algorithm.unwrap().default_algorithm, "ecdsa-p256-sha256");
    }

    #[test]
    fn missing_method_objects_are_errors_not_crashes() {
        let h = Recorder::default();
        for m in ["createKey", "publicKey", "signMessage", "verifySignature"] {
            for body in ["", &format!(r#","{m}":null"#)] {
                let req = format!(
                    r#"{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5}},"methodName":"{m}"{body}}}"#
                );
                let e = error_of(&argv("v1", &req), &h);
                assert_eq!(e, format!("invalid request: methodName is {m:?} but there is no {m:?} object"));
            }
        }
        // defaultAlgorithm and supportedAlgorithms take no arguments: Go never reads them.
        let req = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5},"methodName":"supportedAlgorithms"}"#;
        let (out, _) = run(&argv("v1", req), b"", &h);
        assert_eq!(out, br#"{"supportedAlgorithms":{"supportedAlgorithms":[]}}"#);
        // Absent options inside the method object mean defaults (Go would dereference nil).
        let req = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5},"methodName":"verifySignature","verifySignature":{}}"#;
        let (out, _) = run(&argv("v1", req), b"m", &h);
        assert_eq!(out, br#"{"verifySignature":{}}"#);
        assert_eq!(h.seen().signature.unwrap(), b"");
    }

    struct Failing;
    impl KmsHandler for Failing {
        fn default_algorithm(&self, _: &CallContext) -> Result<String, HandlerError> {
            panic!("boom <&>")
        }
        fn supported_algorithms(&self, _: &CallContext) -> Result<Vec<String>, HandlerError> {
            std::panic::panic_any(42_u8)
        }
        fn create_key(&self, _: &CallContext, _: &str) -> Result<String, HandlerError> {
            Ok("not a pem".into())
        }
        fn public_key(&self, _: &CallContext) -> Result<String, HandlerError> {
            let name = String::from("dynamic");
            panic!("{name} panic")
        }
        fn sign_message(&self, _: &CallContext, _: &mut dyn Read, _: &MessageOptions) -> Result<Vec<u8>, HandlerError> {
            Err("key not found".into())
        }
        fn verify_signature(
            &self,
            _: &CallContext,
            _: &[u8],
            _: &mut dyn Read,
            _: &MessageOptions,
        ) -> Result<(), HandlerError> {
            Err(io::Error::other("disk on fire").into())
        }
    }

    fn request(method: &str) -> String {
        format!(
            r#"{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5}},"methodName":"{method}","{method}":{{"algorithm":"x","signature":"AA=="}}}}"#
        )
    }

    #[test]
    fn handler_errors_and_panics_become_error_messages() {
        let (out, _) = run(&argv("v1", &request("defaultAlgorithm")), b"", &Failing);
        assert_eq!(
            out, br#"{"errorMessage":"the plugin panicked: boom \u003c\u0026\u003e"}"#,
            "Go's HTML-safe escapes"
        );
        assert_eq!(
            error_of(&argv("v1", &request("supportedAlgorithms")), &Failing),
            "the plugin panicked: (no message)"
        );
        assert_eq!(error_of(&argv("v1", &request("publicKey")), &Failing), "the plugin panicked: dynamic panic");
        let e = error_of(&argv("v1", &request("createKey")), &Failing);
        assert!(e.starts_with("the plugin produced an invalid public key PEM"), "{e}");
        assert_eq!(error_of(&argv("v1", &request("signMessage")), &Failing), "key not found");
        assert_eq!(error_of(&argv("v1", &request("verifySignature")), &Failing), "disk on fire");
    }

    #[test]
    fn non_utf8_request_is_an_error_message() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec!["p".into(), "v1".into(), OsString::from_vec(b"{\"methodName\":\"\xff\"}".to_vec())];
        let e = error_of(&args, &Recorder::default());
        assert!(e.starts_with("cannot decode the request"), "{e}");
    }

    #[test]
    fn context_falls_back_to_init_options() {
        let deadline = "2099-04-01T02:47:00Z";
        let req = format!(
            r#"{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"r","hashFunc":6,"rpcOptions":{{"ctxDeadline":"{deadline}","keyVersion":"7","remoteVerification":true}}}},
               "methodName":"signMessage","signMessage":{{"signOptions":{{"rpcOptions":{{"keyVersion":"","remoteVerification":false}},"messageOptions":{{"digest":"AAEC","hashFunc":7}}}}}}}}"#
        );
        let parsed = PluginArgs::from_json(req.as_bytes()).unwrap();
        let ctx = call_context(&parsed);
        assert_eq!(ctx.key_resource_id, "r");
        assert_eq!(ctx.hash_func, HashFunc::Sha384);
        assert_eq!(ctx.key_version, "7");
        assert!(ctx.remote_verification);
        assert_eq!(ctx.deadline, Some(parse_rfc3339(deadline).unwrap()));
        let opts = message_options(&parsed);
        assert_eq!(opts.digest(), Some(&[0, 1, 2][..]));
        assert_eq!(opts.hash_func, Some(HashFunc::Sha512));
        // A method-level key version wins.
        let parsed =
            PluginArgs::from_json(req.replace(r#""keyVersion":"""#, r#""keyVersion":"9""#).as_bytes()).unwrap();
        assert_eq!(call_context(&parsed).key_version, "9");
        assert_eq!(message_options(&PluginArgs::from_json(DA.as_bytes()).unwrap()), MessageOptions::default());
        assert_eq!(base64_encode(b"cba"), "Y2Jh");
    }

    /// A writer that fails: the only error `serve_with` reports.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_failure_is_reported() {
        let e = serve_with(&argv("v1", DA), &mut io::empty(), &mut Broken, &Recorder::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
