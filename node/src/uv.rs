//! The few libuv functions the addon uses: one poll handle per environment, on the core
//! reactor's descriptor (see [`crate::reactor`]).
//!
//! Node exports libuv to addons (its documentation says addons may use it); the symbols are
//! resolved when the addon is loaded, like napi's own. The handle is allocated with the size
//! libuv reports at run time and its `data` is accessed through libuv's accessors, so nothing
//! here depends on the layout of libuv's structs. [`available`] checks, once, that the handle
//! type number means what we think.
//!
//! This file and [`crate::reactor`] are the addon's only `unsafe` code besides single napi
//! calls: the libuv calls below, and the napi promise and scope calls the reactor makes.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// `uv_loop_t`, opaque.
pub type Loop = c_void;
/// A `uv_poll_t`, opaque.
pub type Handle = c_void;

/// `UV_POLL` of `uv_handle_type` (stable in libuv 1.x; checked by [`available`]).
const UV_POLL: c_int = 8;
/// `uv_poll_event`.
const READABLE: c_int = 1;
/// `UV_RUN_NOWAIT`.
const RUN_NOWAIT: c_int = 2;

/// `uv_poll_cb`.
pub type PollCallback = unsafe extern "C" fn(handle: *mut Handle, status: c_int, events: c_int);
/// `uv_close_cb`.
type CloseCallback = unsafe extern "C" fn(handle: *mut Handle);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_handle_type_name(kind: c_int) -> *const c_char;
    fn uv_handle_set_data(handle: *mut Handle, data: *mut c_void);
    fn uv_handle_get_data(handle: *const Handle) -> *mut c_void;
    fn uv_poll_init(event_loop: *mut Loop, handle: *mut Handle, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut Handle, events: c_int, cb: PollCallback) -> c_int;
    fn uv_ref(handle: *mut Handle);
    fn uv_unref(handle: *mut Handle);
    fn uv_close(handle: *mut Handle, cb: Option<CloseCallback>);
    fn uv_run(event_loop: *mut Loop, mode: c_int) -> c_int;
}

/// Whether the libuv this addon was loaded into has poll handles as we number them.
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        // SAFETY: returns a static string (or NULL for an unknown type).
        let name = unsafe { uv_handle_type_name(UV_POLL) };
        // SAFETY: a non-NULL result is a NUL-terminated static string.
        !name.is_null() && unsafe { CStr::from_ptr(name) }.to_bytes() == b"poll"
    })
}

fn layout() -> Layout {
    // SAFETY: a plain query of a handle type's size.
    let size = unsafe { uv_handle_size(UV_POLL) };
    // 16 is at least the alignment of every libuv struct (they hold pointers and 64-bit ints).
    Layout::from_size_align(size.max(1), 16).unwrap_or(Layout::new::<[u128; 32]>())
}

/// A poll handle watching `fd` for readability on `event_loop`, calling `cb` with the handle
/// (whose `data` is `data`); `None` if libuv refused. It starts unreferenced: [`set_ref`].
///
/// # Safety
/// `event_loop` is the running loop of this thread; `data` outlives the handle; `fd` stays open
/// until [`close`].
pub unsafe fn watch(event_loop: *mut Loop, fd: c_int, data: *mut c_void, cb: PollCallback) -> Option<*mut Handle> {
    // SAFETY: the layout has a non-zero size.
    let handle: *mut Handle = unsafe { alloc_zeroed(layout()) }.cast();
    if handle.is_null() {
        return None;
    }
    // SAFETY: a zeroed handle of the right size, initialised before any other use.
    if unsafe { uv_poll_init(event_loop, handle, fd) } != 0 {
        // Never initialised: not known to the loop, freed directly.
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(handle.cast(), layout()) };
        return None;
    }
    // SAFETY: an initialised handle.
    unsafe {
        uv_handle_set_data(handle, data);
        uv_unref(handle);
    }
    // SAFETY: as above. On failure the handle is initialised: it must be closed, not freed.
    if unsafe { uv_poll_start(handle, READABLE, cb) } != 0 {
        // SAFETY: an initialised handle, closed once.
        unsafe { close(handle) };
        return None;
    }
    Some(handle)
}

/// Makes the handle keep the loop alive (`true`: calls are in flight) or not.
///
/// # Safety
/// `handle` is a live handle made by [`watch`].
pub unsafe fn set_ref(handle: *mut Handle, on: bool) {
    // SAFETY: per the caller.
    unsafe {
        if on {
            uv_ref(handle);
        } else {
            uv_unref(handle);
        }
    }
}

/// The `data` of a handle.
///
/// # Safety
/// `handle` is a live handle.
#[must_use]
pub unsafe fn data(handle: *const Handle) -> *mut c_void {
    // SAFETY: per the caller.
    unsafe { uv_handle_get_data(handle) }
}

/// Closes a handle made by [`watch`] (it stops watching at once) and frees it once libuv is
/// done with it.
///
/// # Safety
/// `handle` is a live handle made by [`watch`], closed once.
pub unsafe fn close(handle: *mut Handle) {
    unsafe extern "C" fn closed(handle: *mut Handle) {
        // SAFETY: libuv calls this once per handle, after which the handle is ours to free.
        unsafe { dealloc(handle.cast(), layout()) };
    }
    // SAFETY: per the caller.
    unsafe { uv_close(handle, Some(closed)) };
}

/// Runs the loop's pending callbacks without waiting: lets close callbacks run when the
/// environment is being torn down and the loop will not turn again by itself.
///
/// # Safety
/// `event_loop` is this thread's loop, and it is not running right now.
pub unsafe fn run_nowait(event_loop: *mut Loop) {
    // SAFETY: per the caller.
    unsafe { uv_run(event_loop, RUN_NOWAIT) };
}
