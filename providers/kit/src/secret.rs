//! Secrets (tokens, PINs, client secrets) kept out of every error, log line and `Debug` output.

use std::fmt;

/// A secret value: `Debug` and `Display` print `[redacted]`; [`Secret::expose`] hands the value
/// to the one place that sends it (an HTTP header, a PKCS#11 login).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the call that needs it. Never format it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of this secret replaced by `[redacted]`: for messages that
    /// come from elsewhere (a server's error body, an SDK's error chain) and might echo it.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hvs.s3cr3t");
        assert_eq!(format!("{s} {s:?}"), "[redacted] Secret([redacted])");
        assert_eq!(s.scrub("bad token hvs.s3cr3t!"), "bad token [redacted]!");
        assert_eq!(Secret::default().scrub("x"), "x");
        assert_eq!(s.expose(), "hvs.s3cr3t");
    }
}
