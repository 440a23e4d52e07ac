//! The host side: [`get_signer_verifier`] and [`PluginSignerVerifier`].

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::{CallSite, Error, Result, StderrTail};
use crate::handler::{CallContext, KmsHandler};
use crate::process::{self, CancelPipe, Invocation, RunError, RunFailure, StderrMode, Stdin};
use crate::protocol::{
    decode_response, CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, InitOptions, MessageOptions, Method, MethodArgs,
    MethodResult, PluginArgs, PublicKeyArgs, PublicKeyOptions, ResponseError, RpcOptions, SignMessageArgs, SignOptions,
    SupportedAlgorithmsArgs, VerifySignatureArgs, PROTOCOL_VERSION,
};
use crate::public_key::PublicKey;
use crate::uri::KeyUri;

/// The default timeout of one call: 5 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The default cap on a plugin's stdout: 4 MiB (answers are a few KiB at most).
pub const DEFAULT_STDOUT_LIMIT: usize = 4 * 1024 * 1024;

/// Options of a signer-verifier. Start from [`Options::default`] and chain the setters.
///
/// ```
/// use std::time::Duration;
/// use sigstore_kms_plugins::{HashFunc, Options, StderrMode};
/// let opts = Options::default()
///     .hash_func(HashFunc::Sha384)
///     .timeout(Some(Duration::from_secs(30)))
///     .stderr(StderrMode::Capture);
/// assert_eq!(opts.get_hash_func(), HashFunc::Sha384);
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    hash_func: HashFunc,
    key_version: Option<String>,
    remote_verification: bool,
    timeout: Option<Duration>,
    stdout_limit: usize,
    search_path: Option<OsString>,
    plugin_dirs: Vec<PathBuf>,
    stderr: StderrMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hash_func: HashFunc::Sha256,
            key_version: None,
            remote_verification: false,
            timeout: Some(DEFAULT_TIMEOUT),
            stdout_limit: DEFAULT_STDOUT_LIMIT,
            search_path: None,
            plugin_dirs: Vec::new(),
            stderr: StderrMode::Inherit,
        }
    }
}

impl Options {
    /// The hash function sent as `initOptions.hashFunc` (default SHA-256, as cosign).
    #[must_use]
    pub fn hash_func(mut self, hash: HashFunc) -> Self {
        self.hash_func = hash;
        self
    }

    /// The key version sent in every call's `rpcOptions.keyVersion`.
    #[must_use]
    pub fn key_version(mut self, version: impl Into<String>) -> Self {
        self.key_version = Some(version.into());
        self
    }

    /// Ask the KMS to verify signatures itself (`rpcOptions.remoteVerification`).
    #[must_use]
    pub fn remote_verification(mut self, on: bool) -> Self {
        self.remote_verification = on;
        self
    }

    /// Per-call timeout (default 5 minutes), sent to the plugin as `ctxDeadline` and enforced
    /// by killing its process group. `None` waits for ever and sends no deadline.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest stdout accepted from the plugin (default [`DEFAULT_STDOUT_LIMIT`]).
    #[must_use]
    pub fn stdout_limit(mut self, bytes: usize) -> Self {
        self.stdout_limit = bytes;
        self
    }

    /// Search these directories (PATH syntax, `:`-separated) instead of `$PATH`.
    #[must_use]
    pub fn search_path(mut self, path: impl Into<OsString>) -> Self {
        self.search_path = Some(path.into());
        self
    }

    /// Directories searched for `sigstore-kms-NAME` after the search path, with the same checks
    /// (executable files only; a relative directory is refused, never resolved against the
    /// current directory). A program on the search path wins over one here. The Python and
    /// Node packages set this to the directory of their bundled plugins. Replaces any earlier
    /// list; default: none.
    ///
    /// ```
    /// use sigstore_kms_plugins::Options;
    /// let opts = Options::default().plugin_dirs(["/opt/kms-plugins/bin"]);
    /// assert_eq!(opts.get_plugin_dirs(), [std::path::PathBuf::from("/opt/kms-plugins/bin")]);
    /// ```
    #[must_use]
    pub fn plugin_dirs<I, P>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.plugin_dirs = dirs.into_iter().map(Into::into).collect();
        self
    }

    /// Where the plugin's stderr goes (default: inherited, as the Go client does).
    #[must_use]
    pub fn stderr(mut self, mode: StderrMode) -> Self {
        self.stderr = mode;
        self
    }

    /// The configured hash function.
    #[must_use]
    pub fn get_hash_func(&self) -> HashFunc {
        self.hash_func
    }

    /// The configured timeout.
    #[must_use]
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The configured search path, if any.
    #[must_use]
    pub fn get_search_path(&self) -> Option<&std::ffi::OsStr> {
        self.search_path.as_deref()
    }

    /// The plugin directories searched after the search path.
    #[must_use]
    pub fn get_plugin_dirs(&self) -> &[PathBuf] {
        &self.plugin_dirs
    }
}

/// A message to sign or verify: bytes, any reader, or a file.
///
/// Readers and files are streamed to the plugin in fixed-size chunks, never read whole.
pub struct Message(MessageSource);

enum MessageSource {
    Bytes(Vec<u8>),
    Reader(Box<dyn Read + Send>),
}

impl Message {
    /// A message read from `reader` as it is sent.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Self {
        Message(MessageSource::Reader(Box::new(reader)))
    }

    /// A message read from the file at `path` (opened now, so a missing file is reported
    /// before any plugin runs).
    pub fn from_path(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Message::from_reader(std::fs::File::open(path)?))
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            MessageSource::Bytes(b) => write!(f, "Message({} bytes)", b.len()),
            MessageSource::Reader(_) => f.write_str("Message(reader)"),
        }
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message(MessageSource::Bytes(b))
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message(MessageSource::Bytes(b.to_vec()))
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message(MessageSource::Bytes(s.as_bytes().to_vec()))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message(MessageSource::Bytes(s.into_bytes()))
    }
}

impl From<std::fs::File> for Message {
    fn from(f: std::fs::File) -> Self {
        Message::from_reader(f)
    }
}

mod started;

/// A message held in memory, as `Stdin::Bytes` takes it.
type InMemory = Box<dyn AsRef<[u8]> + Send>;

pub use started::RunningCall;

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
/// Cheap to clone and safe to share between threads. Every method exists in an async form
/// (needs a Tokio runtime; the plugin runs on Tokio's blocking pool and is killed if the future
/// is dropped), a `_blocking` form, and (for plugin programs) a `start_` form that an event
/// loop of your own drives ([`RunningCall`]; the Node and Python bindings use it).
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
        d.field("key_ref", &self.inner.key_ref).finish_non_exhaustive()
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
    let backend = if let Some((prefix, factory)) = crate::provider::lookup(uri) {
        let key_ref = &uri[prefix.len()..];
        let handler = factory(key_ref).map_err(|e| {
            Error::plugin_returned(
                CallSite { plugin: prefix.clone(), path: None, method: Method::DefaultAlgorithm },
                &format!("provider factory failed: {e}"),
                StderrTail::default(),
            )
        })?;
        Backend::Provider { prefix, handler }
    } else {
        let program = parsed.program_name();
        let path = crate::discovery::find_program_in(&program, options.search_path.as_deref(), &options.plugin_dirs)?;
        Backend::Program { program, path }
    };
    Ok(PluginSignerVerifier { inner: Arc::new(Inner { backend, key_ref: parsed.key_ref().to_owned(), options }) })
}

/// The arguments of one call, independent of deadline (which is fixed when the call starts).
#[derive(Clone)]
enum Call {
    DefaultAlgorithm,
    SupportedAlgorithms,
    CreateKey(String),
    PublicKey,
    Sign { digest: Option<Vec<u8>>, hash: Option<HashFunc> },
    Verify { signature: Vec<u8>, digest: Option<Vec<u8>>, hash: Option<HashFunc> },
}

impl Call {
    fn method(&self) -> Method {
        match self {
            Call::DefaultAlgorithm => Method::DefaultAlgorithm,
            Call::SupportedAlgorithms => Method::SupportedAlgorithms,
            Call::CreateKey(_) => Method::CreateKey,
            Call::PublicKey => Method::PublicKey,
            Call::Sign { .. } => Method::SignMessage,
            Call::Verify { .. } => Method::VerifySignature,
        }
    }
}

impl PluginSignerVerifier {
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

    fn call_site(&self, method: Method) -> CallSite {
        match &self.inner.backend {
            Backend::Program { program, path } => {
                CallSite { plugin: program.clone(), path: Some(path.clone()), method }
            }
            Backend::Provider { prefix, .. } => CallSite { plugin: prefix.clone(), path: None, method },
        }
    }

    /// The request JSON for `call` with `deadline`, exactly as the Go client would write it.
    fn request(&self, call: &Call, deadline: Option<SystemTime>) -> PluginArgs {
        let o = &self.inner.options;
        let rpc = || RpcOptions::packed(deadline, o.key_version.as_deref(), o.remote_verification);
        let mut init = InitOptions::new(
            &self.inner.key_ref,
            o.hash_func,
            RpcOptions::packed(None, o.key_version.as_deref(), o.remote_verification),
        );
        init.ctx_deadline = deadline;
        let message = |digest: &Option<Vec<u8>>, hash: &Option<HashFunc>| MessageOptions {
            digest: Some(digest.clone()),
            hash_func: *hash,
        };
        let args = match call {
            Call::DefaultAlgorithm => MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
            Call::SupportedAlgorithms => MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs {}),
            Call::CreateKey(algorithm) => {
                MethodArgs::CreateKey(CreateKeyArgs { ctx_deadline: deadline, algorithm: algorithm.clone() })
            }
            Call::PublicKey => MethodArgs::PublicKey(PublicKeyArgs {
                public_key_options: Some(PublicKeyOptions { rpc_options: rpc() }),
            }),
            Call::Sign { digest, hash } => MethodArgs::SignMessage(SignMessageArgs {
                sign_options: Some(SignOptions { rpc_options: rpc(), message_options: message(digest, hash) }),
            }),
            Call::Verify { signature, digest, hash } => MethodArgs::VerifySignature(VerifySignatureArgs {
                signature: Some(signature.clone()),
                verify_options: Some(SignOptions { rpc_options: rpc(), message_options: message(digest, hash) }),
            }),
        };
        PluginArgs::new(init, args)
    }

    /// Runs one call to completion on this thread.
    fn invoke(&self, call: &Call, stdin: Stdin<'_>, cancel: Option<BorrowedFd<'_>>) -> Result<MethodResult> {
        let method = call.method();
        let o = &self.inner.options;
        let deadline = self.deadline();
        match &self.inner.backend {
            Backend::Program { path, .. } => {
                let request = self.request(call, deadline).to_json();
                let run = process::run(self.invocation(path, &request, method, stdin, cancel));
                self.conclude(method, run)
            }
            Backend::Provider { handler, .. } => {
                let ctx = CallContext {
                    key_resource_id: self.inner.key_ref.clone(),
                    hash_func: o.hash_func,
                    key_version: o.key_version.clone().unwrap_or_default(),
                    remote_verification: o.remote_verification,
                    deadline,
                };
                let mut empty = io::empty();
                let held;
                let mut bytes: &[u8];
                let message: &mut dyn Read = match stdin {
                    Stdin::Reader(r) if method.takes_message() => r,
                    Stdin::Bytes(b) if method.takes_message() => {
                        held = b;
                        bytes = (*held).as_ref();
                        &mut bytes
                    }
                    _ => &mut empty,
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_handler(handler.as_ref(), &ctx, call, message)
                }));
                match result {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(Error::plugin_returned(self.call_site(method), &e.0, StderrTail::default())),
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(Error::plugin_returned(
                            self.call_site(method),
                            &format!("provider panicked: {what}"),
                            StderrTail::default(),
                        ))
                    }
                }
            }
        }
    }

    /// The deadline of a call starting now.
    fn deadline(&self) -> Option<SystemTime> {
        self.inner.options.timeout.and_then(|t| SystemTime::now().checked_add(t))
    }

    /// How to run `request` for a `method` call on the program at `path`, with these options.
    fn invocation<'a, 'r>(
        &'a self,
        path: &'a Path,
        request: &'a [u8],
        method: Method,
        stdin: Stdin<'r>,
        cancel: Option<BorrowedFd<'a>>,
    ) -> Invocation<'a, 'r> {
        let o = &self.inner.options;
        Invocation {
            program: path,
            version: PROTOCOL_VERSION,
            request,
            stdin: if method.takes_message() { stdin } else { Stdin::Null },
            timeout: o.timeout,
            stdout_limit: o.stdout_limit,
            stderr: o.stderr,
            cancel,
        }
    }

    /// The error a failed plugin run makes.
    fn run_failed(&self, method: Method, failure: RunFailure) -> Error {
        run_error(self.call_site(method), failure.error, StderrTail(failure.stderr_tail), &self.inner.options)
    }

    /// The result of a plugin run: its response decoded, or the error the run ended with.
    fn conclude(&self, method: Method, run: std::result::Result<process::Output, RunFailure>) -> Result<MethodResult> {
        let site = || self.call_site(method);
        match run {
            Ok(out) => {
                let stderr = StderrTail(out.stderr_tail);
                decode_response(method, &out.stdout).map_err(|e| match e {
                    ResponseError::Invalid(d) => Error::invalid_response(site(), d.to_string(), &out.stdout, stderr),
                    ResponseError::Returned(m) => Error::plugin_returned(site(), &m, stderr),
                })
            }
            Err(failure) => Err(self.run_failed(method, failure)),
        }
    }

    /// Runs one call on Tokio's blocking pool; dropping the future kills the plugin.
    ///
    /// A plugin program with its message in memory (or none) is started right here, on the
    /// calling task's thread (the start returns once the plugin runs), and only the waiting goes
    /// to the blocking pool: that hand-off then happens while the plugin starts up instead of
    /// before, and no reader can block this thread.
    async fn invoke_async(&self, call: Call, message: Option<Message>) -> Result<MethodResult> {
        let method = call.method();
        let cancel = Arc::new(CancelPipe::new().map_err(|e| {
            Error::exec(self.call_site(method), "cannot create a cancellation pipe", Some(e), StderrTail::default())
        })?);
        let on_drop = CancelOnDrop(Some(Arc::clone(&cancel)));
        let in_memory = match &message {
            None => true,
            Some(m) => matches!(m.0, MessageSource::Bytes(_)),
        };
        let task = if in_memory && self.program_path().is_some() {
            let bytes = match message.map(|m| m.0) {
                Some(MessageSource::Bytes(b)) => Some(Box::new(b) as InMemory),
                _ => None,
            };
            let running = self.start(&call, bytes, |_, _, r| Ok(r))?;
            tokio::task::spawn_blocking(move || running.wait(Some(cancel.watch())))
        } else {
            let this = self.clone();
            tokio::task::spawn_blocking(move || {
                let mut reader;
                let stdin = match message.map(|m| m.0) {
                    None => Stdin::Null,
                    Some(MessageSource::Bytes(b)) => Stdin::Bytes(Box::new(b)),
                    Some(MessageSource::Reader(r)) => {
                        reader = r;
                        Stdin::Reader(&mut reader)
                    }
                };
                this.invoke(&call, stdin, Some(cancel.watch()))
            })
        };
        let result = task.await;
        on_drop.disarm();
        result.unwrap_or_else(|e| {
            Err(Error::exec(
                self.call_site(method),
                format!("the worker thread failed: {e}"),
                None,
                StderrTail::default(),
            ))
        })
    }

    // ----- async API -------------------------------------------------------------------------

    /// The algorithm the plugin creates keys with by default.
    pub async fn default_algorithm(&self) -> Result<String> {
        expect_default_algorithm(self.invoke_async(Call::DefaultAlgorithm, None).await?)
    }

    /// The algorithms the plugin can create keys with.
    pub async fn supported_algorithms(&self) -> Result<Vec<String>> {
        expect_supported(self.invoke_async(Call::SupportedAlgorithms, None).await?)
    }

    /// Creates the key with `algorithm` (or gets the existing one) and returns its public key.
    pub async fn create_key(&self, algorithm: &str) -> Result<PublicKey> {
        let r = self.invoke_async(Call::CreateKey(algorithm.to_owned()), None).await?;
        self.expect_key(Method::CreateKey, r)
    }

    /// The public key.
    pub async fn public_key(&self) -> Result<PublicKey> {
        let r = self.invoke_async(Call::PublicKey, None).await?;
        self.expect_key(Method::PublicKey, r)
    }

    /// Signs `message` (streamed to the plugin's stdin).
    pub async fn sign_message(&self, message: impl Into<Message>) -> Result<Vec<u8>> {
        expect_signature(self.invoke_async(Call::Sign { digest: None, hash: None }, Some(message.into())).await?)
    }

    /// Signs a precomputed `digest` made with `hash` (Go's `CryptoSigner` path: the digest and
    /// hash function in the request, empty stdin).
    pub async fn sign_digest(&self, digest: &[u8], hash: HashFunc) -> Result<Vec<u8>> {
        let call = Call::Sign { digest: Some(digest.to_vec()), hash: Some(hash) };
        expect_signature(self.invoke_async(call, Some(Message::from(Vec::new()))).await?)
    }

    /// Verifies `signature` over `message` through the plugin; `Ok(())` means valid.
    pub async fn verify_signature(&self, signature: &[u8], message: impl Into<Message>) -> Result<()> {
        let call = Call::Verify { signature: signature.to_vec(), digest: None, hash: None };
        self.invoke_async(call, Some(message.into())).await.map(drop)
    }

    /// Verifies `signature` over a precomputed `digest` made with `hash`.
    pub async fn verify_digest(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<()> {
        let call = Call::Verify { signature: signature.to_vec(), digest: Some(digest.to_vec()), hash: Some(hash) };
        self.invoke_async(call, Some(Message::from(Vec::new()))).await.map(drop)
    }

    // ----- blocking API ----------------------------------------------------------------------

    /// Blocking twin of [`PluginSignerVerifier::default_algorithm`].
    pub fn default_algorithm_blocking(&self) -> Result<String> {
        expect_default_algorithm(self.invoke(&Call::DefaultAlgorithm, Stdin::Null, None)?)
    }

    /// Blocking twin of [`PluginSignerVerifier::supported_algorithms`].
    pub fn supported_algorithms_blocking(&self) -> Result<Vec<String>> {
        expect_supported(self.invoke(&Call::SupportedAlgorithms, Stdin::Null, None)?)
    }

    /// Blocking twin of [`PluginSignerVerifier::create_key`].
    pub fn create_key_blocking(&self, algorithm: &str) -> Result<PublicKey> {
        let r = self.invoke(&Call::CreateKey(algorithm.to_owned()), Stdin::Null, None)?;
        self.expect_key(Method::CreateKey, r)
    }

    /// Blocking twin of [`PluginSignerVerifier::public_key`].
    pub fn public_key_blocking(&self) -> Result<PublicKey> {
        let r = self.invoke(&Call::PublicKey, Stdin::Null, None)?;
        self.expect_key(Method::PublicKey, r)
    }

    /// Blocking twin of [`PluginSignerVerifier::sign_message`]; `message` is streamed.
    pub fn sign_message_blocking(&self, mut message: impl Read) -> Result<Vec<u8>> {
        expect_signature(self.invoke(&Call::Sign { digest: None, hash: None }, Stdin::Reader(&mut message), None)?)
    }

    /// Blocking twin of [`PluginSignerVerifier::sign_digest`].
    pub fn sign_digest_blocking(&self, digest: &[u8], hash: HashFunc) -> Result<Vec<u8>> {
        let call = Call::Sign { digest: Some(digest.to_vec()), hash: Some(hash) };
        expect_signature(self.invoke(&call, Stdin::Bytes(Box::new([0u8; 0])), None)?)
    }

    /// Blocking twin of [`PluginSignerVerifier::verify_signature`].
    pub fn verify_signature_blocking(&self, signature: &[u8], mut message: impl Read) -> Result<()> {
        let call = Call::Verify { signature: signature.to_vec(), digest: None, hash: None };
        self.invoke(&call, Stdin::Reader(&mut message), None).map(drop)
    }

    /// Blocking twin of [`PluginSignerVerifier::verify_digest`].
    pub fn verify_digest_blocking(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<()> {
        let call = Call::Verify { signature: signature.to_vec(), digest: Some(digest.to_vec()), hash: Some(hash) };
        self.invoke(&call, Stdin::Bytes(Box::new([0u8; 0])), None).map(drop)
    }

    fn expect_key(&self, method: Method, r: MethodResult) -> Result<PublicKey> {
        match r {
            MethodResult::CreateKey { public_key_pem } | MethodResult::PublicKey { public_key_pem } => {
                PublicKey::from_pem(&public_key_pem).map_err(|reason| {
                    Error::invalid_response(
                        self.call_site(method),
                        format!("publicKeyPEM: {reason}"),
                        &public_key_pem,
                        StderrTail::default(),
                    )
                })
            }
            other => Err(mismatch(self.call_site(method), &other)),
        }
    }
}

fn run_handler(
    handler: &dyn KmsHandler,
    ctx: &CallContext,
    call: &Call,
    message: &mut dyn Read,
) -> Result<MethodResult, crate::HandlerError> {
    Ok(match call {
        Call::DefaultAlgorithm => MethodResult::DefaultAlgorithm(handler.default_algorithm(ctx)?),
        Call::SupportedAlgorithms => MethodResult::SupportedAlgorithms(handler.supported_algorithms(ctx)?),
        Call::CreateKey(alg) => MethodResult::CreateKey { public_key_pem: handler.create_key(ctx, alg)?.into_bytes() },
        Call::PublicKey => MethodResult::PublicKey { public_key_pem: handler.public_key(ctx)?.into_bytes() },
        Call::Sign { digest, hash } => {
            let opts = MessageOptions { digest: Some(digest.clone()), hash_func: *hash };
            MethodResult::SignMessage { signature: handler.sign_message(ctx, message, &opts)? }
        }
        Call::Verify { signature, digest, hash } => {
            let opts = MessageOptions { digest: Some(digest.clone()), hash_func: *hash };
            handler.verify_signature(ctx, signature, message, &opts)?;
            MethodResult::VerifySignature
        }
    })
}

/// Triggers the cancellation pipe when an async call's future is dropped before it finished.
struct CancelOnDrop(Option<Arc<CancelPipe>>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.trigger();
        }
    }
}

fn mismatch(site: CallSite, got: &MethodResult) -> Error {
    Error::invalid_response(site, format!("internal: got a {} result", got.method()), b"", StderrTail::default())
}

fn expect_default_algorithm(r: MethodResult) -> Result<String> {
    match r {
        MethodResult::DefaultAlgorithm(a) => Ok(a),
        other => Err(unexpected(&other)),
    }
}

fn expect_supported(r: MethodResult) -> Result<Vec<String>> {
    match r {
        MethodResult::SupportedAlgorithms(a) => Ok(a),
        other => Err(unexpected(&other)),
    }
}

fn expect_signature(r: MethodResult) -> Result<Vec<u8>> {
    match r {
        MethodResult::SignMessage { signature } => Ok(signature),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(r: &MethodResult) -> Error {
    mismatch(CallSite { plugin: String::new(), path: None, method: r.method() }, r)
}

fn run_error(site: CallSite, error: RunError, stderr: StderrTail, o: &Options) -> Error {
    match error {
        RunError::RequestTooLong(n) => Error::exec(
            site,
            format!(
                "the request is {n} bytes, more than the {} bytes Linux accepts in one program argument; \
                 nothing was run (use a shorter key reference or signature)",
                process::MAX_ARG_BYTES - 1
            ),
            None,
            stderr,
        ),
        RunError::Spawn(e) => {
            let hint = match e.raw_os_error() {
                Some(libc::ENOEXEC) => {
                    "exec format error: the file is neither a binary for this machine nor a script with a \"#!\" line"
                }
                Some(libc::EACCES) => {
                    "permission denied: the program (or its interpreter) is not executable by this user"
                }
                Some(libc::ENOENT) => {
                    "the program or its \"#!\" interpreter does not exist (was it removed after discovery?)"
                }
                Some(libc::E2BIG) => "the arguments and environment are too large for the kernel",
                _ => "could not start the plugin program",
            };
            Error::exec(site, format!("{hint}: {e}"), Some(e), stderr)
        }
        RunError::Signaled { signal, core_dumped } => Error::exec(
            site,
            format!(
                "the plugin was killed by signal {signal} ({}){}",
                signal_name(signal),
                if core_dumped { ", core dumped" } else { "" }
            ),
            None,
            stderr,
        ),
        RunError::Timeout => Error::Timeout { call: Box::new(site), timeout: o.timeout.unwrap_or_default(), stderr },
        RunError::OutputTooLarge => Error::OutputTooLarge { call: Box::new(site), limit: o.stdout_limit, stderr },
        RunError::Cancelled => Error::exec(site, "the call was cancelled; the plugin was killed", None, stderr),
        RunError::ReadMessage(e) => {
            Error::exec(site, format!("reading the message to send failed: {e}"), Some(e), stderr)
        }
        RunError::Io(e) => Error::exec(site, format!("talking to the plugin failed: {e}"), Some(e), stderr),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        _ => "signal",
    }
}
