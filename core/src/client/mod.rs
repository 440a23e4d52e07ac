//! The host side: [`get_signer_verifier`] and [`PluginSignerVerifier`].
//!
//! By job: [`options`] (the options and their vocabulary), [`message`] (what is signed),
//! [`call`] (a typed call and its reply, and the request JSON), [`route`] (which engine runs a
//! call: the event loop or a thread), `running` (a call driven by an event loop), `on_tokio`
//! (the async methods' event loop: Tokio's own), `failure`
//! (how a run becomes a result or an error). This file has the signer-verifier itself and its
//! typed methods, sugar over [`PluginSignerVerifier::call`] and friends.

use std::fmt;
use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::{CallSite, Error, Result, StderrTail};
use crate::handler::KmsHandler;
use crate::process::{Invocation, Stdin};
use crate::protocol::{HashFunc, Method, PROTOCOL_VERSION};
use crate::public_key::PublicKey;
use crate::uri::KeyUri;

pub mod call;
mod failure;
pub mod message;
mod on_tokio;
pub mod options;
pub mod route;
mod running;

pub use call::{Call, Reply};
pub use message::Message;
pub use options::{
    option_spec, Lang, OptionKey, OptionProblem, OptionSpec, OptionValue, Options, Spelling, DEFAULT_STDOUT_LIMIT,
    DEFAULT_TIMEOUT, MAX_SAFE_INTEGER, MAX_TIMEOUT, OPTIONS,
};
pub use route::{LoopCall, Route, ThreadCall};
pub use running::RunningCall;

/// What runs the calls: a plugin program, or an in-process provider.
enum Backend {
    Program { program: String, path: PathBuf },
    Provider { prefix: String, handler: Arc<dyn KmsHandler> },
}

struct Inner {
    backend: Backend,
    key_ref: String,
    options: Options,
}

/// A key held by a KMS, reached through a plugin program or in-process provider.
///
/// Cheap to clone and safe to share between threads. Every call can be made as a typed
/// [`Call`] ([`PluginSignerVerifier::call`], [`PluginSignerVerifier::call_blocking`],
/// [`PluginSignerVerifier::route`] for event loops) or with the typed methods below, in an
/// async form (needs a Tokio runtime; the plugin is driven by Tokio's I/O driver, or by its
/// blocking pool for a message read from a file or reader or a call awaited in `block_on` of a
/// multi-thread runtime, and is killed if the future is dropped), a `_blocking` form, and (for
/// plugin programs) a `start_` form that an event loop of your own drives ([`RunningCall`]).
///
/// Where to await: an async call awaited in a task of the runtime is woken by the worker that
/// saw the plugin exit, usually its own thread. Awaited directly in `block_on` (the body of
/// `#[tokio::main]` on the multi-thread runtime) it costs one more thread wake-up per call,
/// because that thread never waits in Tokio's poller: tens of µs on a VM (`make bench`, "async
/// (tokio block_on)"; `tokio::process` pays it too). For many short calls from `main`, spawn
/// them as tasks, use a current-thread runtime, or call the `_blocking` methods.
#[derive(Clone)]
pub struct PluginSignerVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for PluginSignerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PluginSignerVerifier");
        match &self.inner.backend {
            Backend::Program { path, .. } => d.field("program", path),
            Backend::Provider { prefix, .. } => d.field("provider", prefix),
        };
        // A PKCS#11 key reference may hold its PIN (`pin-value`): never shown.
        d.field("key_ref", &crate::uri::redact_key_uri(&self.inner.key_ref)).finish_non_exhaustive()
    }
}

/// Resolves `uri` (`NAME://REF`) to a signer-verifier.
///
/// In-process providers registered with [`crate::register_provider`] are consulted first;
/// otherwise the program `sigstore-kms-NAME` is looked up once on the search path (see
/// [`crate::discovery`]) and that absolute path is what every call runs.
///
/// ```no_run
/// use sigstore_kms_plugins::{get_signer_verifier, Options};
/// let sv = get_signer_verifier("localkms:///tmp/key.pem", Options::default())?;
/// let signature = sv.sign_message_blocking(&b"hello"[..])?;
/// sv.verify_signature_blocking(&signature, &b"hello"[..])?;
/// # Ok::<(), sigstore_kms_plugins::Error>(())
/// ```
pub fn get_signer_verifier(uri: &str, options: Options) -> Result<PluginSignerVerifier> {
    let parsed = KeyUri::parse(uri)?;
    let backend = if let Some((prefix, factory)) = crate::provider::lookup(parsed.plugin_name()) {
        let handler = factory(parsed.key_ref()).map_err(|e| Error::provider_factory_failed(uri, e))?;
        Backend::Provider { prefix, handler }
    } else {
        let program = parsed.program_name();
        let path = crate::discovery::find_program_in(&program, options.search_path.as_deref(), &options.plugin_dirs)?;
        Backend::Program { program, path }
    };
    Ok(PluginSignerVerifier { inner: Arc::new(Inner { backend, key_ref: parsed.key_ref().to_owned(), options }) })
}

impl PluginSignerVerifier {
    /// A signer-verifier whose calls `handler` serves in this process, for the key URI `uri`
    /// (`NAME://REF`: `NAME` names it in errors, `REF` is the key reference the handler is
    /// given). No registry and no search path are involved: this is what an in-process provider
    /// built by the caller (a binding's handler written in its own language) uses.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sigstore_kms_plugins::{Options, PluginSignerVerifier};
    /// # use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
    /// # struct Mine;
    /// # impl KmsHandler for Mine {
    /// #   fn default_algorithm(&self, _: &CallContext) -> Result<String, HandlerError> { Ok("x".into()) }
    /// #   fn supported_algorithms(&self, _: &CallContext) -> Result<Vec<String>, HandlerError> { Ok(vec![]) }
    /// #   fn create_key(&self, _: &CallContext, _: &str) -> Result<String, HandlerError> { Err("no".into()) }
    /// #   fn public_key(&self, _: &CallContext) -> Result<String, HandlerError> { Err("no".into()) }
    /// #   fn sign_message(&self, _: &CallContext, _: &mut dyn std::io::Read, _: &MessageOptions) -> Result<Vec<u8>, HandlerError> { Err("no".into()) }
    /// #   fn verify_signature(&self, _: &CallContext, _: &[u8], _: &mut dyn std::io::Read, _: &MessageOptions) -> Result<(), HandlerError> { Err("no".into()) }
    /// # }
    /// let sv = PluginSignerVerifier::with_handler("mine://key-1", Arc::new(Mine), Options::default())?;
    /// assert_eq!(sv.default_algorithm_blocking()?, "x");
    /// assert_eq!(sv.key_ref(), "key-1");
    /// # Ok::<(), sigstore_kms_plugins::Error>(())
    /// ```
    pub fn with_handler(uri: &str, handler: Arc<dyn KmsHandler>, options: Options) -> Result<Self> {
        let parsed = KeyUri::parse(uri)?;
        let backend = Backend::Provider { prefix: format!("{}://", parsed.plugin_name()), handler };
        Ok(PluginSignerVerifier { inner: Arc::new(Inner { backend, key_ref: parsed.key_ref().to_owned(), options }) })
    }

    /// The absolute path of the plugin program, or `None` for an in-process provider.
    #[must_use]
    pub fn program_path(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Program { path, .. } => Some(path),
            Backend::Provider { .. } => None,
        }
    }

    /// The key reference (the part of the URI after `://`).
    #[must_use]
    pub fn key_ref(&self) -> &str {
        &self.inner.key_ref
    }

    /// The options this signer-verifier was created with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Which plugin (or provider) and method a call is for, as errors name it.
    #[must_use]
    pub fn call_site(&self, method: Method) -> CallSite {
        match &self.inner.backend {
            Backend::Program { program, path } => {
                CallSite { plugin: program.clone(), path: Some(path.clone()), method }
            }
            Backend::Provider { prefix, .. } => CallSite { plugin: prefix.clone(), path: None, method },
        }
    }

    /// The deadline of a call starting now.
    fn deadline(&self) -> Option<SystemTime> {
        self.inner.options.timeout.and_then(|t| SystemTime::now().checked_add(t))
    }

    /// How to run `request` for a `method` call on the program, with these options.
    fn invocation<'a, 'r>(
        &'a self,
        request: &'a [u8],
        method: Method,
        stdin: Stdin<'r>,
        cancel: Option<BorrowedFd<'a>>,
    ) -> Invocation<'a, 'r> {
        let o = &self.inner.options;
        let program = match &self.inner.backend {
            Backend::Program { path, .. } => path.as_path(),
            Backend::Provider { .. } => Path::new(""),
        };
        Invocation {
            program,
            version: PROTOCOL_VERSION,
            request,
            stdin: if method.takes_message() { stdin } else { Stdin::Null },
            timeout: o.timeout,
            stdout_limit: o.stdout_limit,
            stderr: o.stderr,
            cancel,
        }
    }

    /// Starts `call` for an event loop of the caller's (see [`RunningCall`]).
    fn start_call<T>(&self, call: Call, message: Message, map: fn(Reply) -> Result<T>) -> Result<RunningCall<T>> {
        let method = call.method();
        match self.route(call, message) {
            Route::EventLoop(c) => Ok(c.start()?.map(map)),
            Route::Thread(_) => Err(Error::exec(
                self.call_site(method),
                "an in-process provider runs no process: use the async or blocking methods for it \
                 (program_path() is None for such a key)",
                None,
                StderrTail::default(),
            )),
        }
    }

    // ----- async API -------------------------------------------------------------------------

    /// The algorithm the plugin creates keys with by default.
    pub async fn default_algorithm(&self) -> Result<String> {
        self.call(Call::DefaultAlgorithm, Message::empty()).await?.into_default_algorithm()
    }

    /// The algorithms the plugin can create keys with.
    pub async fn supported_algorithms(&self) -> Result<Vec<String>> {
        self.call(Call::SupportedAlgorithms, Message::empty()).await?.into_supported_algorithms()
    }

    /// Creates the key with `algorithm` (or gets the existing one) and returns its public key.
    pub async fn create_key(&self, algorithm: &str) -> Result<PublicKey> {
        self.call(Call::create_key(algorithm), Message::empty()).await?.into_public_key()
    }

    /// The public key.
    pub async fn public_key(&self) -> Result<PublicKey> {
        self.call(Call::PublicKey, Message::empty()).await?.into_public_key()
    }

    /// Signs `message` (streamed to the plugin's stdin).
    pub async fn sign_message(&self, message: impl Into<Message>) -> Result<Vec<u8>> {
        self.call(Call::sign_message(), message).await?.into_signature()
    }

    /// Signs a precomputed `digest` made with `hash` (Go's `CryptoSigner` path: the digest and
    /// hash function in the request, empty stdin).
    pub async fn sign_digest(&self, digest: &[u8], hash: HashFunc) -> Result<Vec<u8>> {
        self.call(Call::sign_digest(digest, hash), Message::empty()).await?.into_signature()
    }

    /// Verifies `signature` over `message` through the plugin; `Ok(())` means valid.
    pub async fn verify_signature(&self, signature: &[u8], message: impl Into<Message>) -> Result<()> {
        self.call(Call::verify_signature(signature), message).await?.into_verified()
    }

    /// Verifies `signature` over a precomputed `digest` made with `hash`.
    pub async fn verify_digest(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<()> {
        self.call(Call::verify_digest(signature, digest, hash), Message::empty()).await?.into_verified()
    }

    // ----- blocking API ----------------------------------------------------------------------

    /// Blocking twin of [`PluginSignerVerifier::default_algorithm`].
    pub fn default_algorithm_blocking(&self) -> Result<String> {
        self.execute(&Call::DefaultAlgorithm, Stdin::Null, None)?.into_default_algorithm()
    }

    /// Blocking twin of [`PluginSignerVerifier::supported_algorithms`].
    pub fn supported_algorithms_blocking(&self) -> Result<Vec<String>> {
        self.execute(&Call::SupportedAlgorithms, Stdin::Null, None)?.into_supported_algorithms()
    }

    /// Blocking twin of [`PluginSignerVerifier::create_key`].
    pub fn create_key_blocking(&self, algorithm: &str) -> Result<PublicKey> {
        self.execute(&Call::create_key(algorithm), Stdin::Null, None)?.into_public_key()
    }

    /// Blocking twin of [`PluginSignerVerifier::public_key`].
    pub fn public_key_blocking(&self) -> Result<PublicKey> {
        self.execute(&Call::PublicKey, Stdin::Null, None)?.into_public_key()
    }

    /// Blocking twin of [`PluginSignerVerifier::sign_message`]; `message` is streamed.
    pub fn sign_message_blocking(&self, mut message: impl Read) -> Result<Vec<u8>> {
        self.execute(&Call::sign_message(), Stdin::Reader(&mut message), None)?.into_signature()
    }

    /// Blocking twin of [`PluginSignerVerifier::sign_digest`].
    pub fn sign_digest_blocking(&self, digest: &[u8], hash: HashFunc) -> Result<Vec<u8>> {
        self.execute(&Call::sign_digest(digest, hash), Stdin::Bytes(Box::new([0u8; 0])), None)?.into_signature()
    }

    /// Blocking twin of [`PluginSignerVerifier::verify_signature`].
    pub fn verify_signature_blocking(&self, signature: &[u8], mut message: impl Read) -> Result<()> {
        self.execute(&Call::verify_signature(signature), Stdin::Reader(&mut message), None)?.into_verified()
    }

    /// Blocking twin of [`PluginSignerVerifier::verify_digest`].
    pub fn verify_digest_blocking(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<()> {
        let call = Call::verify_digest(signature, digest, hash);
        self.execute(&call, Stdin::Bytes(Box::new([0u8; 0])), None)?.into_verified()
    }

    // ----- started calls, for an event loop of the caller's -----------------------------------

    /// Starts [`PluginSignerVerifier::default_algorithm`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// The plugin cannot be started, or this key is served by an in-process provider.
    pub fn start_default_algorithm(&self) -> Result<RunningCall<String>> {
        self.start_call(Call::DefaultAlgorithm, Message::empty(), Reply::into_default_algorithm)
    }

    /// Starts [`PluginSignerVerifier::supported_algorithms`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_supported_algorithms(&self) -> Result<RunningCall<Vec<String>>> {
        self.start_call(Call::SupportedAlgorithms, Message::empty(), Reply::into_supported_algorithms)
    }

    /// Starts [`PluginSignerVerifier::create_key`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_create_key(&self, algorithm: &str) -> Result<RunningCall<PublicKey>> {
        self.start_call(Call::create_key(algorithm), Message::empty(), Reply::into_public_key)
    }

    /// Starts [`PluginSignerVerifier::public_key`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_public_key(&self) -> Result<RunningCall<PublicKey>> {
        self.start_call(Call::PublicKey, Message::empty(), Reply::into_public_key)
    }

    /// Starts [`PluginSignerVerifier::sign_message`] of bytes in memory (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_sign_message(&self, message: impl AsRef<[u8]> + Send + 'static) -> Result<RunningCall<Vec<u8>>> {
        self.start_call(Call::sign_message(), Message::from_bytes(message), Reply::into_signature)
    }

    /// Starts [`PluginSignerVerifier::sign_digest`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_sign_digest(&self, digest: &[u8], hash: HashFunc) -> Result<RunningCall<Vec<u8>>> {
        self.start_call(Call::sign_digest(digest, hash), Message::empty(), Reply::into_signature)
    }

    /// Starts [`PluginSignerVerifier::verify_signature`] over bytes in memory (see
    /// [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_verify_signature(
        &self,
        signature: &[u8],
        message: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<RunningCall<()>> {
        self.start_call(Call::verify_signature(signature), Message::from_bytes(message), Reply::into_verified)
    }

    /// Starts [`PluginSignerVerifier::verify_digest`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_verify_digest(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<RunningCall<()>> {
        self.start_call(Call::verify_digest(signature, digest, hash), Message::empty(), Reply::into_verified)
    }
}
