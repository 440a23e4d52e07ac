//! KMS handlers written in JavaScript, called from Rust worker threads.
//!
//! The core's [`KmsHandler`] trait is synchronous and called on a worker thread: by the host
//! for an in-process provider (`registerProvider`), and by the plugin SDK for a plugin served
//! with `serve()`. [`JsHandler`] implements it by posting a [`HandlerCall`] to the JavaScript
//! thread through a threadsafe function, then blocking the worker (never the JavaScript thread)
//! until JavaScript settles the call. While it waits, it also serves JavaScript's requests for
//! message chunks (`call.read()`), so a handler can stream a large message instead of
//! receiving it whole.
//!
//! The JavaScript half (`node/handler.js`) turns the call into a handler method call, awaits
//! the result (sync or async), and settles the call with `resolve*` or `reject`.

use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::{Buffer, Function, Object, Uint8Array};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsDeferred, Status};
use napi_derive::napi;
use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions, Method};

use crate::error;

/// How many bytes one `call.read()` returns at most.
const READ_CHUNK: usize = 64 * 1024;

type ReadResolver = Box<dyn FnOnce(Env) -> napi::Result<Option<Buffer>> + Send>;
type ReadDeferred = JsDeferred<Option<Buffer>, ReadResolver>;

/// A pending `call.read()`. Dropped unanswered (the call finished first), it rejects its
/// promise: a deferred that is never settled would keep Node's event loop alive for ever.
struct PendingRead(Option<ReadDeferred>);

impl Drop for PendingRead {
    fn drop(&mut self) {
        if let Some(deferred) = self.0.take() {
            deferred.reject(napi::Error::new(Status::GenericFailure, "the handler call finished before this read"));
        }
    }
}

/// What JavaScript sends back to the waiting worker.
enum Event {
    /// JavaScript wants the next chunk of the message.
    Read(PendingRead),
    /// The handler finished.
    Done(Result<Answer, String>),
}

/// A handler's successful result.
enum Answer {
    Text(String),
    List(Vec<String>),
    Bytes(Vec<u8>),
    Nothing,
}

/// The per-call context as JavaScript sees it.
#[napi(object)]
pub struct JsCallContext {
    /// The key reference: the part of the key URI after `://`.
    #[napi(js_name = "keyResourceID")]
    pub key_resource_id: String,
    /// The client's hash function, e.g. `sha256`.
    pub hash_func: String,
    /// The requested key version, `""` for the default.
    pub key_version: String,
    /// Whether the caller asked for verification by the KMS itself.
    pub remote_verification: bool,
    /// When the caller stops waiting (milliseconds since the epoch), if it said.
    pub deadline_ms: Option<f64>,
}

/// One call of a JavaScript handler, waiting to be settled.
#[napi]
pub struct HandlerCall {
    method: Method,
    context: CallContext,
    algorithm: Option<String>,
    signature: Option<Vec<u8>>,
    options: MessageOptions,
    events: Mutex<Option<mpsc::Sender<Event>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

#[napi]
impl HandlerCall {
    /// The method: `defaultAlgorithm`, `supportedAlgorithms`, `createKey`, `publicKey`,
    /// `signMessage` or `verifySignature`.
    #[napi(getter)]
    pub fn method(&self) -> &'static str {
        self.method.as_str()
    }

    /// The call's context.
    #[napi(getter)]
    pub fn context(&self) -> JsCallContext {
        let c = &self.context;
        JsCallContext {
            key_resource_id: c.key_resource_id.clone(),
            hash_func: c.hash_func.name().to_owned(),
            key_version: c.key_version.clone(),
            remote_verification: c.remote_verification,
            deadline_ms: c.deadline.map(millis),
        }
    }

    /// The algorithm asked for (`createKey` only).
    #[napi(getter)]
    pub fn algorithm(&self) -> Option<String> {
        self.algorithm.clone()
    }

    /// The signature to verify (`verifySignature` only).
    #[napi(getter)]
    pub fn signature(&self) -> Option<Buffer> {
        self.signature.clone().map(Buffer::from)
    }

    /// The precomputed digest to sign or verify instead of the message, if given.
    #[napi(getter)]
    pub fn digest(&self) -> Option<Buffer> {
        self.options.digest().map(|d| Buffer::from(d.to_vec()))
    }

    /// The hash function of `digest` (or to hash the message with), if given.
    #[napi(getter)]
    pub fn message_hash_func(&self) -> Option<&'static str> {
        self.options.hash_func.map(sigstore_kms_plugins::HashFunc::name)
    }

    /// The next chunk of the message (at most 64 KiB), or `null` at its end. Other methods
    /// than `signMessage` and `verifySignature` have an empty message.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn read<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let (deferred, promise) = env.create_deferred::<Option<Buffer>, ReadResolver>()?;
        let read = PendingRead(Some(deferred));
        let Some(tx) = lock(&self.events).clone() else {
            // Dropping `read` rejects the promise.
            return Err(error::invalid_arg(env, "ERR_INVALID_STATE", "the call has already been settled"));
        };
        // If the worker is gone, the event comes back and dropping it rejects the promise.
        let _ = tx.send(Event::Read(read));
        Ok(promise)
    }

    fn settle(&self, result: Result<Answer, String>) -> bool {
        match lock(&self.events).take() {
            Some(tx) => tx.send(Event::Done(result)).is_ok(),
            None => false,
        }
    }

    /// Settles the call with a string (`defaultAlgorithm`, `createKey`, `publicKey`).
    /// Returns whether the call was still waiting.
    #[napi]
    pub fn resolve_string(&self, value: String) -> bool {
        self.settle(Ok(Answer::Text(value)))
    }

    /// Settles the call with a list of strings (`supportedAlgorithms`).
    #[napi]
    pub fn resolve_strings(&self, value: Vec<String>) -> bool {
        self.settle(Ok(Answer::List(value)))
    }

    /// Settles the call with bytes (`signMessage`).
    #[napi]
    pub fn resolve_bytes(&self, value: Uint8Array) -> bool {
        self.settle(Ok(Answer::Bytes(value.to_vec())))
    }

    /// Settles the call successfully with no value (`verifySignature`).
    #[napi]
    pub fn resolve_void(&self) -> bool {
        self.settle(Ok(Answer::Nothing))
    }

    /// Fails the call with `message` (the plugin's `errorMessage`).
    #[napi]
    pub fn reject(&self, message: String) -> bool {
        self.settle(Err(message))
    }
}

type Dispatch = ThreadsafeFunction<HandlerCall, (), HandlerCall, Status, false, true>;

/// A [`KmsHandler`] whose methods run in JavaScript.
pub struct JsHandler {
    dispatch: Dispatch,
}

/// Wraps the JavaScript dispatch function `(call: HandlerCall) => void` of one handler.
///
/// The threadsafe function is weak: an idle handler does not keep Node's event loop alive
/// (a call in flight does, through its own pending promise).
pub fn bind(dispatch: &Function<HandlerCall, ()>) -> napi::Result<Arc<JsHandler>> {
    let dispatch = dispatch.build_threadsafe_function().weak::<true>().build()?;
    Ok(Arc::new(JsHandler { dispatch }))
}

/// The arguments of one call besides the context and the message.
#[derive(Default)]
struct Args {
    algorithm: Option<String>,
    signature: Option<Vec<u8>>,
    options: MessageOptions,
}

impl JsHandler {
    fn call(
        &self,
        method: Method,
        ctx: &CallContext,
        args: Args,
        mut message: Option<&mut dyn Read>,
    ) -> Result<Answer, HandlerError> {
        let (tx, rx) = mpsc::channel();
        let call = HandlerCall {
            method,
            context: ctx.clone(),
            algorithm: args.algorithm,
            signature: args.signature,
            options: args.options,
            events: Mutex::new(Some(tx)),
        };
        let status = self.dispatch.call(call, ThreadsafeFunctionCallMode::Blocking);
        if status != Status::Ok {
            return Err(HandlerError::new(format!(
                "cannot call the JavaScript handler ({status}): the JavaScript environment is shutting down"
            )));
        }
        loop {
            let event = match ctx.deadline {
                Some(deadline) => {
                    let left = deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
                    match rx.recv_timeout(left) {
                        Ok(e) => e,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            return Err(HandlerError::new(format!(
                                "the JavaScript handler did not answer {method} before the call's deadline"
                            )))
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(unanswered(method)),
                    }
                }
                None => rx.recv().map_err(|_| unanswered(method))?,
            };
            match event {
                Event::Read(read) => serve_read(read, message.as_deref_mut()),
                Event::Done(result) => return result.map_err(HandlerError::new),
            }
        }
    }
}

fn unanswered(method: Method) -> HandlerError {
    HandlerError::new(format!("the JavaScript handler finished {method} without answering"))
}

/// Reads the next chunk for JavaScript, on this (worker) thread.
fn serve_read<'a>(mut read: PendingRead, message: Option<&mut (dyn Read + 'a)>) {
    let Some(deferred) = read.0.take() else { return };
    let Some(reader) = message else {
        deferred.resolve(Box::new(|_| Ok(None)));
        return;
    };
    let mut chunk = vec![0; READ_CHUNK];
    let n = loop {
        match reader.read(&mut chunk) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                deferred.reject(napi::Error::new(Status::GenericFailure, format!("reading the message failed: {e}")));
                return;
            }
        }
    };
    if n == 0 {
        deferred.resolve(Box::new(|_| Ok(None)));
    } else {
        chunk.truncate(n);
        deferred.resolve(Box::new(move |_| Ok(Some(Buffer::from(chunk)))));
    }
}

fn wrong_answer(method: Method) -> HandlerError {
    HandlerError::new(format!("internal error: the JavaScript handler settled {method} with a value of the wrong type"))
}

impl KmsHandler for JsHandler {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        match self.call(Method::DefaultAlgorithm, ctx, Args::default(), None)? {
            Answer::Text(s) => Ok(s),
            _ => Err(wrong_answer(Method::DefaultAlgorithm)),
        }
    }

    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        match self.call(Method::SupportedAlgorithms, ctx, Args::default(), None)? {
            Answer::List(l) => Ok(l),
            _ => Err(wrong_answer(Method::SupportedAlgorithms)),
        }
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        let args = Args { algorithm: Some(algorithm.to_owned()), ..Args::default() };
        match self.call(Method::CreateKey, ctx, args, None)? {
            Answer::Text(s) => Ok(s),
            _ => Err(wrong_answer(Method::CreateKey)),
        }
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        match self.call(Method::PublicKey, ctx, Args::default(), None)? {
            Answer::Text(s) => Ok(s),
            _ => Err(wrong_answer(Method::PublicKey)),
        }
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        let args = Args { options: opts.clone(), ..Args::default() };
        match self.call(Method::SignMessage, ctx, args, Some(message))? {
            Answer::Bytes(b) => Ok(b),
            _ => Err(wrong_answer(Method::SignMessage)),
        }
    }

    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError> {
        let args = Args { signature: Some(signature.to_vec()), options: opts.clone(), ..Args::default() };
        match self.call(Method::VerifySignature, ctx, args, Some(message))? {
            Answer::Nothing => Ok(()),
            _ => Err(wrong_answer(Method::VerifySignature)),
        }
    }
}
