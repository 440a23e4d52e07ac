//! Key references, parsed exactly as Go's `pkg/signature/kms/aws` `ParseReference` parses them.
//!
//! The plugin receives the part of the key URI after `awskms://`; the patterns below are the Go
//! provider's, applied to `awskms://` + that part, with the same RE2-style semantics
//! (`regex-lite`: leftmost-first, ASCII `\d`, `.` not matching a newline), tried in Go's order:
//! key ID, key ARN, alias name, alias ARN.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use regex_lite::Regex;

use crate::Error;

/// The key ID part of Go's patterns: a UUID, or `mrk-` and 32 hex digits for a multi-Region key.
const UUID_RE: &str = r"m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}";
const ARN_RE: &str = r"arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\d{12}:";
const HOST_RE: &str = r"([^/]*)/";

/// What a reference names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The endpoint given in the URI (`awskms://ENDPOINT/...`), `""` when none: the plugin then
    /// uses the configured endpoint (see the crate docs). When given, requests go to
    /// `https://ENDPOINT`, as in Go.
    pub endpoint: String,
    /// What the KMS API calls `KeyId`: the key ID, key ARN, `alias/NAME` or alias ARN as given.
    pub key_id: String,
    /// `alias/NAME` for an alias name or alias ARN, `""` for a key ID or key ARN.
    pub alias: String,
}

/// Which of the four forms a reference has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `1234abcd-12ab-34cd-56ef-1234567890ab` or `mrk-...`.
    KeyId,
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    KeyArn,
    /// `alias/NAME`.
    AliasName,
    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME`.
    AliasArn,
}

fn patterns() -> &'static [(Form, Regex); 4] {
    static PATTERNS: OnceLock<[(Form, Regex); 4]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let re = |body: String| {
            // The patterns are constants: compiling them cannot fail (the unit tests run them).
            Regex::new(&format!("^awskms://{HOST_RE}{body}$")).expect("Go's awskms patterns compile")
        };
        [
            (Form::KeyId, re(format!("({UUID_RE})"))),
            (Form::KeyArn, re(format!("({ARN_RE}key/{UUID_RE})"))),
            (Form::AliasName, re("((alias/.*))".to_owned())),
            (Form::AliasArn, re(format!("({ARN_RE}(alias/.*))"))),
        ]
    })
}

impl Reference {
    /// Parses the key reference the plugin was given (the URI after `awskms://`).
    pub fn parse(key_resource_id: &str) -> Result<Self, Error> {
        Self::parse_uri(&format!("awskms://{key_resource_id}"))
    }

    /// Parses a whole `awskms://...` URI, as Go's `ParseReference` does.
    pub fn parse_uri(uri: &str) -> Result<Self, Error> {
        for (_, re) in patterns() {
            if let Some(caps) = re.captures(uri) {
                let group = |i: usize| caps.get(i).map_or("", |m| m.as_str()).to_owned();
                return Ok(Reference { endpoint: group(1), key_id: group(2), alias: group(3) });
            }
        }
        Err(invalid(uri))
    }

    /// Which form the reference has.
    #[must_use]
    pub fn form(&self) -> Form {
        match (self.alias.is_empty(), self.key_id.starts_with("arn:")) {
            (true, false) => Form::KeyId,
            (true, true) => Form::KeyArn,
            (false, false) => Form::AliasName,
            (false, true) => Form::AliasArn,
        }
    }

    /// The region named by an ARN reference (`arn:aws:kms:REGION:...`), if it is one.
    #[must_use]
    pub fn arn_region(&self) -> Option<&str> {
        let rest = self.key_id.strip_prefix("arn:")?;
        rest.split(':').nth(2).filter(|r| !r.is_empty())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "awskms://{}/{}", self.endpoint, self.key_id)
    }
}

/// The accepted forms, for error messages.
pub const FORMS: &str = "awskms:///KEY-ID (1234abcd-12ab-34cd-56ef-1234567890ab, or mrk-... for a multi-Region \
     key), awskms:///arn:aws:kms:REGION:ACCOUNT:key/KEY-ID, awskms:///alias/NAME or \
     awskms:///arn:aws:kms:REGION:ACCOUNT:alias/NAME; each may name an endpoint between the second and third \
     slash (awskms://HOST:PORT/alias/NAME, reached over https)";

fn invalid(uri: &str) -> Error {
    let mut text = format!("invalid AWS KMS key reference {uri:?}: use one of {FORMS}");
    let rest = uri.strip_prefix("awskms://").unwrap_or(uri);
    if !rest.contains('/') {
        let _ = write!(
            text,
            "; without an endpoint the reference needs three slashes: \"awskms:///{rest}\" (or \"awskms:///alias/{rest}\" \
             for an alias)"
        );
    }
    Error::new(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Go's TestParseReference cases (pkg/signature/kms/aws/aws_test.go), in its order:
    /// input, endpoint, key ID, alias, whether it is an error.
    const GO_CASES: &[(&str, &str, &str, &str, bool)] = &[
        ("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", "", "1234abcd-12ab-34cd-56ef-1234567890ab", "", false),
        // multi-region key
        ("awskms:///mrk-1234abcd12ab34cd56ef1234567890ab", "", "mrk-1234abcd12ab34cd56ef1234567890ab", "", false),
        ("awskms:///1234ABCD-12AB-34CD-56EF-1234567890AB", "", "1234ABCD-12AB-34CD-56EF-1234567890AB", "", false),
        (
            "awskms://localhost:4566/1234abcd-12ab-34cd-56ef-1234567890ab",
            "localhost:4566",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
            false,
        ),
        (
            "awskms:///arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
            "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
            false,
        ),
        (
            "awskms://localhost:4566/arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "localhost:4566",
            "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
            false,
        ),
        ("awskms:///alias/ExampleAlias", "", "alias/ExampleAlias", "alias/ExampleAlias", false),
        (
            "awskms://localhost:4566/alias/ExampleAlias",
            "localhost:4566",
            "alias/ExampleAlias",
            "alias/ExampleAlias",
            false,
        ),
        (
            "awskms:///arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias",
            "",
            "arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias",
            "alias/ExampleAlias",
            false,
        ),
        (
            "awskms:///arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/ExampleAlias",
            "",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/ExampleAlias",
            "alias/ExampleAlias",
            false,
        ),
        (
            "awskms:///arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
            false,
        ),
        (
            "awskms://localhost:4566/arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias",
            "localhost:4566",
            "arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias",
            "alias/ExampleAlias",
            false,
        ),
        // missing alias/ prefix
        ("awskms:///missingalias", "", "", "", true),
        // invalid UUID
        ("awskms:///1234abcd-12ab-YYYY-56ef-1234567890ab", "", "", "", true),
        // references without endpoints must use 3 slashes
        ("awskms://1234abcd-12ab-34cd-56ef-1234567890ab", "", "", "", true),
    ];

    #[test]
    fn go_parse_reference_cases() {
        for &(input, endpoint, key_id, alias, want_err) in GO_CASES {
            let got = Reference::parse_uri(input);
            assert_eq!(got.is_err(), want_err, "{input}: {got:?}");
            if let Ok(r) = got {
                assert_eq!(
                    (r.endpoint.as_str(), r.key_id.as_str(), r.alias.as_str()),
                    (endpoint, key_id, alias),
                    "{input}"
                );
                // What the plugin receives is the URI after the scheme.
                assert_eq!(Reference::parse(input.strip_prefix("awskms://").unwrap()).unwrap(), r);
                assert_eq!(r.to_string(), input, "the reference prints as it was given");
            }
        }
    }

    /// Corners of Go's patterns, which we keep as they are (RE2 semantics).
    #[test]
    fn go_pattern_corners() {
        let ok = |s: &str| Reference::parse(s).unwrap();
        // The key ID pattern is loose: any of m, r, k and the dash may be missing, the dashes too.
        assert_eq!(ok("/1234abcd12ab34cd56ef1234567890ab").form(), Form::KeyId);
        assert_eq!(ok("/k-1234abcd12ab34cd56ef1234567890ab").form(), Form::KeyId);
        // An alias may contain anything but a newline, slashes included; the host anything but '/'.
        let r = ok("/alias/a/b c");
        assert_eq!((r.key_id.as_str(), r.alias.as_str(), r.form()), ("alias/a/b c", "alias/a/b c", Form::AliasName));
        assert_eq!(ok("/alias/").alias, "alias/");
        assert!(Reference::parse("/alias/x\ny").is_err());
        assert_eq!(ok("user@host:1/alias/x").endpoint, "user@host:1");
        // The key ARN needs a 12-digit account and a known partition; key IDs have no slashes.
        assert!(
            Reference::parse("/arn:aws:kms:us-east-2:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab").is_err()
        );
        assert!(Reference::parse("/arn:aws-iso:kms:us-east-2:111122223333:alias/x").is_err());
        assert!(Reference::parse("/arn:aws:kms:us-east-2:111122223333:key/").is_err());
        assert!(Reference::parse("host/path/alias/x").is_err());
        assert!(Reference::parse("").is_err());
        let arn = ok("/arn:aws-cn:kms:cn-north-1:111122223333:alias/x");
        assert_eq!((arn.form(), arn.arn_region(), arn.alias.as_str()), (Form::AliasArn, Some("cn-north-1"), "alias/x"));
        assert_eq!(ok("/alias/x").arn_region(), None);
        // Unicode digits are not \d (RE2 and regex-lite agree).
        assert!(Reference::parse("/arn:aws:kms:us-east-2:١١١١٢٢٢٢٣٣٣٣:alias/x").is_err());
    }

    #[test]
    fn bad_references_show_the_accepted_forms() {
        let e = Reference::parse("/missingalias").unwrap_err().to_string();
        assert!(e.contains("\"awskms:///missingalias\"") && e.contains("awskms:///alias/NAME"), "{e}");
        assert!(e.contains("arn:aws:kms:REGION:ACCOUNT:key/KEY-ID") && e.contains("HOST:PORT"), "{e}");
        let e = Reference::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap_err().to_string();
        assert!(e.contains("three slashes: \"awskms:///1234abcd-12ab-34cd-56ef-1234567890ab\""), "{e}");
    }
}
