//! The few libuv functions the addon uses to watch a plugin's pipes on Node's own event loop
//! (see [`crate::event_loop`]).
//!
//! Node exports libuv to addons (its documentation says addons may use it); the symbols are
//! resolved when the addon is loaded, like napi's own. Handles are allocated with the size
//! libuv reports at run time, and their `data` is accessed through libuv's accessors, so
//! nothing here depends on the layout of libuv's structs. [`available`] checks, once, that the
//! handle type numbers mean what we think; if not, calls take the thread-pool path instead.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// `uv_loop_t`, opaque.
pub type Loop = c_void;
/// Any `uv_handle_t` (`uv_poll_t`, `uv_timer_t`), opaque.
pub type Handle = c_void;

/// `UV_POLL` and `UV_TIMER` of `uv_handle_type` (stable in libuv 1.x; checked by [`available`]).
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;

/// `uv_poll_event`.
pub const READABLE: c_int = 1;
/// `uv_poll_event`.
pub const WRITABLE: c_int = 2;

/// `uv_poll_cb`.
pub type PollCallback = unsafe extern "C" fn(handle: *mut Handle, status: c_int, events: c_int);
/// `uv_timer_cb`.
pub type TimerCallback = unsafe extern "C" fn(handle: *mut Handle);
/// `uv_close_cb`.
pub type CloseCallback = unsafe extern "C" fn(handle: *mut Handle);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_handle_type_name(kind: c_int) -> *const c_char;
    fn uv_handle_set_data(handle: *mut Handle, data: *mut c_void);
    fn uv_handle_get_data(handle: *const Handle) -> *mut c_void;
    fn uv_poll_init(event_loop: *mut Loop, handle: *mut Handle, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut Handle, events: c_int, cb: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut Handle) -> c_int;
    fn uv_timer_init(event_loop: *mut Loop, handle: *mut Handle) -> c_int;
    fn uv_timer_start(handle: *mut Handle, cb: TimerCallback, timeout: u64, repeat: u64) -> c_int;
    fn uv_timer_stop(handle: *mut Handle) -> c_int;
    fn uv_close(handle: *mut Handle, cb: Option<CloseCallback>);
    fn uv_run(event_loop: *mut Loop, mode: c_int) -> c_int;
}

/// Whether the libuv this addon was loaded into has the handle types we use, as we number them.
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let named = |kind: c_int, want: &str| {
            // SAFETY: returns a static string (or NULL for an unknown type).
            let name = unsafe { uv_handle_type_name(kind) };
            // SAFETY: a non-NULL result is a NUL-terminated static string.
            !name.is_null() && unsafe { CStr::from_ptr(name) }.to_bytes() == want.as_bytes()
        };
        named(UV_POLL, "poll") && named(UV_TIMER, "timer")
    })
}

fn layout(kind: c_int) -> Layout {
    // SAFETY: a plain query of a handle type's size.
    let size = unsafe { uv_handle_size(kind) };
    // 16 is at least the alignment of every libuv struct (they hold pointers and 64-bit ints).
    Layout::from_size_align(size.max(1), 16).unwrap_or(Layout::new::<[u128; 32]>())
}

/// Allocates a zeroed handle of `kind` with `data` set.
fn allocate(kind: c_int) -> *mut Handle {
    // SAFETY: the layout has a non-zero size.
    unsafe { alloc_zeroed(layout(kind)).cast() }
}

/// A new poll handle watching `fd` on `event_loop`, or `None` (libuv refused the fd).
///
/// # Safety
/// `event_loop` is the running loop of this thread; `data` outlives the handle.
pub unsafe fn poll_new(event_loop: *mut Loop, fd: c_int, data: *mut c_void) -> Option<*mut Handle> {
    let handle = allocate(UV_POLL);
    if handle.is_null() {
        return None;
    }
    // SAFETY: a zeroed handle of the right size, initialised before any other use.
    if unsafe { uv_poll_init(event_loop, handle, fd) } != 0 {
        // Never initialised: not known to the loop, freed directly.
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(handle.cast(), layout(UV_POLL)) };
        return None;
    }
    // SAFETY: an initialised handle.
    unsafe { uv_handle_set_data(handle, data) };
    Some(handle)
}

/// Starts (or changes the events of) a poll handle.
///
/// # Safety
/// `handle` is a live poll handle.
pub unsafe fn poll_start(handle: *mut Handle, events: c_int, cb: PollCallback) -> bool {
    // SAFETY: per the caller.
    unsafe { uv_poll_start(handle, events, cb) == 0 }
}

/// Stops a poll handle (its fd is no longer watched once this returns).
///
/// # Safety
/// `handle` is a live poll handle.
pub unsafe fn poll_stop(handle: *mut Handle) {
    // SAFETY: per the caller.
    unsafe { uv_poll_stop(handle) };
}

/// A new timer handle, or `None`.
///
/// # Safety
/// As [`poll_new`].
pub unsafe fn timer_new(event_loop: *mut Loop, data: *mut c_void) -> Option<*mut Handle> {
    let handle = allocate(UV_TIMER);
    if handle.is_null() {
        return None;
    }
    // SAFETY: a zeroed handle of the right size; uv_timer_init cannot fail on a live loop.
    unsafe {
        uv_timer_init(event_loop, handle);
        uv_handle_set_data(handle, data);
    }
    Some(handle)
}

/// (Re)starts a one-shot timer.
///
/// # Safety
/// `handle` is a live timer handle.
pub unsafe fn timer_start(handle: *mut Handle, after_ms: u64, cb: TimerCallback) {
    // SAFETY: per the caller.
    unsafe { uv_timer_start(handle, cb, after_ms, 0) };
}

/// Stops a timer.
///
/// # Safety
/// `handle` is a live timer handle.
pub unsafe fn timer_stop(handle: *mut Handle) {
    // SAFETY: per the caller.
    unsafe { uv_timer_stop(handle) };
}

/// The `data` of a handle.
#[must_use]
///
/// # Safety
/// `handle` is a live handle.
pub unsafe fn data(handle: *const Handle) -> *mut c_void {
    // SAFETY: per the caller.
    unsafe { uv_handle_get_data(handle) }
}

/// Closes a handle (a poll handle stops watching its fd at once); `cb` runs on a later loop
/// turn, and must [`free`] the handle.
///
/// # Safety
/// `handle` is a live handle allocated here, closed once.
pub unsafe fn close(handle: *mut Handle, cb: CloseCallback) {
    // SAFETY: per the caller.
    unsafe { uv_close(handle, Some(cb)) };
}

/// Frees a closed handle (from its close callback).
///
/// # Safety
/// `handle` was allocated here as a timer (`is_timer`) or poll handle and is fully closed.
pub unsafe fn free(handle: *mut Handle, is_timer: bool) {
    let kind = if is_timer { UV_TIMER } else { UV_POLL };
    // SAFETY: allocated by `allocate(kind)`.
    unsafe { dealloc(handle.cast(), layout(kind)) };
}

/// Runs the loop's pending callbacks without waiting (`UV_RUN_NOWAIT`): lets close callbacks
/// run when the environment is being torn down and the loop will not turn again by itself.
///
/// # Safety
/// `event_loop` is this thread's loop, and it is not running right now.
pub unsafe fn run_nowait(event_loop: *mut Loop) {
    // SAFETY: per the caller. 2 = UV_RUN_NOWAIT.
    unsafe { uv_run(event_loop, 2) };
}
