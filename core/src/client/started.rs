//! Calls started on a plugin process and driven by the caller's event loop.
//!
//! The async methods of [`PluginSignerVerifier`] run each plugin on Tokio's blocking pool. A
//! binding that has an event loop of its own (libuv, asyncio) does better by watching the
//! plugin's pipes itself: no thread and no cross-thread wake-up per call. [`RunningCall`] is that
//! interface: the `start_*` methods spawn the plugin, the loop drives the call with
//! [`RunningCall::on_ready`] and [`RunningCall::on_timer`] as the [`crate::process::exchange`] contract
//! says, and the last step returns the method's result, exactly as the async method would.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use super::{expect_default_algorithm, expect_signature, expect_supported, Call, InMemory, PluginSignerVerifier};
use crate::error::{Error, Result, StderrTail};
use crate::process::{self, Channel, Exchange, RunResult, Stdin, Watches};
use crate::protocol::{HashFunc, Method, MethodResult};
use crate::public_key::PublicKey;

/// Turns a method's decoded result into what the method returns.
type Expect<T> = fn(&PluginSignerVerifier, Method, MethodResult) -> Result<T>;

/// A call whose plugin is running, driven by an event loop (see the
/// [`crate::process::exchange`] module for the contract).
///
/// Dropping it before it finished kills the plugin's process group and reaps the plugin.
///
/// ```no_run
/// # use sigstore_kms_plugins::{get_signer_verifier, Options};
/// # use sigstore_kms_plugins::process::Channel;
/// let sv = get_signer_verifier("mykms://key", Options::default())?;
/// let mut call = sv.start_sign_message(b"hello".to_vec())?;
/// // A real driver registers `call.watches()` with its loop; this one polls them in turn.
/// let signature = loop {
///     let ready = Channel::ALL.into_iter().find(|c| call.watches().get(*c).is_some());
///     let step = match ready {
///         Some(channel) => call.on_ready(channel),
///         None => call.on_timer(),
///     };
///     call.release_closed();
///     if let Some(result) = step {
///         break result?;
///     }
/// };
/// # let _ = signature;
/// # Ok::<(), sigstore_kms_plugins::Error>(())
/// ```
pub struct RunningCall<T> {
    exchange: Exchange<'static>,
    sv: PluginSignerVerifier,
    method: Method,
    expect: Expect<T>,
}

// SAFETY: the one field that is not `Send` by its type is the exchange's message source, which
// may borrow a non-`Send` reader in general; a `RunningCall` is only ever made by `start`, whose
// message is `InMemory` (`Send` bytes) or none, so it holds no reader. The rest (a pid,
// descriptors, buffers, a signer-verifier, a fn pointer) is `Send`.
unsafe impl<T> Send for RunningCall<T> {}

impl<T> std::fmt::Debug for RunningCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCall")
            .field("method", &self.method)
            .field("pid", &self.exchange.pid())
            .field("watches", &self.exchange.watches())
            .finish_non_exhaustive()
    }
}

impl<T> RunningCall<T> {
    /// The plugin's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.exchange.pid()
    }

    /// The descriptors to watch now (none once the call is over).
    #[must_use]
    pub fn watches(&self) -> Watches {
        self.exchange.watches()
    }

    /// When [`RunningCall::on_timer`] must run next, if ever.
    #[must_use]
    pub fn next_timer(&self) -> Option<Instant> {
        self.exchange.next_timer()
    }

    /// `channel`'s descriptor is ready; `Some` with the method's result when the call is over.
    pub fn on_ready(&mut self, channel: Channel) -> Option<Result<T>> {
        let outcome = self.exchange.on_ready(channel)?;
        Some(self.conclude(outcome))
    }

    /// The time of [`RunningCall::next_timer`] came; `Some` when the call is over (timed out).
    pub fn on_timer(&mut self) -> Option<Result<T>> {
        let outcome = self.exchange.on_timer()?;
        Some(self.conclude(outcome))
    }

    /// Closes the descriptors that left [`RunningCall::watches`], once the loop no longer
    /// watches them.
    pub fn release_closed(&mut self) {
        self.exchange.release_closed();
    }

    /// Gives up: kills the plugin's process group, reaps the plugin, and returns the
    /// cancellation error (an [`Error::Exec`]).
    pub fn cancel(&mut self) -> Result<T> {
        let outcome = self.exchange.cancel();
        self.conclude(outcome)
    }

    /// Drives the call to its end on this thread (the blocking engine: `poll(2)`); a readable
    /// `cancel` kills the plugin and ends the call as cancelled.
    pub(crate) fn wait(mut self, cancel: Option<BorrowedFd<'_>>) -> Result<T> {
        let outcome = process::wait(&mut self.exchange, cancel);
        self.conclude(outcome)
    }

    fn conclude(&self, outcome: RunResult) -> Result<T> {
        let result = self.sv.conclude(self.method, outcome)?;
        (self.expect)(&self.sv, self.method, result)
    }
}

impl PluginSignerVerifier {
    /// Spawns the plugin for `call` with `message` (in memory: never a reader, which is what
    /// makes `RunningCall` `Send`) as its stdin.
    pub(super) fn start<T>(&self, call: &Call, message: Option<InMemory>, expect: Expect<T>) -> Result<RunningCall<T>> {
        let method = call.method();
        let super::Backend::Program { path, .. } = &self.inner.backend else {
            return Err(Error::exec(
                self.call_site(method),
                "an in-process provider runs no process: use the async or blocking methods for it \
                 (program_path() is None for such a key)",
                None,
                StderrTail::default(),
            ));
        };
        let request = self.request(call, self.deadline()).to_json();
        let stdin = message.map_or(Stdin::Null, Stdin::Bytes);
        match Exchange::start(self.invocation(path, &request, method, stdin, None)) {
            Ok(exchange) => Ok(RunningCall { exchange, sv: self.clone(), method, expect }),
            Err(failure) => Err(self.run_failed(method, failure)),
        }
    }

    /// Starts [`PluginSignerVerifier::default_algorithm`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// The plugin cannot be started, or this key is served by an in-process provider.
    pub fn start_default_algorithm(&self) -> Result<RunningCall<String>> {
        self.start(&Call::DefaultAlgorithm, None, |_, _, r| expect_default_algorithm(r))
    }

    /// Starts [`PluginSignerVerifier::supported_algorithms`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_supported_algorithms(&self) -> Result<RunningCall<Vec<String>>> {
        self.start(&Call::SupportedAlgorithms, None, |_, _, r| expect_supported(r))
    }

    /// Starts [`PluginSignerVerifier::create_key`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_create_key(&self, algorithm: &str) -> Result<RunningCall<PublicKey>> {
        self.start(&Call::CreateKey(algorithm.to_owned()), None, PluginSignerVerifier::expect_key)
    }

    /// Starts [`PluginSignerVerifier::public_key`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_public_key(&self) -> Result<RunningCall<PublicKey>> {
        self.start(&Call::PublicKey, None, PluginSignerVerifier::expect_key)
    }

    /// Starts [`PluginSignerVerifier::sign_message`] of bytes in memory (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_sign_message(&self, message: impl AsRef<[u8]> + Send + 'static) -> Result<RunningCall<Vec<u8>>> {
        let call = Call::Sign { digest: None, hash: None };
        self.start(&call, Some(Box::new(message)), |_, _, r| expect_signature(r))
    }

    /// Starts [`PluginSignerVerifier::sign_digest`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_sign_digest(&self, digest: &[u8], hash: HashFunc) -> Result<RunningCall<Vec<u8>>> {
        let call = Call::Sign { digest: Some(digest.to_vec()), hash: Some(hash) };
        self.start(&call, Some(Box::new([0u8; 0])), |_, _, r| expect_signature(r))
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
        let call = Call::Verify { signature: signature.to_vec(), digest: None, hash: None };
        self.start(&call, Some(Box::new(message)), |_, _, _| Ok(()))
    }

    /// Starts [`PluginSignerVerifier::verify_digest`] (see [`RunningCall`]).
    ///
    /// # Errors
    /// As [`PluginSignerVerifier::start_default_algorithm`].
    pub fn start_verify_digest(&self, signature: &[u8], digest: &[u8], hash: HashFunc) -> Result<RunningCall<()>> {
        let call = Call::Verify { signature: signature.to_vec(), digest: Some(digest.to_vec()), hash: Some(hash) };
        self.start(&call, Some(Box::new([0u8; 0])), |_, _, _| Ok(()))
    }
}
