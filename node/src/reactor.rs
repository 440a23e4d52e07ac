//! Every call as a promise: the core's [`Reactor`] on Node's event loop, its completions
//! turned into settled promises.
//!
//! One reactor per JavaScript environment (the main thread's, or a worker's), watched by one
//! libuv poll handle on its descriptor. Every call, whatever its route, is submitted to it: a
//! plugin program with its message in memory (or none) is spawned on the JavaScript thread (as
//! Node's `child_process` does; the spawn returns once the plugin has exec'd) and driven with
//! non-blocking I/O from the poll callback, with no thread; a file, a stream or an in-process
//! provider runs on a worker thread of the core, its result coming back through the same
//! descriptor. Promises are settled from the poll callback, inside one callback scope per turn,
//! whose closing runs their reactions at once. The handle keeps the loop alive only while calls
//! are in flight.
//!
//! When the environment is torn down (a worker thread ending), every call in flight ends with
//! it: the reactor kills the plugins of the calls it drives at once and cancels the thread calls
//! (whose plugins their workers kill), and the message streams those calls read are closed so
//! that no worker stays blocked reading one. Nobody is left to settle the promises.
//!
//! The `unsafe` here (napi's promise, scope and cleanup-hook calls, and the poll callback) and in
//! [`crate::uv`] is all the addon has besides single napi conversions; each block says why it is
//! sound.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::fd::AsRawFd;
use std::ptr;
use std::rc::Rc;
use std::sync::Weak;

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env, JsError};
use sigstore_kms_plugins::{Reactor, Reply, Route};

use crate::message::SinkShared;
use crate::uv;

/// The reactor of this thread's JavaScript environment, with what the addon keeps around it.
struct EnvReactor {
    env: sys::napi_env,
    event_loop: *mut uv::Loop,
    reactor: Reactor,
    /// The poll handle on the reactor's descriptor.
    handle: Cell<*mut uv::Handle>,
    /// The async resource (a referenced object) and context of the callback scopes, made once:
    /// one per call would cost an object, a string and an async id each time.
    async_context: Cell<Option<(sys::napi_ref, sys::napi_async_context)>>,
    /// The message streams given to calls, closed at teardown.
    sinks: RefCell<Vec<Weak<SinkShared>>>,
}

thread_local! {
    /// This thread's environment's reactor (Node runs one environment per thread).
    static CURRENT: RefCell<Option<Rc<EnvReactor>>> = const { RefCell::new(None) };
}

/// Settles a call's promise, on the JavaScript thread.
struct Pending {
    env: sys::napi_env,
    deferred: sys::napi_deferred,
}

// SAFETY: a `Pending` is made on the JavaScript thread and only used there: the reactor calls a
// completion from `dispatch`, which only the poll callback calls (on the JavaScript thread), and
// drops an uncalled one from `cancel_all` at teardown (on the JavaScript thread too). The core
// requires completions to be `Send` because its reactor can be shared; this one is not.
unsafe impl Send for Pending {}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), format!("napi failed to {what}")))
    }
}

impl EnvReactor {
    /// This environment's reactor, made (and its poll handle and teardown hook registered) on
    /// first use.
    fn get(env: &Env) -> napi::Result<Rc<EnvReactor>> {
        if let Some(current) = CURRENT.with(|c| c.borrow().clone()) {
            return Ok(current);
        }
        if !uv::available() {
            return Err(napi::Error::from_reason(
                "this Node's libuv does not have the poll handles the addon needs (libuv 1.x)",
            ));
        }
        let reactor = Reactor::new().map_err(|e| napi::Error::from_reason(format!("cannot make the reactor: {e}")))?;
        let state = Rc::new(EnvReactor {
            env: env.raw(),
            event_loop: env.get_uv_event_loop()?.cast::<uv::Loop>(),
            reactor,
            handle: Cell::new(ptr::null_mut()),
            async_context: Cell::new(None),
            sinks: RefCell::new(Vec::new()),
        });
        let fd = state.reactor.fd().as_raw_fd();
        // SAFETY: this thread's running loop; the state outlives the handle (the teardown hook
        // closes the handle before it drops the state); the fd stays open as long as the reactor.
        let handle = unsafe { uv::watch(state.event_loop, fd, Rc::as_ptr(&state).cast_mut().cast(), on_readable) }
            .ok_or_else(|| napi::Error::from_reason("libuv cannot watch the reactor's descriptor"))?;
        state.handle.set(handle);
        // SAFETY: registers a plain function; the state it tears down is this thread's.
        check(unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(teardown), ptr::null_mut()) }, "add a hook")?;
        CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&state)));
        Ok(state)
    }

    /// This environment's async resource object (in the current handle scope) and context.
    fn async_context(&self) -> Option<(sys::napi_value, sys::napi_async_context)> {
        let env = self.env;
        // SAFETY: napi calls on the JavaScript thread with a live environment and an open scope.
        unsafe {
            if let Some((reference, context)) = self.async_context.get() {
                let mut resource = ptr::null_mut();
                sys::napi_get_reference_value(env, reference, &raw mut resource);
                return (!resource.is_null()).then_some((resource, context));
            }
            let mut resource = ptr::null_mut();
            sys::napi_create_object(env, &raw mut resource);
            let mut name = ptr::null_mut();
            let label = "sigstoreKmsPluginCall";
            sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len().cast_signed(), &raw mut name);
            let mut context = ptr::null_mut();
            let mut reference = ptr::null_mut();
            if sys::napi_async_init(env, resource, name, &raw mut context) != sys::Status::napi_ok
                || sys::napi_create_reference(env, resource, 1, &raw mut reference) != sys::Status::napi_ok
            {
                return None;
            }
            self.async_context.set(Some((reference, context)));
            Some((resource, context))
        }
    }
}

/// Returns a promise for `route`, run by this environment's reactor; it resolves with what
/// `convert` makes of the reply, or rejects with the call's error.
pub fn submit<V: ToNapiValue + 'static>(
    env: &Env,
    route: Route,
    convert: fn(Reply) -> V,
) -> napi::Result<PromiseRaw<'_, V>> {
    let state = EnvReactor::get(env)?;
    let (pending, promise) = create_promise(env)?;
    state.reactor.submit(route, move |result| {
        let settle = move |env: &Env| match result {
            // SAFETY: called on the JavaScript thread with a live environment and an open scope.
            Ok(reply) => unsafe { V::to_napi_value(env.raw(), convert(reply)) },
            Err(e) => Err(crate::error::to_js(env, &e)),
        };
        settle_pending(pending, settle);
    });
    // SAFETY: the live handle of this environment.
    unsafe { uv::set_ref(state.handle.get(), true) };
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// A promise already rejected with `error` (an argument that could not be used).
pub fn rejected<V>(env: &Env, error: napi::Error) -> napi::Result<PromiseRaw<'_, V>> {
    let (pending, promise) = create_promise(env)?;
    // SAFETY: napi calls on the JavaScript thread, inside a call from JavaScript.
    unsafe { sys::napi_reject_deferred(env.raw(), pending.deferred, JsError::from(error).into_value(env.raw())) };
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// Closes `sink` if the environment goes away while a call reads it.
pub fn track_sink(env: &Env, sink: Weak<SinkShared>) -> napi::Result<()> {
    let state = EnvReactor::get(env)?;
    let mut sinks = state.sinks.borrow_mut();
    sinks.retain(|s| s.strong_count() > 0);
    sinks.push(sink);
    Ok(())
}

fn create_promise(env: &Env) -> napi::Result<(Pending, sys::napi_value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: napi calls on the JavaScript thread, inside a call from JavaScript.
    check(unsafe { sys::napi_create_promise(env.raw(), &raw mut deferred, &raw mut promise) }, "create a promise")?;
    Ok((Pending { env: env.raw(), deferred }, promise))
}

/// Settles a promise from the poll callback (which has opened the scopes).
fn settle_pending(pending: Pending, settle: impl FnOnce(&Env) -> napi::Result<sys::napi_value>) {
    let env = pending.env;
    // SAFETY: on the JavaScript thread (see `Pending`), inside the poll callback's scopes; the
    // deferred is settled once.
    unsafe {
        let js_env = Env::from_raw(env);
        match settle(&js_env) {
            Ok(value) => sys::napi_resolve_deferred(env, pending.deferred, value),
            Err(error) => sys::napi_reject_deferred(env, pending.deferred, JsError::from(error).into_value(env)),
        };
    }
}

/// The poll callback: the reactor's descriptor is readable. Runs what is due inside a handle
/// scope and a callback scope (whose closing runs the settled promises' reactions).
unsafe extern "C" fn on_readable(handle: *mut uv::Handle, _status: c_int, _events: c_int) {
    // SAFETY: the handle's data is its environment's state, alive until the handle is closed.
    let state = unsafe { &*uv::data(handle).cast::<EnvReactor>() };
    let env = state.env;
    // SAFETY: napi calls on the JavaScript thread with a live environment.
    unsafe {
        let mut scope = ptr::null_mut();
        sys::napi_open_handle_scope(env, &raw mut scope);
        let mut callback_scope = ptr::null_mut();
        let opened = match state.async_context() {
            Some((resource, context)) => {
                sys::napi_open_callback_scope(env, resource, context, &raw mut callback_scope) == sys::Status::napi_ok
            }
            None => false,
        };
        state.reactor.dispatch();
        if opened {
            sys::napi_close_callback_scope(env, callback_scope);
        }
        sys::napi_close_handle_scope(env, scope);
        // After the reactions ran (they may have made new calls): idle means the loop may end.
        if state.reactor.is_empty() {
            uv::set_ref(handle, false);
        }
    }
}

/// The environment is going away (a worker thread ends): every call ends with it (see the
/// module docs), and the handle is closed as libuv requires before its loop is.
unsafe extern "C" fn teardown(_: *mut c_void) {
    let Some(state) = CURRENT.with(|c| c.borrow_mut().take()) else { return };
    for sink in state.sinks.borrow_mut().drain(..) {
        if let Some(sink) = sink.upgrade() {
            sink.abort("the JavaScript environment is shutting down");
        }
    }
    state.reactor.cancel_all();
    // SAFETY: the live handle of this environment, closed once, before the reactor (and its
    // descriptor) is dropped with `state`.
    unsafe { uv::close(state.handle.replace(ptr::null_mut())) };
    if let Some((reference, context)) = state.async_context.take() {
        // SAFETY: made in this environment, released once, while it can still do it.
        unsafe {
            sys::napi_async_destroy(state.env, context);
            sys::napi_delete_reference(state.env, reference);
        }
    }
    let event_loop = state.event_loop;
    drop(state);
    // The loop will not turn again by itself: let the close callback run (and free the handle).
    // SAFETY: the loop of this environment, not running during teardown.
    unsafe { uv::run_nowait(event_loop) };
}
