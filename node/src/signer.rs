//! `getSignerVerifier` and the native signer-verifier class wrapped by `node/index.js`.
//!
//! Every method returns a Promise. A call on a plugin program with its message in memory (or
//! none) is driven by Node's own event loop ([`crate::event_loop`]: non-blocking pipe I/O, no
//! thread per call); a message read from a file or a stream, and in-process providers, run on
//! napi's Tokio runtime, where the core's async methods use Tokio's blocking pool. Either way
//! the JavaScript thread never waits for a plugin.

use std::future::Future;
use std::io;
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Either, Function, PromiseRaw, ToNapiValue, Uint8Array};
use napi::Env;
use napi_derive::napi;
use sigstore_kms_plugins::{
    get_signer_verifier as core_get, HashFunc, Message, Options, PluginSignerVerifier, PublicKey, StderrMode,
};

use crate::error;
use crate::event_loop;
use crate::handler::{self, HandlerCall};
use crate::stream::MessageSink;

/// Options of `getSignerVerifier`, as `node/index.js` passes them (already type-checked there).
#[napi(object)]
pub struct NativeOptions {
    /// Hash function name (`sha256`, `SHA-384`, ...) or Go's `crypto.Hash` number.
    pub hash_func: Option<Either<String, u32>>,
    /// Key version sent in every call.
    pub key_version: Option<String>,
    /// Ask the KMS to verify remotely.
    pub remote_verification: Option<bool>,
    /// Per-call timeout in milliseconds; `0` or `Infinity` for none. Default 300000.
    pub timeout_ms: Option<f64>,
    /// Largest stdout accepted from a plugin, in bytes. Default 4 MiB.
    pub stdout_limit: Option<f64>,
    /// Directories to search instead of `PATH` (`:`-separated).
    pub path: Option<String>,
    /// `inherit` (default), `capture` or `ignore`.
    pub stderr: Option<String>,
}

/// Parses a hash function given as a name or a Go `crypto.Hash` number.
pub fn parse_hash(env: &Env, value: &Either<String, u32>) -> napi::Result<HashFunc> {
    match value {
        Either::A(name) => name
            .parse::<HashFunc>()
            .map_err(|e| error::invalid_arg(env, "ERR_INVALID_ARG_VALUE", &format!("options.hashFunc: {e}"))),
        Either::B(n) => HashFunc::from_number(u64::from(*n)).ok_or_else(|| {
            error::invalid_arg(
                env,
                "ERR_OUT_OF_RANGE",
                &format!("hashFunc: {n} is not a Go crypto.Hash number (0 to {})", HashFunc::ALL.len() - 1),
            )
        }),
    }
}

fn parse_options(env: &Env, o: NativeOptions) -> napi::Result<Options> {
    let mut opts = Options::default().plugin_dirs(crate::discovery::plugin_dirs());
    if let Some(h) = &o.hash_func {
        opts = opts.hash_func(parse_hash(env, h)?);
    }
    if let Some(v) = o.key_version {
        opts = opts.key_version(v);
    }
    if let Some(r) = o.remote_verification {
        opts = opts.remote_verification(r);
    }
    if let Some(ms) = o.timeout_ms {
        if ms.is_nan() || ms < 0.0 {
            return Err(error::invalid_arg(
                env,
                "ERR_OUT_OF_RANGE",
                &format!("options.timeoutMs must be a number >= 0 (0 or Infinity for no timeout), got {ms}"),
            ));
        }
        opts =
            opts.timeout(if ms == 0.0 || ms.is_infinite() { None } else { Some(Duration::from_secs_f64(ms / 1000.0)) });
    }
    if let Some(limit) = o.stdout_limit {
        if !(limit >= 1.0 && limit.fract() == 0.0 && limit <= 9_007_199_254_740_991.0) {
            return Err(error::invalid_arg(
                env,
                "ERR_OUT_OF_RANGE",
                &format!("options.stdoutLimit must be a positive integer (bytes), got {limit}"),
            ));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just above
        let bytes = limit as usize;
        opts = opts.stdout_limit(bytes);
    }
    if let Some(path) = o.path {
        opts = opts.search_path(path);
    }
    if let Some(mode) = o.stderr {
        opts = opts.stderr(match mode.as_str() {
            "inherit" => StderrMode::Inherit,
            "capture" => StderrMode::Capture,
            "ignore" => StderrMode::Null,
            other => {
                return Err(error::invalid_arg(
                    env,
                    "ERR_INVALID_ARG_VALUE",
                    &format!("options.stderr must be 'inherit', 'capture' or 'ignore', got {other:?}"),
                ))
            }
        });
    }
    Ok(opts)
}

/// Resolves a key URI to a signer-verifier (see `getSignerVerifier` in `node/index.d.ts`).
///
/// When `uri` belongs to a provider registered from JavaScript, `node/index.js` has already
/// called that provider's factory and passes either the handler's `dispatch` function or the
/// factory's error message.
#[napi]
pub fn get_signer_verifier(
    env: &Env,
    uri: String,
    options: Option<NativeOptions>,
    dispatch: Option<Function<HandlerCall, ()>>,
    factory_error: Option<String>,
) -> napi::Result<NativeSignerVerifier> {
    let options = match options {
        Some(o) => parse_options(env, o)?,
        None => Options::default(),
    };
    let hash = options.get_hash_func();
    let pending = match (dispatch, factory_error) {
        (_, Some(message)) => Some(Err(message)),
        (Some(f), None) => Some(Ok(handler::bind(&f)?)),
        (None, None) => None,
    };
    let result = handler::with_pending(pending, || core_get(&uri, options));
    match result {
        Ok(inner) => Ok(NativeSignerVerifier { inner, hash }),
        Err(e) => Err(error::to_js(env, &e)),
    }
}

/// Why an async call failed: the core's error, or our own I/O before any plugin ran.
pub enum Failure {
    /// An error of the call.
    Core(sigstore_kms_plugins::Error),
    /// Opening the message file failed.
    Open {
        /// The OS error.
        error: io::Error,
        /// The path given.
        path: String,
    },
}

impl From<sigstore_kms_plugins::Error> for Failure {
    fn from(e: sigstore_kms_plugins::Error) -> Self {
        Failure::Core(e)
    }
}

impl Failure {
    fn into_js(self, env: &Env) -> napi::Error {
        match self {
            Failure::Core(e) => error::to_js(env, &e),
            Failure::Open { error, path } => error::io_to_js(env, &error, "open", &path),
        }
    }
}

/// Runs `fut` on napi's Tokio runtime; its result is converted by `convert` on the JavaScript
/// thread, and a failure becomes the JavaScript error of [`crate::error`].
fn spawn<T, V, F>(env: &Env, fut: F, convert: fn(T) -> V) -> napi::Result<PromiseRaw<'_, V>>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
    F: Future<Output = Result<T, Failure>> + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, result| match result {
        Ok(v) => Ok(convert(v)),
        Err(f) => Err(f.into_js(env)),
    })
}

/// A public key as `publicKeyInfo()` returns it.
#[napi(object)]
pub struct PublicKeyInfo {
    /// The PEM exactly as the plugin returned it.
    pub pem: String,
    /// The SubjectPublicKeyInfo as a `PUBLIC KEY` PEM block (PKCS#1 RSA keys converted).
    pub spki_pem: String,
    /// The DER encoding of the SubjectPublicKeyInfo.
    pub spki_der: Buffer,
    /// `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ecdsa`, `rsa`, `ed25519`, or the OID.
    pub key_type: String,
    /// The dotted OID of the key algorithm.
    pub algorithm_oid: String,
}

fn key_info(key: PublicKey) -> PublicKeyInfo {
    PublicKeyInfo {
        pem: key.pem().to_owned(),
        spki_pem: key.spki_pem(),
        spki_der: key.spki_der().to_vec().into(),
        key_type: key.key_type(),
        algorithm_oid: key.algorithm_oid(),
    }
}

fn pem_of(key: PublicKey) -> String {
    key.pem().to_owned()
}

fn to_buffer(bytes: Vec<u8>) -> Buffer {
    bytes.into()
}

fn unit(_: ()) {}

/// The message of a `sign*`/`verify*` call, resolved on the JavaScript thread.
enum Source {
    Bytes(Vec<u8>),
    File(String),
    Stream(crate::stream::ChannelReader),
}

impl Source {
    fn open(self) -> Result<Message, Failure> {
        Ok(match self {
            Source::Bytes(b) => Message::from(b),
            Source::File(path) => Message::from_path(&path).map_err(|error| Failure::Open { error, path })?,
            Source::Stream(reader) => Message::from_reader(reader),
        })
    }
}

fn stream_source(env: &Env, sink: &MessageSink) -> napi::Result<Source> {
    sink.take_reader()
        .map(Source::Stream)
        .ok_or_else(|| error::invalid_arg(env, "ERR_INVALID_ARG_VALUE", "this MessageSink was already given to a call"))
}

/// A key reached through a plugin program or an in-process provider.
#[napi]
pub struct NativeSignerVerifier {
    inner: PluginSignerVerifier,
    hash: HashFunc,
}

#[napi]
impl NativeSignerVerifier {
    /// The absolute path of the plugin program, `null` for an in-process provider.
    #[napi(getter)]
    #[must_use]
    pub fn program_path(&self) -> Option<String> {
        self.inner.program_path().map(|p| p.to_string_lossy().into_owned())
    }

    /// The key reference: the part of the URI after `://`.
    #[napi(getter)]
    #[must_use]
    pub fn key_ref(&self) -> String {
        self.inner.key_ref().to_owned()
    }

    /// The hash function sent as `initOptions.hashFunc`, e.g. `sha256`.
    #[napi(getter)]
    #[must_use]
    pub fn hash_func(&self) -> String {
        self.hash.name().to_owned()
    }

    /// Whether calls are driven by the event loop (a plugin program, and libuv as expected).
    fn on_loop(&self) -> bool {
        self.inner.program_path().is_some() && event_loop::available()
    }

    /// The algorithm the plugin creates keys with by default.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn default_algorithm<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, String>> {
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_default_algorithm(), std::convert::identity);
        }
        let sv = self.inner.clone();
        spawn(env, async move { Ok(sv.default_algorithm().await?) }, std::convert::identity)
    }

    /// The algorithms the plugin can create keys with.
    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn supported_algorithms<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Vec<String>>> {
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_supported_algorithms(), std::convert::identity);
        }
        let sv = self.inner.clone();
        spawn(env, async move { Ok(sv.supported_algorithms().await?) }, std::convert::identity)
    }

    /// Creates the key (or gets the existing one); resolves its public key PEM.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn create_key<'e>(&self, env: &'e Env, algorithm: String) -> napi::Result<PromiseRaw<'e, String>> {
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_create_key(&algorithm), pem_of);
        }
        let sv = self.inner.clone();
        spawn(env, async move { Ok(sv.create_key(&algorithm).await?) }, pem_of)
    }

    /// The public key PEM, as the plugin returned it.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn public_key<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, String>> {
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_public_key(), pem_of);
        }
        let sv = self.inner.clone();
        spawn(env, async move { Ok(sv.public_key().await?) }, pem_of)
    }

    /// The public key, parsed.
    #[napi(ts_return_type = "Promise<PublicKeyInfo>")]
    pub fn public_key_info<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, PublicKeyInfo>> {
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_public_key(), key_info);
        }
        let sv = self.inner.clone();
        spawn(env, async move { Ok(sv.public_key().await?) }, key_info)
    }

    fn sign<'e>(&self, env: &'e Env, source: Source) -> napi::Result<PromiseRaw<'e, Buffer>> {
        let source = match source {
            Source::Bytes(bytes) if self.on_loop() => {
                return event_loop::drive(env, self.inner.start_sign_message(bytes), to_buffer)
            }
            other => other,
        };
        let sv = self.inner.clone();
        spawn(env, async move { Ok(sv.sign_message(source.open()?).await?) }, to_buffer)
    }

    fn verify<'e>(&self, env: &'e Env, signature: &[u8], source: Source) -> napi::Result<PromiseRaw<'e, ()>> {
        let source = match source {
            Source::Bytes(bytes) if self.on_loop() => {
                return event_loop::drive(env, self.inner.start_verify_signature(signature, bytes), unit)
            }
            other => other,
        };
        let sv = self.inner.clone();
        let signature = signature.to_vec();
        spawn(env, async move { Ok(sv.verify_signature(&signature, source.open()?).await?) }, unit)
    }

    /// Signs bytes (copied now; the caller may reuse the buffer).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_bytes<'e>(&self, env: &'e Env, data: Uint8Array) -> napi::Result<PromiseRaw<'e, Buffer>> {
        self.sign(env, Source::Bytes(data.to_vec()))
    }

    /// Signs the file at `path`, streamed from disk.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_file<'e>(&self, env: &'e Env, path: String) -> napi::Result<PromiseRaw<'e, Buffer>> {
        self.sign(env, Source::File(path))
    }

    /// Signs what JavaScript pushes into `sink`.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_stream<'e>(&self, env: &'e Env, sink: &MessageSink) -> napi::Result<PromiseRaw<'e, Buffer>> {
        let source = stream_source(env, sink)?;
        self.sign(env, source)
    }

    /// Signs a precomputed digest made with `hashFunc` (default: this key's hash function).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_digest<'e>(
        &self,
        env: &'e Env,
        digest: Uint8Array,
        hash_func: Option<Either<String, u32>>,
    ) -> napi::Result<PromiseRaw<'e, Buffer>> {
        let hash = match &hash_func {
            Some(h) => parse_hash(env, h)?,
            None => self.hash,
        };
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_sign_digest(&digest, hash), to_buffer);
        }
        let sv = self.inner.clone();
        let digest = digest.to_vec();
        spawn(env, async move { Ok(sv.sign_digest(&digest, hash).await?) }, to_buffer)
    }

    /// Verifies `signature` over bytes; rejects if the plugin says it is invalid.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_bytes<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        data: Uint8Array,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        self.verify(env, &signature, Source::Bytes(data.to_vec()))
    }

    /// Verifies `signature` over the file at `path`, streamed from disk.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_file<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        path: String,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        self.verify(env, &signature, Source::File(path))
    }

    /// Verifies `signature` over what JavaScript pushes into `sink`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_stream<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        sink: &MessageSink,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let source = stream_source(env, sink)?;
        self.verify(env, &signature, source)
    }

    /// Verifies `signature` over a precomputed digest made with `hashFunc`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_digest<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        digest: Uint8Array,
        hash_func: Option<Either<String, u32>>,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let hash = match &hash_func {
            Some(h) => parse_hash(env, h)?,
            None => self.hash,
        };
        if self.on_loop() {
            return event_loop::drive(env, self.inner.start_verify_digest(&signature, &digest, hash), unit);
        }
        let sv = self.inner.clone();
        let (signature, digest) = (signature.to_vec(), digest.to_vec());
        spawn(env, async move { Ok(sv.verify_digest(&signature, &digest, hash).await?) }, unit)
    }
}
