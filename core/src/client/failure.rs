//! How a finished plugin run becomes a call's result or its [`Error`]: the one mapping, for
//! every engine.

use super::{Call, Options, Reply};
use crate::error::{CallSite, Error, Result, StderrTail};
use crate::process::{self, RunError, RunResult};
use crate::protocol::{decode_response, ResponseError};

/// The reply of a plugin run for `call`: its response decoded, or the error the run ended with.
pub(crate) fn conclude(site: &CallSite, call: &Call, options: &Options, run: RunResult) -> Result<Reply> {
    match run {
        Ok(out) => {
            let stderr = StderrTail(out.stderr_tail);
            let result = decode_response(call.method(), &out.stdout).map_err(|e| match e {
                ResponseError::Invalid(d) => Error::invalid_response(site.clone(), d.to_string(), &out.stdout, stderr),
                ResponseError::Returned(m) => Error::plugin_returned(site.clone(), &m, stderr),
            })?;
            Reply::from_result(site, result)
        }
        Err(failure) => Err(run_error(site.clone(), failure.error, StderrTail(failure.stderr_tail), options)),
    }
}

/// The error a failed run makes.
pub(crate) fn run_error(site: CallSite, error: RunError, stderr: StderrTail, o: &Options) -> Error {
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
            let hint = crate::sys::spawn_error_hint(&e);
            Error::exec(site, format!("{hint}: {e}"), Some(e), stderr)
        }
        RunError::Signaled { signal, core_dumped } => Error::exec(
            site,
            format!(
                "the plugin was killed by signal {signal} ({}){}",
                crate::sys::signal_name(signal),
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
