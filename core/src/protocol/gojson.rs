//! JSON exactly as Go's `encoding/json` writes and reads it.
//!
//! Writing: `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`-style escapes
//! (HTML-safe output); serde_json does not, so [`GoFormatter`] adds them. Everything else
//! (short escapes such as `\n`, `\b`, `\f`; `\u00XX` in lower-case hex for other controls)
//! already agrees.
//!
//! Reading: Go matches object keys to fields case-insensitively (with Unicode simple folding, so
//! the Kelvin sign folds to `K` and long s to `S`), ignores unknown keys, treats `null` as "leave
//! the field alone" for scalars and "set to nil" for pointers and slices, decodes a repeated
//! object key *into* the value already there, and accepts a `[]byte` as base64 (ignoring
//! `\r`/`\n`, not requiring zero trailing bits) or as an array of numbers. [`GoValue`] keeps
//! objects as ordered key/value lists (duplicates included) so [`GoDecode`] can replay Go's
//! rules in document order.

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serializer;

/// Standard base64 as Go's `base64.StdEncoding`: padded on output; on input padding is
/// required but non-zero trailing bits are accepted.
const GO_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes bytes as standard padded base64.
#[must_use]
pub fn base64_encode(bytes: &[u8]) -> String {
    GO_BASE64.encode(bytes)
}

/// Decodes standard padded base64 the way Go's `encoding/json` does for `[]byte`.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: std::borrow::Cow<'_, str> = if text.contains(['\r', '\n']) {
        text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect::<String>().into()
    } else {
        text.into()
    };
    GO_BASE64.decode(cleaned.as_bytes()).map_err(|e| format!("invalid base64: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A serde_json formatter that escapes like Go's `json.Marshal`.
#[derive(Debug, Default, Clone, Copy)]
pub struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Serializes `value` to compact JSON bytes exactly as Go's `json.Marshal` would.
pub fn to_go_json<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Our wire types contain only strings, numbers, booleans and maps: serialization cannot fail.
    if value.serialize(&mut ser).is_err() {
        out.clear();
    }
    out
}

/// serde helper: bytes as standard padded base64.
pub(crate) fn ser_base64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64_encode(bytes))
}

/// serde helper: optional bytes, `None` as `null`.
#[allow(clippy::ref_option)] // serde's `serialize_with` hands us `&Option<_>`
pub(crate) fn ser_opt_base64<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&base64_encode(b)),
        None => s.serialize_none(),
    }
}

/// serde helper: a deadline as Go marshals a `time.Time` (RFC 3339, nanoseconds trimmed).
#[allow(clippy::ref_option)]
pub(crate) fn ser_deadline<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// Formats a time as Go's `time.Time.MarshalJSON` does for a UTC time: RFC 3339 with the
/// fraction of a second written only when non-zero, trailing zeros trimmed.
#[must_use]
pub fn format_rfc3339(time: SystemTime) -> String {
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (i64::try_from(after.as_secs()).unwrap_or(i64::MAX), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let (whole, frac) = (i64::try_from(before.as_secs()).unwrap_or(i64::MAX), before.subsec_nanos());
            if frac == 0 {
                (-whole, 0)
            } else {
                (-whole - 1, 1_000_000_000 - frac)
            }
        }
    };
    let dt = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 timestamp (any offset, optional fraction) as Go's `time.Time` does.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let dt = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("invalid RFC 3339 time {text:?}: {e}"))?;
    let nanos = dt.unix_timestamp_nanos();
    let as_duration = |n: i128| {
        let n = u128::try_from(n).unwrap_or(0);
        Duration::new(
            u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX),
            u32::try_from(n % 1_000_000_000).unwrap_or(0),
        )
    };
    Ok(if nanos >= 0 { UNIX_EPOCH + as_duration(nanos) } else { UNIX_EPOCH - as_duration(-nanos) })
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A parsed JSON value that keeps object entries in document order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<GoValue>),
    /// An object, as its entries in order.
    Object(Vec<(String, GoValue)>),
}

impl GoValue {
    fn is_container(&self) -> bool {
        matches!(self, GoValue::Array(_) | GoValue::Object(_))
    }

    /// A short name of the JSON type, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            GoValue::Null => "null",
            GoValue::Bool(_) => "a boolean",
            GoValue::Number(_) => "a number",
            GoValue::String(_) => "a string",
            GoValue::Array(_) => "an array",
            GoValue::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for GoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GoValueVisitor;
        impl<'de> Visitor<'de> for GoValueVisitor {
            type Value = GoValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<GoValue, E> {
                Ok(GoValue::Null)
            }
            fn visit_none<E>(self) -> Result<GoValue, E> {
                Ok(GoValue::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<GoValue, E> {
                Ok(GoValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<GoValue, E> {
                Ok(GoValue::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<GoValue, E> {
                Ok(GoValue::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoValue, E> {
                serde_json::Number::from_f64(v).map(GoValue::Number).ok_or_else(|| E::custom("number out of range"))
            }
            fn visit_str<E>(self, v: &str) -> Result<GoValue, E> {
                Ok(GoValue::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<GoValue, E> {
                Ok(GoValue::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GoValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(GoValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GoValue, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, GoValue>()? {
                    entries.push((k, v));
                }
                Ok(GoValue::Object(entries))
            }
        }
        deserializer.deserialize_any(GoValueVisitor)
    }
}

/// Why a JSON document did not decode: where (a dotted path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Dotted path of the offending field, e.g. `signMessage.signature`; empty for the document.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

fn type_error(path: &str, expected: &str, got: &GoValue) -> DecodeError {
    DecodeError { path: path.to_owned(), message: format!("expected {expected}, got {}", got.type_name()) }
}

/// Joins a parent path and a field name.
pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// The deepest nesting of arrays and objects Go's decoder accepts (`maxNestingDepth` of
/// `encoding/json`'s scanner); one more level is refused, as Go refuses it.
pub const MAX_NESTING_DEPTH: usize = 10_000;

/// Parses one JSON document (nothing but whitespace may follow it) into a [`GoValue`].
///
/// Nesting up to [`MAX_NESTING_DEPTH`] is accepted, as by Go: the parser (and dropping what it
/// made) keeps its own stack on the heap, so a deep document cannot overflow the thread's stack
/// (a host may run this on a small one).
pub fn parse_document(bytes: &[u8]) -> Result<GoValue, DecodeError> {
    let doc_error = |message: String| DecodeError { path: String::new(), message };
    if bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        return Err(doc_error(if bytes.is_empty() {
            "empty output: expected one JSON object".to_owned()
        } else {
            "output is only whitespace: expected one JSON object".to_owned()
        }));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| doc_error(format!("output is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to())))?;
    Parser { text, pos: 0 }.document().map_err(|e| {
        let (line, column) = e.location(text);
        let what = if e.eof { "truncated JSON" } else { "not a single JSON value" };
        doc_error(format!("{what}: {} at line {line} column {column}", e.message))
    })
}

/// A syntax error: what, at which byte offset, and whether the input ended too early.
struct SyntaxError {
    message: String,
    at: usize,
    eof: bool,
}

impl SyntaxError {
    /// Line and column (1-based, in characters) of the offset.
    fn location(&self, text: &str) -> (usize, usize) {
        let before = &text[..self.at.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

/// An array or object being parsed.
enum Open {
    Array(Vec<GoValue>),
    /// The entries so far, and the key whose value is being parsed.
    Object(Vec<(String, GoValue)>, String),
}

/// A JSON parser that keeps the open arrays and objects on a heap stack (no recursion).
/// Strings and numbers are read by serde_json, so they follow exactly the rules they always did.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError { message: message.into(), at: self.pos, eof: self.pos >= self.text.len() }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn document(&mut self) -> Result<GoValue, SyntaxError> {
        let mut open: Vec<Open> = Vec::new();
        self.skip_whitespace();
        loop {
            // A value starts here: a scalar, an empty container, or the first member of one.
            let mut value = match self.peek() {
                Some(b'[' | b'{') => {
                    if open.len() >= MAX_NESTING_DEPTH {
                        return Err(self.error(format!(
                            "nested more than {MAX_NESTING_DEPTH} levels deep (the most Go's decoder accepts)"
                        )));
                    }
                    let array = self.peek() == Some(b'[');
                    self.pos += 1;
                    self.skip_whitespace();
                    match (array, self.peek()) {
                        (true, Some(b']')) => {
                            self.pos += 1;
                            GoValue::Array(Vec::new())
                        }
                        (false, Some(b'}')) => {
                            self.pos += 1;
                            GoValue::Object(Vec::new())
                        }
                        (true, _) => {
                            open.push(Open::Array(Vec::new()));
                            continue;
                        }
                        (false, _) => {
                            let key = self.key()?;
                            open.push(Open::Object(Vec::new(), key));
                            continue;
                        }
                    }
                }
                _ => self.scalar()?,
            };
            // The value is complete: add it to the container it is in, closing every container
            // that ends right after it.
            loop {
                self.skip_whitespace();
                let Some(container) = open.last_mut() else {
                    if self.pos < self.text.len() {
                        return Err(self.error("trailing characters after the JSON value"));
                    }
                    return Ok(value);
                };
                let closing = match container {
                    Open::Array(items) => {
                        items.push(value);
                        match self.peek() {
                            Some(b',') => None,
                            Some(b']') => Some(()),
                            _ => return Err(self.error("expected `,` or `]`")),
                        }
                    }
                    Open::Object(entries, key) => {
                        entries.push((std::mem::take(key), value));
                        match self.peek() {
                            Some(b',') => None,
                            Some(b'}') => Some(()),
                            _ => return Err(self.error("expected `,` or `}`")),
                        }
                    }
                };
                self.pos += 1;
                if closing.is_none() {
                    self.skip_whitespace();
                    if let Some(Open::Object(_, key)) = open.last_mut() {
                        *key = self.key()?;
                    }
                    break;
                }
                value = match open.pop() {
                    Some(Open::Array(items)) => GoValue::Array(items),
                    Some(Open::Object(entries, _)) => GoValue::Object(entries),
                    None => return Err(self.error("internal: no open container")),
                };
            }
            self.skip_whitespace();
        }
    }

    /// An object key and the `:` after it.
    fn key(&mut self) -> Result<String, SyntaxError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("key must be a string"));
        }
        let key = self.string()?;
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.pos += 1;
        self.skip_whitespace();
        Ok(key)
    }

    fn scalar(&mut self) -> Result<GoValue, SyntaxError> {
        let rest = &self.text[self.pos..];
        for (word, value) in [("true", GoValue::Bool(true)), ("false", GoValue::Bool(false)), ("null", GoValue::Null)] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(value);
            }
            if word.starts_with(rest) && !rest.is_empty() {
                self.pos = self.text.len();
                return Err(self.error(format!("EOF while parsing `{word}`")));
            }
        }
        match self.peek() {
            Some(b'"') => self.string().map(GoValue::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.error("EOF while parsing a value")),
            Some(_) => Err(self.error("expected value")),
        }
    }

    /// A string token, decoded by serde_json (escapes, surrogate pairs, control characters).
    fn string(&mut self) -> Result<String, SyntaxError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => {
                    self.pos = bytes.len();
                    return Err(self.error("EOF while parsing a string"));
                }
                Some(b'"') => break,
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        }
        let token = &self.text[start..=i];
        let decoded = serde_json::from_str::<String>(token).map_err(|e| serde_error(start, &e))?;
        self.pos = i + 1;
        Ok(decoded)
    }

    fn number(&mut self) -> Result<GoValue, SyntaxError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut end = start;
        while matches!(bytes.get(end), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            end += 1;
        }
        let number =
            serde_json::from_str::<serde_json::Number>(&self.text[start..end]).map_err(|e| serde_error(start, &e))?;
        self.pos = end;
        Ok(GoValue::Number(number))
    }
}

/// A serde_json error about the token at `start`, placed in the whole document.
fn serde_error(start: usize, e: &serde_json::Error) -> SyntaxError {
    let text = e.to_string();
    let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m).to_owned();
    SyntaxError { message, at: start + e.column().saturating_sub(1), eof: e.is_eof() }
}

impl Drop for GoValue {
    /// Frees nested arrays and objects with a heap stack: a value nested thousands deep must not
    /// recurse that deep.
    fn drop(&mut self) {
        let children = match self {
            GoValue::Array(items) if items.iter().any(GoValue::is_container) => std::mem::take(items),
            GoValue::Object(entries) if entries.iter().any(|(_, v)| v.is_container()) => {
                std::mem::take(entries).into_iter().map(|(_, v)| v).collect()
            }
            _ => return,
        };
        let mut stack = children;
        while let Some(mut value) = stack.pop() {
            match &mut value {
                GoValue::Array(items) => stack.append(items),
                GoValue::Object(entries) => stack.extend(std::mem::take(entries).into_iter().map(|(_, v)| v)),
                _ => {}
            }
            // `value` is dropped here with no children left: no recursion.
        }
    }
}

/// Decodes a whole document into `T` with Go's rules.
pub fn decode_document<T: GoDecode + GoZero>(bytes: &[u8]) -> Result<T, DecodeError> {
    let value = parse_document(bytes)?;
    let mut out = T::go_zero();
    out.apply(&value, "")?;
    Ok(out)
}

/// Whether JSON object key `key` selects the field named `name`, by Go's case folding.
#[must_use]
pub fn go_key_matches(key: &str, name: &str) -> bool {
    let mut folded = key.chars().map(|c| match c {
        '\u{212A}' => 'K', // Kelvin sign folds to K
        '\u{017F}' => 'S', // long s folds to S
        c => c.to_ascii_uppercase(),
    });
    let mut wanted = name.chars().map(|c| c.to_ascii_uppercase());
    loop {
        match (folded.next(), wanted.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Decoding *into* an existing value, as Go's `json.Unmarshal` does.
pub trait GoDecode {
    /// Applies JSON `value` found at `path` onto `self`.
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError>;
}

impl GoDecode for String {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        match value {
            GoValue::Null => Ok(()),
            GoValue::String(s) => {
                s.clone_into(self);
                Ok(())
            }
            other => Err(type_error(path, "a string", other)),
        }
    }
}

impl GoDecode for bool {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        match value {
            GoValue::Null => Ok(()),
            GoValue::Bool(b) => {
                *self = *b;
                Ok(())
            }
            other => Err(type_error(path, "a boolean", other)),
        }
    }
}

impl GoDecode for super::HashFunc {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        match value {
            GoValue::Null => Ok(()),
            GoValue::Number(n) => {
                let number = n.as_u64().ok_or_else(|| DecodeError {
                    path: path.to_owned(),
                    message: format!("expected a hash function number (Go crypto.Hash), got {n}"),
                })?;
                *self = super::HashFunc::from_number(number).ok_or_else(|| DecodeError {
                    path: path.to_owned(),
                    message: format!("unknown hash function number {number} (known: 0-19, Go's crypto.Hash)"),
                })?;
                Ok(())
            }
            other => Err(type_error(path, "a number", other)),
        }
    }
}

/// Bytes, as Go's `[]byte`: base64 string, or array of numbers; `null` sets nil (empty).
impl GoDecode for Vec<u8> {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        match value {
            GoValue::Null => {
                self.clear();
                Ok(())
            }
            GoValue::String(s) => {
                *self = base64_decode(s).map_err(|message| DecodeError { path: path.to_owned(), message })?;
                Ok(())
            }
            GoValue::Array(items) => {
                let mut bytes = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let mut byte = 0u8;
                    match item {
                        GoValue::Null => {}
                        GoValue::Number(n) => {
                            byte = n.as_u64().and_then(|v| u8::try_from(v).ok()).ok_or_else(|| DecodeError {
                                path: format!("{path}[{i}]"),
                                message: format!("{n} does not fit in a byte"),
                            })?;
                        }
                        other => return Err(type_error(&format!("{path}[{i}]"), "a byte (number)", other)),
                    }
                    bytes.push(byte);
                }
                *self = bytes;
                Ok(())
            }
            other => Err(type_error(path, "a base64 string", other)),
        }
    }
}

impl GoDecode for Vec<String> {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        match value {
            GoValue::Null => {
                self.clear();
                Ok(())
            }
            GoValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let mut s = String::new();
                    s.apply(item, &format!("{path}[{i}]"))?;
                    out.push(s);
                }
                *self = out;
                Ok(())
            }
            other => Err(type_error(path, "an array of strings", other)),
        }
    }
}

/// A `time.Time`: an RFC 3339 string; `null` leaves it alone.
impl GoDecode for SystemTime {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        match value {
            GoValue::Null => Ok(()),
            GoValue::String(s) => {
                *self = parse_rfc3339(s).map_err(|message| DecodeError { path: path.to_owned(), message })?;
                Ok(())
            }
            other => Err(type_error(path, "an RFC 3339 time string", other)),
        }
    }
}

/// The zero value Go allocates behind a nil pointer before decoding into it.
pub trait GoZero {
    /// The zero value.
    fn go_zero() -> Self;
}

impl GoZero for SystemTime {
    fn go_zero() -> Self {
        UNIX_EPOCH
    }
}

macro_rules! go_zero_from_default {
    ($($ty:ty),*) => { $(impl GoZero for $ty { fn go_zero() -> Self { Self::default() } })* };
}
go_zero_from_default!(String, bool, Vec<u8>, Vec<String>, super::HashFunc);

impl<T> GoZero for Option<T> {
    fn go_zero() -> Self {
        None
    }
}

/// A Go pointer: `null` sets it to nil; anything else decodes into the pointee, allocating it
/// first if needed (so a repeated key merges into the value already there).
impl<T: GoDecode + GoZero> GoDecode for Option<T> {
    fn apply(&mut self, value: &GoValue, path: &str) -> Result<(), DecodeError> {
        if *value == GoValue::Null {
            *self = None;
            return Ok(());
        }
        self.get_or_insert_with(T::go_zero).apply(value, path)
    }
}

/// Applies the entries of a JSON object to the fields of a struct, Go style.
///
/// `fields` maps each entry's key to a field; the callback returns `Ok(false)` for unknown
/// keys, which are ignored.
pub(crate) fn apply_object(
    value: &GoValue,
    path: &str,
    what: &str,
    mut field: impl FnMut(&str, &GoValue, &str) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    match value {
        GoValue::Null => Ok(()),
        GoValue::Object(entries) => {
            for (key, v) in entries {
                field(key, v, path)?;
            }
            Ok(())
        }
        other => Err(type_error(path, what, other)),
    }
}

/// Implements [`GoDecode`] for a struct by listing `"jsonName" => field` pairs.
macro_rules! go_decode_struct {
    ($ty:ty, $what:literal { $($name:literal => $field:ident),* $(,)? }) => {
        impl $crate::protocol::gojson::GoZero for $ty {
            fn go_zero() -> Self {
                <$ty as Default>::default()
            }
        }

        impl $crate::protocol::gojson::GoDecode for $ty {
            fn apply(
                &mut self,
                value: &$crate::protocol::gojson::GoValue,
                path: &str,
            ) -> Result<(), $crate::protocol::gojson::DecodeError> {
                $crate::protocol::gojson::apply_object(value, path, $what, |key, v, path| {
                    $(
                        if $crate::protocol::gojson::go_key_matches(key, $name) {
                            self.$field.apply(v, &$crate::protocol::gojson::join(path, $name))?;
                            return Ok(true);
                        }
                    )*
                    let _ = (key, v, path);
                    Ok(false)
                })
            }
        }
    };
}
pub(crate) use go_decode_struct;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let out = to_go_json("a<b>&c\u{2028}\u{2029}\n\u{1}\u{8}\u{c}\"\\é\u{7f}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\u003cb\u003e\u0026c\u2028\u2029\n\u0001\b\f\"\\é"#.to_owned() + "\u{7f}\""
        );
    }

    #[test]
    fn rfc3339_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_743_475_620, 0);
        assert_eq!(format_rfc3339(t), "2025-04-01T02:47:00Z");
        assert_eq!(format_rfc3339(t + Duration::from_millis(100)), "2025-04-01T02:47:00.1Z");
        assert_eq!(format_rfc3339(t + Duration::from_nanos(123_456_789)), "2025-04-01T02:47:00.123456789Z");
        assert_eq!(parse_rfc3339("2025-04-01T04:47:00.1+02:00").unwrap(), t + Duration::from_millis(100));
    }

    #[test]
    fn key_folding() {
        assert!(go_key_matches("SIGNATURE", "signature"));
        assert!(go_key_matches("\u{017F}ignature", "signature"));
        assert!(go_key_matches("\u{212A}eyVersion", "keyVersion"));
        assert!(!go_key_matches("signaturex", "signature"));
        assert!(!go_key_matches("sígnature", "signature"));
    }

    /// Nesting as deep as Go's decoder accepts, and no deeper; on a thread with a small stack,
    /// which a recursive parser (or drop) would overflow.
    #[test]
    fn nesting_up_to_gos_limit_without_recursion() {
        let deep = |levels: usize, open: &str, close: &str| {
            format!(r#"{{"debug":{}{}}}"#, open.repeat(levels - 1), close.repeat(levels - 1))
        };
        let small_stack = std::thread::Builder::new().stack_size(64 * 1024);
        let outcome = small_stack
            .spawn(move || {
                // The document's own object is level 1, "debug"'s value level 2, ...
                let objects = deep(MAX_NESTING_DEPTH, r#"{"x":"#, "}").replacen(r#"{"x":}"#, "{}", 1);
                let arrays = deep(MAX_NESTING_DEPTH, "[", "]");
                let too_deep = deep(MAX_NESTING_DEPTH + 1, "[", "]");
                (
                    parse_document(arrays.as_bytes()).is_ok(),
                    parse_document(objects.as_bytes()),
                    parse_document(too_deep.as_bytes()),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(outcome.0, "10,000 levels of arrays are accepted");
        assert!(outcome.1.is_ok(), "10,000 levels of objects are accepted: {:?}", outcome.1.err());
        let err = outcome.2.unwrap_err();
        assert!(err.message.contains("nested more than 10000 levels"), "{err}");
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        let err = |text: &str| parse_document(text.as_bytes()).unwrap_err().message;
        assert_eq!(
            err(r#"{"a":1}{"b":2}"#),
            "not a single JSON value: trailing characters after the JSON value at line 1 column 8"
        );
        assert!(err(r#"{"a":[1,2"#).starts_with("truncated JSON: "), "{}", err(r#"{"a":[1,2"#));
        assert!(err("{\"a\":\"x\ny\"}").contains("control character"), "{}", err("{\"a\":\"x\ny\"}"));
        assert!(err(r#"{"a":tru}"#).contains("expected value") || err(r#"{"a":tru}"#).contains("true"));
        assert_eq!(err("{\n  \"a\" 1}"), "not a single JSON value: expected `:` at line 2 column 7");
        assert_eq!(
            parse_document(br#" {"k":[true,false,null,-1.5e3,"\u00e9\ud83d\ude00"],"o":{}} "#).unwrap(),
            GoValue::Object(vec![
                (
                    "k".into(),
                    GoValue::Array(vec![
                        GoValue::Bool(true),
                        GoValue::Bool(false),
                        GoValue::Null,
                        GoValue::Number(serde_json::Number::from_f64(-1500.0).unwrap()),
                        GoValue::String("é😀".into()),
                    ])
                ),
                ("o".into(), GoValue::Object(vec![])),
            ])
        );
    }

    #[test]
    fn base64_like_go() {
        assert_eq!(base64_decode("AB==").unwrap(), vec![0]);
        assert_eq!(base64_decode("YW55\nRGlnZXN0").unwrap(), b"anyDigest");
        assert!(base64_decode("AA").is_err());
        assert!(base64_decode("***").is_err());
    }
}
