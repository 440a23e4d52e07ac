//! The one routing decision: does a call run on the host's event loop, or on a thread?
//!
//! [`PluginSignerVerifier::route`] decides, once, for every host: a plugin program whose
//! message is in memory (or that has none) can be driven by an event loop with non-blocking
//! I/O only ([`Route::EventLoop`]); a message read from a reader or a file could block a loop
//! while it is read, and an in-process provider's handler is code that may block, so those need
//! a thread ([`Route::Thread`]). The blocking and async methods, the [`crate::Reactor`] and the
//! Python and Node bindings all take this decision from here.

use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use super::message::{Body, InMemory};
use super::{failure, on_tokio, Backend, Call, Message, PluginSignerVerifier, Reply, RunningCall};
use crate::error::{CallSite, Error, Result, StderrTail};
use crate::handler::{dispatch, CallContext};
use crate::process::{self, CancelPipe, Exchange, Stdin};

/// How a call runs: the answer of [`PluginSignerVerifier::route`].
#[derive(Debug)]
pub enum Route {
    /// On the host's event loop: start it with [`LoopCall::start`] (on the loop's thread; the
    /// start returns once the plugin runs) and drive the [`RunningCall`], or hand it to a
    /// [`crate::Reactor`].
    EventLoop(LoopCall),
    /// On a thread: [`ThreadCall::run`] blocks until the call is over.
    Thread(ThreadCall),
}

/// A call that an event loop can drive: a plugin program, the message in memory or none.
pub struct LoopCall {
    sv: PluginSignerVerifier,
    call: Call,
    message: Option<InMemory>,
}

/// A call that needs a thread: a message read from a reader, or an in-process provider.
pub struct ThreadCall {
    sv: PluginSignerVerifier,
    call: Call,
    message: Body,
}

impl std::fmt::Debug for LoopCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopCall").field("call", &self.call).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ThreadCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadCall").field("call", &self.call).finish_non_exhaustive()
    }
}

impl PluginSignerVerifier {
    /// Decides how `call` with `message` runs (see the module docs). The message is ignored by
    /// the methods that take none; for `signMessage` and `verifySignature`, no message is an
    /// empty one (what digest calls send).
    #[must_use]
    pub fn route(&self, call: Call, message: Message) -> Route {
        let body = if call.method().takes_message() {
            match message.0 {
                Body::Empty => Body::Bytes(Box::new([0u8; 0])),
                other => other,
            }
        } else {
            Body::Empty
        };
        let sv = self.clone();
        match (&self.inner.backend, body) {
            (Backend::Program { .. }, Body::Empty) => Route::EventLoop(LoopCall { sv, call, message: None }),
            (Backend::Program { .. }, Body::Bytes(b)) => Route::EventLoop(LoopCall { sv, call, message: Some(b) }),
            (_, message) => Route::Thread(ThreadCall { sv, call, message }),
        }
    }

    /// Runs `call` with `message` to its end on this thread, whatever its route.
    pub fn call_blocking(&self, call: Call, message: impl Into<Message>) -> Result<Reply> {
        match self.route(call, message.into()) {
            Route::EventLoop(c) => c.start()?.wait(None),
            Route::Thread(t) => t.run(None),
        }
    }

    /// Runs `call` with `message` in a Tokio runtime; dropping the future kills the plugin.
    ///
    /// An event-loop call is started right here, on the calling task's thread (the start
    /// returns once the plugin runs), and driven by the task itself, waiting in Tokio's poller
    /// (no blocking-pool thread). On a runtime built without `enable_io` it waits on Tokio's
    /// blocking pool instead (Tokio prints its "IO is disabled" panic message once, caught: see
    /// `client/on_tokio.rs`). A thread call (a reader or file message, an in-process provider)
    /// runs on the blocking pool.
    pub async fn call(&self, call: Call, message: impl Into<Message>) -> Result<Reply> {
        let method = call.method();
        let route = self.route(call, message.into());
        let route = match route {
            Route::EventLoop(c) => match on_tokio::register() {
                Some(Ok(registered)) => return registered.run(c).await,
                Some(Err(e)) => {
                    let reason = "cannot make the descriptors that watch the plugin";
                    return Err(Error::exec(self.call_site(method), reason, Some(e), StderrTail::default()));
                }
                None => Route::EventLoop(c),
            },
            thread @ Route::Thread(_) => thread,
        };
        let cancel = Arc::new(CancelPipe::new().map_err(|e| {
            Error::exec(self.call_site(method), "cannot create a cancellation pipe", Some(e), StderrTail::default())
        })?);
        let on_drop = CancelOnDrop(Some(Arc::clone(&cancel)));
        let task = match route {
            Route::EventLoop(c) => {
                let running = c.start()?;
                tokio::task::spawn_blocking(move || running.wait(Some(cancel.watch())))
            }
            Route::Thread(t) => tokio::task::spawn_blocking(move || t.run(Some(cancel.watch()))),
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

    /// Runs `call` on this thread with `stdin` (which may borrow the caller's reader): the
    /// engine of the blocking methods and of thread calls.
    pub(super) fn execute(&self, call: &Call, stdin: Stdin<'_>, cancel: Option<BorrowedFd<'_>>) -> Result<Reply> {
        let method = call.method();
        let site = self.call_site(method);
        let o = self.options();
        let deadline = self.deadline();
        match &self.inner.backend {
            Backend::Program { .. } => {
                let request = call.request(self.key_ref(), o, deadline).to_json();
                let run = process::run(self.invocation(&request, method, stdin, cancel));
                failure::conclude(&site, call, o, run)
            }
            Backend::Provider { handler, .. } => {
                let ctx = CallContext {
                    key_resource_id: self.key_ref().to_owned(),
                    hash_func: o.hash_func,
                    key_version: o.key_version.clone().unwrap_or_default(),
                    remote_verification: o.remote_verification,
                    deadline,
                };
                let mut empty = io::empty();
                let held;
                let mut bytes: &[u8];
                let message: &mut dyn Read = match stdin {
                    Stdin::Reader(r) => r,
                    Stdin::Bytes(b) => {
                        held = b;
                        bytes = (*held).as_ref();
                        &mut bytes
                    }
                    Stdin::Null => &mut empty,
                };
                let result = dispatch(handler.as_ref(), &ctx, call, message, "provider")
                    .map_err(|e| Error::handler_failed(site.clone(), e))?;
                Reply::from_result(&site, result)
            }
        }
    }
}

impl Route {
    /// The call to run.
    #[must_use]
    pub fn call(&self) -> &Call {
        match self {
            Route::EventLoop(c) => &c.call,
            Route::Thread(t) => &t.call,
        }
    }
}

impl LoopCall {
    /// Which plugin and method the call is for, as errors name it.
    #[must_use]
    pub fn call_site(&self) -> CallSite {
        self.sv.call_site(self.call.method())
    }

    /// Spawns the plugin (writing as much of the message as its pipe takes at once) and returns
    /// the call to drive.
    ///
    /// # Errors
    /// The request is too long for one argument, or the program cannot be started.
    pub fn start(self) -> Result<RunningCall<Reply>> {
        let LoopCall { sv, call, message } = self;
        let method = call.method();
        let request = call.request(sv.key_ref(), sv.options(), sv.deadline()).to_json();
        let stdin = message.map_or(Stdin::Null, Stdin::Bytes);
        let started = Exchange::start(sv.invocation(&request, method, stdin, None));
        match started {
            Ok(exchange) => Ok(RunningCall::new(exchange, sv, call)),
            Err(failure) => Err(failure::run_error(
                sv.call_site(method),
                failure.error,
                StderrTail(failure.stderr_tail),
                sv.options(),
            )),
        }
    }
}

impl ThreadCall {
    /// Which plugin (or provider) and method the call is for, as errors name it.
    #[must_use]
    pub fn call_site(&self) -> CallSite {
        self.sv.call_site(self.call.method())
    }

    /// Runs the call to its end on this thread; a readable `cancel` kills the plugin and ends
    /// the call as cancelled (an in-process provider's handler cannot be interrupted).
    pub fn run(self, cancel: Option<BorrowedFd<'_>>) -> Result<Reply> {
        let ThreadCall { sv, call, message } = self;
        let mut reader;
        let stdin = match message {
            Body::Empty => Stdin::Null,
            Body::Bytes(b) => Stdin::Bytes(b),
            Body::Reader(r) => {
                reader = r;
                Stdin::Reader(&mut reader)
            }
        };
        sv.execute(&call, stdin, cancel)
    }
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
