//! Key references: `hashivault://KEY` and `openbao://KEY`, parsed as the Go provider parses them.
//!
//! Go (`pkg/signature/kms/hashivault/client.go`) matches the whole URI against
//! `^(?:hashivault|openbao)://(?P<path>\w(([\w-.]+)?\w)?)$`: the key name is one or more ASCII
//! letters, digits or underscores, with `-` and `.` also allowed anywhere but first and last.
//! No `/`: the transit mount comes from `TRANSIT_SECRET_ENGINE_PATH`, never from the URI.

use crate::Error;

/// The two key-URI schemes, one program each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `hashivault://`, served by `sigstore-kms-hashivault`.
    Hashivault,
    /// `openbao://`, served by `sigstore-kms-openbao` (the Go provider's alias of `hashivault://`).
    Openbao,
}

impl Scheme {
    /// The scheme's name, without `://`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Hashivault => "hashivault",
            Scheme::Openbao => "openbao",
        }
    }

    /// The program that serves the scheme, `sigstore-kms-NAME`.
    #[must_use]
    pub fn program(self) -> &'static str {
        match self {
            Scheme::Hashivault => "sigstore-kms-hashivault",
            Scheme::Openbao => "sigstore-kms-openbao",
        }
    }

    /// The scheme a program name stands for: `sigstore-kms-openbao` (any directory, any
    /// extension such as `.exe`) is [`Scheme::Openbao`], anything else [`Scheme::Hashivault`].
    #[must_use]
    pub fn from_program(program: &str) -> Scheme {
        let base = program.rsplit(['/', '\\']).next().unwrap_or(program);
        if base.starts_with("sigstore-kms-openbao") {
            Scheme::Openbao
        } else {
            Scheme::Hashivault
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Go's `\w`: ASCII letters, digits and `_`.
fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `name` is a key name Go's `referenceRegex` accepts.
#[must_use]
pub fn valid_key_name(name: &str) -> bool {
    let mut chars = name.chars();
    let (Some(first), last) = (chars.next(), name.chars().next_back()) else { return false };
    word(first) && last.is_some_and(word) && name.chars().all(|c| word(c) || c == '-' || c == '.')
}

/// The transit key name of a key reference: the part after `scheme://` that the host sent as
/// `keyResourceID`. A whole URI (`hashivault://KEY` or `openbao://KEY`) is accepted too.
///
/// ```
/// use sigstore_kms_hashivault::reference::{parse, Scheme};
/// assert_eq!(parse("release-key", Scheme::Hashivault)?, "release-key");
/// assert_eq!(parse("openbao://k1", Scheme::Openbao)?, "k1");
/// assert!(parse("transit/release", Scheme::Hashivault).unwrap_err().to_string().contains("hashivault://KEY"));
/// # Ok::<(), sigstore_kms_hashivault::Error>(())
/// ```
pub fn parse(reference: &str, scheme: Scheme) -> Result<String, Error> {
    let name = ["hashivault://", "openbao://"].iter().find_map(|p| reference.strip_prefix(p)).unwrap_or(reference);
    if valid_key_name(name) {
        return Ok(name.to_owned());
    }
    let shown: String = reference.chars().take(200).collect();
    let hint = if name.contains('/') {
        "; the transit mount is not part of the URI: set TRANSIT_SECRET_ENGINE_PATH (default \"transit\") instead"
    } else {
        ""
    };
    Err(Error::new(format!(
        "invalid key reference {shown:?}: the format is {s}://KEY, where KEY is the name of a transit key: ASCII \
         letters, digits and '_', with '-' and '.' also allowed except first and last (for example \
         {s}://release-key){hint}",
        s = scheme.name()
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Go's `TestParseReference` (hashivault_test.go), on the whole URI as Go parses it.
    #[test]
    fn go_parse_cases() {
        let cases: &[(&str, Option<&str>)] = &[
            ("hashivault://cosign", Some("cosign")),
            ("hashivault://cosign/nested", None),
            ("foo://bar", None),
            ("", None),
        ];
        for (input, want) in cases {
            // Go's regex requires a scheme; our plugin gets the part after it. A whole URI with
            // another scheme reaches us as "foo://bar", which has a '/' and ':' and is refused.
            let got = parse(input, Scheme::Hashivault).ok();
            assert_eq!(got.as_deref(), *want, "{input:?}");
        }
    }

    /// Every edge of `\w(([\w-.]+)?\w)?`, in both schemes.
    #[test]
    fn the_regex_edges() {
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("_", true),
            ("0", true),
            ("ab", true),
            ("a-b", true),
            ("a.b", true),
            ("a..b", true),
            ("a--b", true),
            ("a-.-b", true),
            ("A_Z_09", true),
            ("release-key.v2", true),
            ("-a", false),
            ("a-", false),
            (".a", false),
            ("a.", false),
            ("-", false),
            (".", false),
            ("a b", false),
            ("a/b", false),
            ("a:b", false),
            ("a\n", false),
            ("\na", false),
            ("é", false),
            ("ключ", false),
            ("a*", false),
            ("transit/keys/a", false),
        ];
        for (name, ok) in cases {
            for scheme in [Scheme::Hashivault, Scheme::Openbao] {
                assert_eq!(parse(name, scheme).is_ok(), *ok, "{name:?} ({scheme})");
                let uri = format!("{scheme}://{name}");
                assert_eq!(parse(&uri, scheme).ok().as_deref(), ok.then_some(*name), "{uri:?}");
            }
        }
        // Either scheme's URI is accepted by either program (Go registers both for one provider).
        assert_eq!(parse("openbao://k", Scheme::Hashivault).unwrap(), "k");
    }

    #[test]
    fn errors_show_the_accepted_form() {
        let e = parse("transit/release", Scheme::Openbao).unwrap_err().to_string();
        assert!(e.contains("openbao://KEY") && e.contains("TRANSIT_SECRET_ENGINE_PATH"), "{e}");
        let e = parse("", Scheme::Hashivault).unwrap_err().to_string();
        assert!(e.contains("hashivault://KEY") && e.contains("\"\""), "{e}");
        // Control characters are escaped, and a long reference is cut.
        let e = parse(&format!("a\u{1b}{}", "x".repeat(500)), Scheme::Hashivault).unwrap_err().to_string();
        assert!(e.contains("\\u{1b}") && e.len() < 700, "{e}");
    }

    #[test]
    fn schemes_from_program_names() {
        assert_eq!(Scheme::from_program("/usr/bin/sigstore-kms-openbao"), Scheme::Openbao);
        assert_eq!(Scheme::from_program("C:\\bin\\sigstore-kms-openbao.exe"), Scheme::Openbao);
        assert_eq!(Scheme::from_program("sigstore-kms-hashivault"), Scheme::Hashivault);
        assert_eq!(Scheme::from_program(""), Scheme::Hashivault);
        assert_eq!(Scheme::Openbao.program(), "sigstore-kms-openbao");
    }
}
