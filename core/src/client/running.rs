//! [`RunningCall`]: a call whose plugin is running, driven step by step by an event loop.
//!
//! The core's own [`crate::Reactor`] drives these for the Python and Node bindings (one
//! descriptor for every call in flight); a host with a loop of its own can drive one directly,
//! as the [`crate::process::exchange`] contract says: watch [`RunningCall::watches`], call
//! [`RunningCall::on_ready`] and [`RunningCall::on_timer`], release what left the watches, and
//! the step that ends the call returns the method's result, exactly as the blocking and async
//! methods would.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use super::{failure, Call, PluginSignerVerifier, Reply};
use crate::error::Result;
use crate::process::{self, Channel, Exchange, RunResult, Watches};

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
    call: Call,
    /// Turns the reply into what the typed method returns.
    map: fn(Reply) -> Result<T>,
}

// SAFETY: the one field that is not `Send` by its type is the exchange's message, which may
// borrow a non-`Send` reader in general; a `RunningCall` is only ever made by `LoopCall::start`,
// whose message is in memory (`Send` bytes) or none, so it holds no reader. The rest (a pid,
// descriptors, buffers, a signer-verifier, a call, a fn pointer) is `Send`.
unsafe impl<T> Send for RunningCall<T> {}

impl<T> std::fmt::Debug for RunningCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCall")
            .field("method", &self.call.method())
            .field("pid", &self.exchange.pid())
            .field("watches", &self.exchange.watches())
            .finish_non_exhaustive()
    }
}

impl RunningCall<Reply> {
    pub(super) fn new(exchange: Exchange<'static>, sv: PluginSignerVerifier, call: Call) -> Self {
        RunningCall { exchange, sv, call, map: Ok }
    }

    /// The same call, its reply turned into `T` by `map`.
    pub(super) fn map<T>(self, map: fn(Reply) -> Result<T>) -> RunningCall<T> {
        RunningCall { exchange: self.exchange, sv: self.sv, call: self.call, map }
    }
}

impl<T> RunningCall<T> {
    /// The plugin's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.exchange.pid()
    }

    /// The call being run.
    #[must_use]
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// Which plugin and method the call is for, as errors name it.
    #[must_use]
    pub fn call_site(&self) -> crate::CallSite {
        self.sv.call_site(self.call.method())
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
        let run = self.exchange.on_ready(channel)?;
        Some(self.conclude(run))
    }

    /// The time of [`RunningCall::next_timer`] came; `Some` when the call is over (timed out).
    pub fn on_timer(&mut self) -> Option<Result<T>> {
        let run = self.exchange.on_timer()?;
        Some(self.conclude(run))
    }

    /// Closes the descriptors that left [`RunningCall::watches`], once the loop no longer
    /// watches them.
    pub fn release_closed(&mut self) {
        self.exchange.release_closed();
    }

    /// Gives up: kills the plugin's process group, reaps the plugin, and returns the
    /// cancellation error (an [`crate::Error::Exec`]).
    pub fn cancel(&mut self) -> Result<T> {
        let run = self.exchange.cancel();
        self.conclude(run)
    }

    /// Waits on this thread for the call to end (the blocking engine: `poll(2)`); a readable
    /// `cancel` kills the plugin and ends the call as cancelled.
    pub(crate) fn wait(mut self, cancel: Option<BorrowedFd<'_>>) -> Result<T> {
        let run = process::wait(&mut self.exchange, cancel);
        self.conclude(run)
    }

    fn conclude(&self, run: RunResult) -> Result<T> {
        let reply = failure::conclude(&self.sv.call_site(self.call.method()), &self.call, self.sv.options(), run)?;
        (self.map)(reply)
    }
}
