//! The one place where errors become JavaScript values.
//!
//! * A core [`Error`] becomes a `KmsPluginError` (the class `node/errors.js` registers with
//!   [`set_error_class`]; a plain `Error` before that) carrying a stable `code`
//!   (`ERR_PLUGIN_TIMEOUT`, ...), the core's `kind` name, and the call details that apply:
//!   `plugin`, `method`, `pluginPath`, `pluginMessage`, `stderrTail`, ...
//! * An I/O error of our own (opening a message file) becomes an `Error` with Node's usual
//!   `code` (`ENOENT`, ...), `errno`, `syscall` and `path`, as `fs` would throw it.
//! * A bad argument becomes a `TypeError`/`RangeError` with Node's `ERR_INVALID_ARG_*` codes:
//!   ours, and the core's [`ErrorKind::InvalidOption`] (an option or argument it checked).
//!
//! Each returns a [`napi::Error`] that holds a reference to the JavaScript object, so napi
//! throws or rejects with exactly that object.

use std::cell::RefCell;
use std::io;

use napi::bindgen_prelude::{Function, FunctionRef, JsObjectValue, Object, ToNapiValue, Unknown};
use napi::{Env, JsValue, Status};
use napi_derive::napi;
use sigstore_kms_plugins::{Error, ErrorKind, OptionProblem};

/// The stable `code` of a core error kind (the README's error table).
#[must_use]
pub fn code_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidKeyUri => "ERR_INVALID_KEY_URI",
        ErrorKind::PluginNotFound => "ERR_PLUGIN_NOT_FOUND",
        ErrorKind::Exec => "ERR_PLUGIN_EXEC",
        ErrorKind::Timeout => "ERR_PLUGIN_TIMEOUT",
        ErrorKind::InvalidResponse => "ERR_PLUGIN_RESPONSE",
        ErrorKind::PluginReturned => "ERR_PLUGIN_RETURNED",
        ErrorKind::OutputTooLarge => "ERR_OUTPUT_TOO_LARGE",
        ErrorKind::InvalidOption => "ERR_INVALID_ARG_VALUE",
        // `ErrorKind` is non-exhaustive: a kind added to the core later still gets a code.
        _ => "ERR_PLUGIN",
    }
}

type ErrorClass = FunctionRef<String, Unknown<'static>>;

thread_local! {
    /// The `KmsPluginError` constructor of this thread's JavaScript environment.
    static ERROR_CLASS: RefCell<Option<ErrorClass>> = const { RefCell::new(None) };
}

/// Registers the class core errors are created as (`KmsPluginError`, defined in JavaScript so
/// that `instanceof` works). Called once by `node/errors.js`.
///
/// The reference is released when the environment is torn down (a worker thread ending), while
/// the environment is still alive to release it.
#[napi]
pub fn set_error_class(env: &Env, error_class: Function<String, Unknown<'static>>) -> napi::Result<()> {
    let class = error_class.create_ref()?;
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class));
    env.add_env_cleanup_hook((), |()| {
        ERROR_CLASS.with(|c| c.borrow_mut().take());
    })?;
    Ok(())
}

/// A new error object with `message`: an instance of the registered class, or a plain `Error`.
fn new_error<'e>(env: &'e Env, message: &str) -> napi::Result<Object<'e>> {
    let registered = ERROR_CLASS.with(|c| -> napi::Result<Option<Unknown<'e>>> {
        match c.borrow().as_ref() {
            Some(class) => Ok(Some(class.borrow_back(env)?.new_instance(message.to_owned())?)),
            None => Ok(None),
        }
    })?;
    match registered {
        // SAFETY: the constructor returns an object, which is what `Object` wraps.
        Some(instance) => Ok(unsafe { instance.cast::<Object<'e>>() }?),
        None => env.create_error(napi::Error::new(Status::GenericFailure, message)),
    }
}

/// Wraps a JavaScript error object so napi throws or rejects with it as is.
fn retain(object: &Object<'_>) -> napi::Error {
    napi::Error::from(object.to_unknown())
}

/// The JavaScript error for a core error (see the module documentation).
#[must_use]
pub fn to_js(env: &Env, err: &Error) -> napi::Error {
    if let Error::InvalidOption { problem, .. } = err {
        let code = match problem {
            OptionProblem::WrongType => "ERR_INVALID_ARG_TYPE",
            OptionProblem::OutOfRange => "ERR_OUT_OF_RANGE",
            _ => "ERR_INVALID_ARG_VALUE",
        };
        return invalid_arg(env, code, &err.to_string());
    }
    build(env, err).unwrap_or_else(|e| e)
}

fn build(env: &Env, err: &Error) -> napi::Result<napi::Error> {
    let mut obj = new_error(env, &err.to_string())?;
    obj.set_named_property("code", code_of(err.kind()))?;
    obj.set_named_property("kind", err.kind().as_str())?;
    if let Some(call) = err.call_site() {
        obj.set_named_property("plugin", call.plugin.as_str())?;
        obj.set_named_property("method", call.method.as_str())?;
        obj.set_named_property("pluginPath", call.path.as_ref().map(|p| p.to_string_lossy().into_owned()))?;
    }
    if let Some(message) = err.plugin_message() {
        obj.set_named_property("pluginMessage", message)?;
    }
    if let Some(tail) = err.stderr_tail() {
        obj.set_named_property("stderrTail", tail)?;
    }
    match err {
        Error::InvalidKeyUri { uri, reason } => {
            obj.set_named_property("uri", uri.as_str())?;
            obj.set_named_property("reason", reason.as_str())?;
        }
        Error::PluginNotFound { program, searched, .. } => {
            obj.set_named_property("program", program.as_str())?;
            let dirs: Vec<String> = searched.iter().map(|d| d.to_string_lossy().into_owned()).collect();
            obj.set_named_property("searched", dirs)?;
        }
        Error::Timeout { timeout, .. } => {
            obj.set_named_property("timeoutMs", timeout.as_secs_f64() * 1000.0)?;
        }
        Error::OutputTooLarge { limit, .. } => {
            // Exact: a limit set from JavaScript is below 2^53.
            #[allow(clippy::cast_precision_loss)]
            obj.set_named_property("limit", *limit as f64)?;
        }
        _ => {}
    }
    Ok(retain(&obj))
}

/// The JavaScript error for an I/O error of `syscall` on `path`, shaped like Node's own
/// (`code`, `errno`, `syscall`, `path`; message `ENOENT: no such file ..., open 'x'`).
#[must_use]
pub fn io_to_js(env: &Env, err: &io::Error, syscall: &str, path: &str) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let code = err.raw_os_error().and_then(sigstore_kms_plugins::sys::errno_name).unwrap_or("EIO");
        let mut text = err.to_string();
        if let Some(i) = text.find(" (os error") {
            text.truncate(i);
        }
        let mut obj = new_error_plain(env, &format!("{code}: {}, {syscall} '{path}'", text.to_lowercase()))?;
        obj.set_named_property("code", code)?;
        if let Some(errno) = err.raw_os_error() {
            obj.set_named_property("errno", -errno)?;
        }
        obj.set_named_property("syscall", syscall)?;
        obj.set_named_property("path", path)?;
        Ok(retain(&obj))
    };
    build().unwrap_or_else(|e| e)
}

fn new_error_plain<'e>(env: &'e Env, message: &str) -> napi::Result<Object<'e>> {
    env.create_error(napi::Error::new(Status::GenericFailure, message))
}

/// A `TypeError` with code `ERR_INVALID_ARG_TYPE` (wrong type) or a `RangeError` with code
/// `ERR_INVALID_ARG_VALUE` / `ERR_OUT_OF_RANGE` (right type, bad value), as Node's own APIs
/// throw them.
#[must_use]
pub fn invalid_arg(env: &Env, code: &str, message: &str) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let err = napi::Error::new(Status::InvalidArg, message);
        let raw = if code == "ERR_INVALID_ARG_TYPE" {
            // SAFETY: `env` is the live environment of this call.
            unsafe { ToNapiValue::to_napi_value(env.raw(), napi::JsTypeError::from(err))? }
        } else {
            // SAFETY: as above.
            unsafe { ToNapiValue::to_napi_value(env.raw(), napi::JsRangeError::from(err))? }
        };
        let mut obj = Object::from_raw(env.raw(), raw);
        obj.set_named_property("code", code)?;
        Ok(retain(&obj))
    };
    build().unwrap_or_else(|e| e)
}
