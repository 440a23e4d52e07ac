//! The one error type of the crate, with a [`ErrorKind`] for matching.

use std::fmt::{self, Write as _};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::Method;

/// Longest plugin `errorMessage` kept, in characters; the rest is cut with a note.
pub const MAX_PLUGIN_MESSAGE_CHARS: usize = 4096;
/// How many bytes of a bad response are shown in an [`Error::InvalidResponse`].
pub const RESPONSE_PREVIEW_BYTES: usize = 200;

/// What went wrong, in a form that is stable for matching (bindings map it to their own
/// exception classes and error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key URI is not `NAME://REF` with a valid plugin name.
    InvalidKeyUri,
    /// No executable `sigstore-kms-NAME` on the search path.
    PluginNotFound,
    /// The plugin could not be started, or died by a signal, or the request could not be sent.
    Exec,
    /// The call did not finish before its deadline; the plugin was killed.
    Timeout,
    /// The plugin's output is not a valid response for the method.
    InvalidResponse,
    /// The plugin answered with an `errorMessage`.
    PluginReturned,
    /// The plugin wrote more to stdout than the configured cap.
    OutputTooLarge,
    /// An option given to a signer-verifier (by name, from a binding or the CLI) is invalid;
    /// nothing was run.
    InvalidOption,
}

impl ErrorKind {
    /// The kind's name, e.g. `"PluginNotFound"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidKeyUri => "InvalidKeyUri",
            ErrorKind::PluginNotFound => "PluginNotFound",
            ErrorKind::Exec => "Exec",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::InvalidResponse => "InvalidResponse",
            ErrorKind::PluginReturned => "PluginReturned",
            ErrorKind::OutputTooLarge => "OutputTooLarge",
            ErrorKind::InvalidOption => "InvalidOption",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which plugin program and method a call was for: every call error names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// The plugin name or in-process provider prefix (e.g. `sigstore-kms-mykms`).
    pub plugin: String,
    /// The absolute path that was run, if it was a program.
    pub path: Option<PathBuf>,
    /// The method called.
    pub method: Method,
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "plugin {} ({}) {}", self.plugin, p.display(), self.method),
            None => write!(f, "provider {} {}", self.plugin, self.method),
        }
    }
}

/// The last bytes the plugin wrote to stderr, when stderr is captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StderrTail(pub Option<String>);

impl fmt::Display for StderrTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(t) if !t.is_empty() => write!(f, "\nplugin stderr (last lines):\n{t}"),
            _ => Ok(()),
        }
    }
}

/// An error from discovering or calling a plugin.
///
/// Match on [`Error::kind`] for a stable classification; the `Display` text says what went
/// wrong and, where it can, what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorKind::InvalidKeyUri`].
    #[error("invalid key URI {uri:?}: {reason}")]
    InvalidKeyUri {
        /// The URI as given (escaped in the message).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// See [`ErrorKind::PluginNotFound`].
    #[error("plugin program {program:?} not found: {detail}")]
    PluginNotFound {
        /// The program name looked for, e.g. `sigstore-kms-mykms`.
        program: String,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
        /// What was found, and how to fix it.
        detail: String,
    },
    /// See [`ErrorKind::Exec`].
    #[error("{call}: {reason}{stderr}")]
    Exec {
        /// Plugin and method.
        call: Box<CallSite>,
        /// What failed.
        reason: String,
        /// The underlying OS error, if any.
        #[source]
        source: Option<io::Error>,
        /// Captured stderr tail.
        stderr: StderrTail,
    },
    /// See [`ErrorKind::Timeout`].
    #[error("{call}: timed out after {}; the plugin's process group was killed{stderr}", fmt_duration(*.timeout))]
    Timeout {
        /// Plugin and method.
        call: Box<CallSite>,
        /// The timeout that expired.
        timeout: Duration,
        /// Captured stderr tail.
        stderr: StderrTail,
    },
    /// See [`ErrorKind::InvalidResponse`].
    #[error("{call}: invalid response: {reason}; received {received}{stderr}")]
    InvalidResponse {
        /// Plugin and method.
        call: Box<CallSite>,
        /// What is wrong with the output.
        reason: String,
        /// The first bytes received, escaped.
        received: String,
        /// Captured stderr tail.
        stderr: StderrTail,
    },
    /// See [`ErrorKind::PluginReturned`].
    #[error("{call}: plugin returned error: {message}{stderr}")]
    PluginReturned {
        /// Plugin and method.
        call: Box<CallSite>,
        /// The plugin's `errorMessage`, control characters escaped, length capped.
        message: String,
        /// Captured stderr tail.
        stderr: StderrTail,
        /// What an in-process provider's handler gave as the cause of its error
        /// ([`crate::HandlerError::with_source`]); `None` for plugin programs.
        #[source]
        source: Option<crate::handler::HandlerSource>,
    },
    /// See [`ErrorKind::InvalidOption`].
    #[error("{option} {reason}")]
    InvalidOption {
        /// The option, as the language that gave it spells it (`stdout_limit`,
        /// `options.stdoutLimit`, `--timeout`).
        option: String,
        /// What it must be and what it was, e.g. `must be an integer from 1 to ..., got -1`.
        reason: String,
        /// Which way it is wrong (bindings pick their exception class by it).
        problem: crate::client::OptionProblem,
    },
    /// See [`ErrorKind::OutputTooLarge`].
    #[error("{call}: the plugin wrote more than {limit} bytes to stdout; it was killed (raise the stdout limit if this plugin's answers are that large){stderr}")]
    OutputTooLarge {
        /// Plugin and method.
        call: Box<CallSite>,
        /// The cap that was exceeded.
        limit: usize,
        /// Captured stderr tail.
        stderr: StderrTail,
    },
}

impl Error {
    /// The stable kind of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKeyUri { .. } => ErrorKind::InvalidKeyUri,
            Error::PluginNotFound { .. } => ErrorKind::PluginNotFound,
            Error::Exec { .. } => ErrorKind::Exec,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Error::PluginReturned { .. } => ErrorKind::PluginReturned,
            Error::OutputTooLarge { .. } => ErrorKind::OutputTooLarge,
            Error::InvalidOption { .. } => ErrorKind::InvalidOption,
        }
    }

    /// The plugin's own error text, for [`ErrorKind::PluginReturned`].
    #[must_use]
    pub fn plugin_message(&self) -> Option<&str> {
        match self {
            Error::PluginReturned { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The plugin and method the failed call was for, if the error came from a call.
    #[must_use]
    pub fn call_site(&self) -> Option<&CallSite> {
        match self {
            Error::Exec { call, .. }
            | Error::Timeout { call, .. }
            | Error::InvalidResponse { call, .. }
            | Error::PluginReturned { call, .. }
            | Error::OutputTooLarge { call, .. } => Some(call),
            _ => None,
        }
    }

    /// The captured tail of the plugin's stderr, if stderr was captured.
    #[must_use]
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            Error::Exec { stderr, .. }
            | Error::Timeout { stderr, .. }
            | Error::InvalidResponse { stderr, .. }
            | Error::PluginReturned { stderr, .. }
            | Error::OutputTooLarge { stderr, .. } => stderr.0.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn plugin_returned(call: CallSite, message: &str, stderr: StderrTail) -> Self {
        Error::PluginReturned {
            call: Box::new(call),
            message: escape_text(message, MAX_PLUGIN_MESSAGE_CHARS),
            stderr,
            source: None,
        }
    }

    /// The error of a failed in-process provider call: the handler's message, and its source.
    pub(crate) fn handler_failed(call: CallSite, error: crate::HandlerError) -> Self {
        let (message, source) = error.into_parts();
        Error::PluginReturned {
            call: Box::new(call),
            message: escape_text(&message, MAX_PLUGIN_MESSAGE_CHARS),
            stderr: StderrTail::default(),
            source,
        }
    }

    /// The error of a provider factory that failed for `uri` (what `get_signer_verifier` returns
    /// when a registered provider's factory fails, for bindings whose providers are made by
    /// the binding itself).
    #[must_use]
    pub fn provider_factory_failed(uri: &str, error: crate::HandlerError) -> Self {
        // Named by the plugin name the URI parses to (`pkcs11` for `pkcs11:...` too), never by
        // its key reference, which may hold a PIN.
        let plugin = crate::uri::KeyUri::parse(uri)
            .map_or_else(|_| escape_text(&crate::uri::redact_key_uri(uri), 80), |u| u.plugin_name().to_owned());
        let site = CallSite { plugin: format!("{plugin}://"), path: None, method: Method::DefaultAlgorithm };
        let (message, source) = error.into_parts();
        let message = format!("provider factory failed: {message}");
        let error = match source {
            Some(source) => crate::HandlerError::with_source(message, source),
            None => crate::HandlerError::new(message),
        };
        Error::handler_failed(site, error)
    }

    /// The source an in-process provider's handler gave for its error, if any.
    #[must_use]
    pub fn handler_source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::PluginReturned { source, .. } => source.as_deref(),
            _ => None,
        }
    }

    /// Takes the source an in-process provider's handler gave for its error, if any.
    pub fn take_handler_source(&mut self) -> Option<crate::handler::HandlerSource> {
        match self {
            Error::PluginReturned { source, .. } => source.take(),
            _ => None,
        }
    }

    /// A key URI that cannot be text: it holds a lone UTF-16 surrogate (from a JavaScript or
    /// Python string), so it cannot be passed to a plugin as UTF-8. `shown` is the URI with the
    /// surrogate replaced.
    #[must_use]
    pub fn unencodable_key_uri(shown: &str) -> Self {
        Error::InvalidKeyUri {
            uri: escape_text(&crate::uri::redact_key_uri(shown), 200),
            reason: "it holds a lone surrogate (an unpaired UTF-16 code unit), which is not text and cannot be \
                     passed to a plugin; fix how the URI string was built"
                .into(),
        }
    }

    pub(crate) fn invalid_response(
        call: CallSite,
        reason: impl Into<String>,
        received: &[u8],
        stderr: StderrTail,
    ) -> Self {
        Error::InvalidResponse {
            call: Box::new(call),
            reason: reason.into(),
            received: preview_bytes(received, RESPONSE_PREVIEW_BYTES),
            stderr,
        }
    }

    pub(crate) fn exec(
        call: CallSite,
        reason: impl Into<String>,
        source: Option<io::Error>,
        stderr: StderrTail,
    ) -> Self {
        Error::Exec { call: Box::new(call), reason: reason.into(), source, stderr }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Escapes control characters (as `\n`, `\u{1b}`, ...) and cuts `text` to `max_chars`.
#[must_use]
pub fn escape_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 32));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            let rest = text.chars().count() - count;
            let _ = write!(out, "… ({rest} more characters cut)");
            break;
        }
        if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Shows the first `max` bytes of `bytes` as a quoted, escaped string (`\xNN` for bytes that
/// are not UTF-8), noting the total length when cut.
#[must_use]
pub fn preview_bytes(bytes: &[u8], max: usize) -> String {
    if bytes.is_empty() {
        return "nothing (0 bytes)".to_owned();
    }
    let shown = &bytes[..bytes.len().min(max)];
    let mut out = String::from("\"");
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    if bytes.len() > max {
        let _ = write!(out, " (first {max} of {} bytes)", bytes.len());
    } else {
        let _ = write!(out, " ({} bytes)", bytes.len());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn preview_escapes_and_cuts() {
        assert_eq!(preview_bytes(b"a\n\xff\"", 200), "\"a\\n\\xff\\\"\" (4 bytes)");
        let long = vec![b'x'; 500];
        assert!(preview_bytes(&long, 200).ends_with("(first 200 of 500 bytes)"));
        assert_eq!(preview_bytes(b"", 200), "nothing (0 bytes)");
    }

    #[test]
    fn escape_text_caps() {
        assert_eq!(escape_text("a\u{1b}[31mred", 100), "a\\u{1b}[31mred");
        assert!(escape_text(&"y".repeat(10), 4).starts_with("yyyy… (6 more"));
    }
}
