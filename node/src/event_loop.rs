//! Plugin calls driven by Node's own event loop: no thread and no cross-thread wake-up per call.
//!
//! A call on a plugin program whose message is in memory (or that has none) is spawned on the
//! JavaScript thread, as Node's `child_process` does (the spawn returns once the plugin has
//! exec'd), and the core's [`RunningCall`] is then driven by libuv poll handles on the plugin's
//! pipes and pidfd plus one timer, all on the same loop. Every step is non-blocking I/O; the
//! promise settles from the step that ends the call, inside a callback scope so that its
//! reactions run at once. Calls whose message is a file or a stream, and in-process providers,
//! keep running on the thread pool (`signer.rs`).
//!
//! Descriptors are unwatched before the core closes them (see `process::exchange` in the core):
//! a closed number could otherwise be reused by the next call's pipe while libuv still watches
//! it. When the environment is torn down (a worker thread ending) with calls in flight, their
//! plugins are killed and reaped and their handles closed, as libuv requires before its loop
//! is closed.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr;
use std::time::Instant;

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env, JsError};
use sigstore_kms_plugins::process::{Channel, Watches};
use sigstore_kms_plugins::RunningCall;

use crate::uv;

/// Settles a call's promise: the value to resolve with, or the error to reject with.
type Settle = Box<dyn FnOnce(&Env) -> napi::Result<sys::napi_value>>;

/// A [`RunningCall`] with its result type erased.
trait Drive {
    fn watches(&self) -> Watches;
    fn next_timer(&self) -> Option<Instant>;
    fn on_ready(&mut self, channel: Channel) -> Option<Settle>;
    fn on_timer(&mut self) -> Option<Settle>;
    fn release_closed(&mut self);
    fn cancel(&mut self);
}

struct Driven<T, V> {
    call: RunningCall<T>,
    convert: fn(T) -> V,
}

fn settle_with<T: 'static, V: ToNapiValue + 'static>(
    result: sigstore_kms_plugins::Result<T>,
    convert: fn(T) -> V,
) -> Settle {
    Box::new(move |env| match result {
        // SAFETY: called on the JavaScript thread with a live environment and an open scope.
        Ok(value) => unsafe { V::to_napi_value(env.raw(), convert(value)) },
        Err(e) => Err(crate::error::to_js(env, &e)),
    })
}

impl<T: 'static, V: ToNapiValue + 'static> Drive for Driven<T, V> {
    fn watches(&self) -> Watches {
        self.call.watches()
    }
    fn next_timer(&self) -> Option<Instant> {
        self.call.next_timer()
    }
    fn on_ready(&mut self, channel: Channel) -> Option<Settle> {
        let result = self.call.on_ready(channel)?;
        Some(settle_with(result, self.convert))
    }
    fn on_timer(&mut self) -> Option<Settle> {
        let result = self.call.on_timer()?;
        Some(settle_with(result, self.convert))
    }
    fn release_closed(&mut self) {
        self.call.release_closed();
    }
    fn cancel(&mut self) {
        let _ = self.call.cancel();
    }
}

/// One call in flight. Owned through a raw pointer stored in its libuv handles; freed once the
/// call is over and the last handle's close callback ran.
struct CallState {
    env: sys::napi_env,
    event_loop: *mut uv::Loop,
    deferred: sys::napi_deferred,
    task: Box<dyn Drive>,
    /// Poll handle and fd per channel, in the order of [`Channel::ALL`].
    polls: [Option<(*mut uv::Handle, RawFd)>; 4],
    timer: Option<*mut uv::Handle>,
    timer_due: Option<Instant>,
    /// Handles created and not yet through their close callback.
    open_handles: usize,
    finished: bool,
}

thread_local! {
    /// Calls in flight on this thread's environment, for the teardown hook.
    static LIVE: RefCell<Vec<*mut CallState>> = const { RefCell::new(Vec::new()) };
    /// The environment our teardown hook is registered with, if any.
    static HOOKED: Cell<Option<(sys::napi_env, *mut uv::Loop)>> = const { Cell::new(None) };
}

/// Whether calls can be driven by the event loop here (libuv is what we expect).
#[must_use]
pub fn available() -> bool {
    uv::available()
}

/// Returns a promise for `started` driven on this thread's event loop; a call that could not
/// start rejects it.
pub fn drive<T: 'static, V: ToNapiValue + 'static>(
    env: &Env,
    started: sigstore_kms_plugins::Result<RunningCall<T>>,
    convert: fn(T) -> V,
) -> napi::Result<PromiseRaw<'_, V>> {
    let raw = env.raw();
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: napi calls on the JavaScript thread, inside a call from JavaScript.
    check(unsafe { sys::napi_create_promise(raw, &raw mut deferred, &raw mut promise) })?;
    let call = match started {
        Ok(call) => call,
        Err(e) => {
            let error = crate::error::to_js(env, &e);
            // SAFETY: as above; the deferred is settled once.
            unsafe { sys::napi_reject_deferred(raw, deferred, JsError::from(error).into_value(raw)) };
            return Ok(PromiseRaw::new(raw, promise));
        }
    };
    let event_loop = env.get_uv_event_loop()?.cast::<uv::Loop>();
    if HOOKED.with(Cell::get).is_none() {
        // SAFETY: registers a plain function; its state is this thread's.
        check(unsafe { sys::napi_add_env_cleanup_hook(raw, Some(teardown), ptr::null_mut()) })?;
        HOOKED.with(|h| h.set(Some((raw, event_loop))));
    }
    let state = Box::into_raw(Box::new(CallState {
        env: raw,
        event_loop,
        deferred,
        task: Box::new(Driven { call, convert }),
        polls: [None; 4],
        timer: None,
        timer_due: None,
        open_handles: 0,
        finished: false,
    }));
    LIVE.with(|l| l.borrow_mut().push(state));
    // SAFETY: a fresh state on this thread; settling from here is within a JavaScript call.
    unsafe { sync(state) };
    Ok(PromiseRaw::new(raw, promise))
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), "napi call failed while starting a plugin call"))
    }
}

/// Brings the handles in line with what the call wants watched now, then lets the core close
/// what nobody watches any more.
///
/// # Safety
/// `p` is a live, unfinished call state of this thread.
unsafe fn sync(p: *mut CallState) {
    // SAFETY: per the caller; nothing else holds a reference while a callback runs.
    let s = unsafe { &mut *p };
    let watches = s.task.watches();
    for (i, channel) in Channel::ALL.into_iter().enumerate() {
        let want = watches.get(channel);
        if let Some((handle, fd)) = s.polls[i] {
            if want == Some(fd) {
                continue;
            }
            // SAFETY: a live poll handle of this call; closing stops the watch at once.
            unsafe { uv::close(handle, closed_poll) };
            s.polls[i] = None;
        }
        let Some(fd) = want else { continue };
        let events = if channel.writable() { uv::WRITABLE } else { uv::READABLE };
        // SAFETY: this thread's running loop; the state outlives its handles.
        let handle = unsafe { uv::poll_new(s.event_loop, fd, p.cast()) };
        let Some(handle) = handle else {
            return unsafe { fail(p, "libuv cannot watch a pipe of the plugin") };
        };
        s.open_handles += 1;
        s.polls[i] = Some((handle, fd));
        // SAFETY: the handle just made.
        if !unsafe { uv::poll_start(handle, events, on_poll) } {
            return unsafe { fail(p, "libuv cannot watch a pipe of the plugin") };
        }
    }
    s.task.release_closed();
    let due = s.task.next_timer();
    if due == s.timer_due {
        return;
    }
    s.timer_due = due;
    match due {
        Some(at) => {
            let timer = match s.timer {
                Some(t) => t,
                // SAFETY: as for the poll handles.
                None => match unsafe { uv::timer_new(s.event_loop, p.cast()) } {
                    Some(t) => {
                        s.open_handles += 1;
                        s.timer = Some(t);
                        t
                    }
                    None => return unsafe { fail(p, "libuv cannot make a timer") },
                },
            };
            // Rounded up: firing early would just re-arm.
            let micros = at.saturating_duration_since(Instant::now()).as_micros();
            let ms = u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX);
            // SAFETY: a live timer of this call.
            unsafe { uv::timer_start(timer, ms, on_timer) };
        }
        None => {
            if let Some(t) = s.timer {
                // SAFETY: a live timer of this call.
                unsafe { uv::timer_stop(t) };
            }
        }
    }
}

unsafe extern "C" fn on_poll(handle: *mut uv::Handle, _status: c_int, _events: c_int) {
    // An error status (the fd went bad) is handled like readiness: the I/O reports it.
    // SAFETY: our handles carry their call state, alive until their close callback.
    let p = unsafe { uv::data(handle) }.cast::<CallState>();
    // SAFETY: as above.
    let s = unsafe { &mut *p };
    if s.finished {
        return;
    }
    let Some(i) = s.polls.iter().position(|slot| slot.is_some_and(|(h, _)| h == handle)) else { return };
    let step = s.task.on_ready(Channel::ALL[i]);
    // SAFETY: a live, unfinished state of this thread.
    unsafe { advance(p, step) };
}

unsafe extern "C" fn on_timer(handle: *mut uv::Handle) {
    // SAFETY: as in `on_poll`.
    let p = unsafe { uv::data(handle) }.cast::<CallState>();
    // SAFETY: as above.
    let s = unsafe { &mut *p };
    if s.finished {
        return;
    }
    s.timer_due = None;
    let step = s.task.on_timer();
    // SAFETY: a live, unfinished state of this thread.
    unsafe { advance(p, step) };
}

/// After a step: settle if it ended the call, otherwise update the watches.
unsafe fn advance(p: *mut CallState, step: Option<Settle>) {
    match step {
        // SAFETY: per the caller.
        Some(settle) => unsafe { finish(p, settle) },
        // SAFETY: per the caller.
        None => unsafe { sync(p) },
    }
}

/// Ends a call that can no longer be driven: kills the plugin and rejects with `what`.
unsafe fn fail(p: *mut CallState, what: &'static str) {
    // SAFETY: per the caller.
    let s = unsafe { &mut *p };
    s.task.cancel();
    let settle: Settle = Box::new(move |_| Err(napi::Error::new(napi::Status::GenericFailure, what)));
    // SAFETY: per the caller.
    unsafe { finish(p, settle) };
}

/// Closes every handle of the call (the core then closes its descriptors).
unsafe fn close_all(s: &mut CallState) {
    for slot in &mut s.polls {
        if let Some((handle, _)) = slot.take() {
            // SAFETY: a live poll handle of this call, closed once.
            unsafe { uv::close(handle, closed_poll) };
        }
    }
    if let Some(timer) = s.timer.take() {
        // SAFETY: the live timer of this call, closed once.
        unsafe { uv::close(timer, closed_timer) };
    }
    s.task.release_closed();
}

/// The call is over: close its handles and settle its promise.
unsafe fn finish(p: *mut CallState, settle: Settle) {
    // SAFETY: per the caller.
    let s = unsafe { &mut *p };
    s.finished = true;
    // SAFETY: as above.
    unsafe { close_all(s) };
    LIVE.with(|l| l.borrow_mut().retain(|x| *x != p));
    // SAFETY: the environment is alive (teardown removes its calls from LIVE first).
    unsafe { resolve(s.env, s.deferred, settle) };
    // SAFETY: as above.
    unsafe { free_if_done(p) };
}

/// Settles `deferred` from a libuv callback: in a handle scope and a callback scope, whose
/// closing runs the promise's reactions (microtasks) right away.
unsafe fn resolve(env: sys::napi_env, deferred: sys::napi_deferred, settle: Settle) {
    // SAFETY: napi calls on the JavaScript thread with a live environment.
    unsafe {
        let mut scope = ptr::null_mut();
        sys::napi_open_handle_scope(env, &raw mut scope);
        let mut callback_scope = ptr::null_mut();
        let opened = match async_context(env) {
            Some((resource, context)) => {
                sys::napi_open_callback_scope(env, resource, context, &raw mut callback_scope) == sys::Status::napi_ok
            }
            None => false,
        };
        let js_env = Env::from_raw(env);
        match settle(&js_env) {
            Ok(value) => sys::napi_resolve_deferred(env, deferred, value),
            Err(error) => sys::napi_reject_deferred(env, deferred, JsError::from(error).into_value(env)),
        };
        if opened {
            sys::napi_close_callback_scope(env, callback_scope);
        }
        sys::napi_close_handle_scope(env, scope);
    }
}

thread_local! {
    /// The async resource (a referenced object) and context our callback scopes use, made once
    /// per environment: one per call would cost an object, a string and an async id each time.
    static ASYNC_CONTEXT: Cell<Option<(sys::napi_ref, sys::napi_async_context)>> = const { Cell::new(None) };
}

/// This environment's async resource object (in the current handle scope) and context.
unsafe fn async_context(env: sys::napi_env) -> Option<(sys::napi_value, sys::napi_async_context)> {
    // SAFETY: napi calls on the JavaScript thread with a live environment and an open scope.
    unsafe {
        if let Some((reference, context)) = ASYNC_CONTEXT.with(Cell::get) {
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
        ASYNC_CONTEXT.with(|c| c.set(Some((reference, context))));
        Some((resource, context))
    }
}

/// Releases the async context at teardown, while the environment can still do it.
unsafe fn drop_async_context(env: sys::napi_env) {
    if let Some((reference, context)) = ASYNC_CONTEXT.with(Cell::take) {
        // SAFETY: made by `async_context` in this environment, released once.
        unsafe {
            sys::napi_async_destroy(env, context);
            sys::napi_delete_reference(env, reference);
        }
    }
}

unsafe fn free_if_done(p: *mut CallState) {
    // SAFETY: per the caller.
    let s = unsafe { &*p };
    if s.finished && s.open_handles == 0 {
        // SAFETY: made by Box::into_raw in `drive`; no handle refers to it any more.
        drop(unsafe { Box::from_raw(p) });
    }
}

unsafe fn closed(handle: *mut uv::Handle, is_timer: bool) {
    // SAFETY: called by libuv once per handle, after which the handle is ours to free.
    unsafe {
        let p = uv::data(handle).cast::<CallState>();
        uv::free(handle, is_timer);
        (*p).open_handles -= 1;
        free_if_done(p);
    }
}

unsafe extern "C" fn closed_poll(handle: *mut uv::Handle) {
    // SAFETY: a poll handle of ours, closed.
    unsafe { closed(handle, false) };
}

unsafe extern "C" fn closed_timer(handle: *mut uv::Handle) {
    // SAFETY: a timer handle of ours, closed.
    unsafe { closed(handle, true) };
}

/// The environment is going away (a worker thread ends) with calls in flight: kill and reap
/// their plugins and close their handles; nobody is left to settle their promises.
unsafe extern "C" fn teardown(_: *mut c_void) {
    let live = LIVE.with(|l| std::mem::take(&mut *l.borrow_mut()));
    let Some((env, event_loop)) = HOOKED.with(Cell::take) else { return };
    // SAFETY: the environment being torn down is still usable in its cleanup hooks.
    unsafe { drop_async_context(env) };
    if live.is_empty() {
        return;
    }
    for p in live {
        // SAFETY: calls in LIVE are unfinished and alive.
        let s = unsafe { &mut *p };
        s.task.cancel();
        s.finished = true;
        // SAFETY: as above.
        unsafe {
            close_all(s);
            free_if_done(p);
        }
    }
    // The loop will not turn again by itself: let the close callbacks run (and free the states).
    // SAFETY: the loop of this environment, not running during teardown.
    unsafe { uv::run_nowait(event_loop) };
}
