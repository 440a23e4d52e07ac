//! RFC 7512 PKCS#11 URIs: `pkcs11:token=T;object=O;id=%01?module-path=/lib.so&pin-source=F`.
//!
//! The plugin gets the part after `pkcs11:` (or `pkcs11://`) as its key reference and parses
//! it here. Parsing follows RFC 7512 section 2.3, with two allowances for URIs that cosign
//! writes and reads: `;` also separates query attributes (cosign turns every `;` into `&`),
//! and a key reference may still carry its `pkcs11:` prefix.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use sigstore_kms_provider_kit::{Error, Secret};

/// The path attributes this plugin understands (RFC 7512 section 2.3).
pub const PATH_ATTRIBUTES: [&str; 14] = [
    "token",
    "manufacturer",
    "model",
    "serial",
    "slot-id",
    "slot-description",
    "slot-manufacturer",
    "library-manufacturer",
    "library-description",
    "library-version",
    "object",
    "id",
    "type",
    "x-*",
];

/// The query attributes this plugin understands.
pub const QUERY_ATTRIBUTES: [&str; 5] = ["module-path", "module-name", "pin-value", "pin-source", "x-*"];

/// The object class a URI's `type` attribute names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`: a private key.
    Private,
    /// `type=public`: a public key.
    Public,
    /// `type=cert`: a certificate.
    Cert,
    /// `type=secret-key`: a secret (symmetric) key.
    SecretKey,
    /// `type=data`: a data object.
    Data,
}

impl ObjectType {
    fn parse(text: &str) -> Result<Self, Error> {
        Ok(match text {
            "private" => ObjectType::Private,
            "public" => ObjectType::Public,
            "cert" => ObjectType::Cert,
            "secret-key" => ObjectType::SecretKey,
            "data" => ObjectType::Data,
            other => {
                return Err(Error::new(format!(
                    "invalid PKCS#11 URI: type={other:?} is not an object type; use private, public, cert, secret-key or data"
                )))
            }
        })
    }

    /// The attribute value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }
}

/// A parsed PKCS#11 URI: which module, token and object, and where the PIN comes from.
///
/// Every path attribute that is present must match (RFC 7512); an absent one matches anything.
/// `Debug` never shows the PIN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11Uri {
    /// `token`: the token label (`CK_TOKEN_INFO.label`).
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot ID (`CK_SLOT_ID`, decimal).
    pub slot_id: Option<u64>,
    /// `slot-description`: the slot's description.
    pub slot_description: Option<String>,
    /// `slot-manufacturer`: the slot's manufacturer ID.
    pub slot_manufacturer: Option<String>,
    /// `library-manufacturer`: the module's manufacturer ID (`CK_INFO`).
    pub library_manufacturer: Option<String>,
    /// `library-description`: the module's description.
    pub library_description: Option<String>,
    /// `library-version`: the module's version, `M` or `M.N`.
    pub library_version: Option<(u8, Option<u8>)>,
    /// `object`: the object label (`CKA_LABEL`), as bytes.
    pub object: Option<Vec<u8>>,
    /// `id`: the object ID (`CKA_ID`), as bytes (percent-encoded in the URI: `id=%01%02`).
    pub id: Option<Vec<u8>>,
    /// `type`: the object class the URI names.
    pub object_type: Option<ObjectType>,
    /// `module-path`: the PKCS#11 module (shared library) to load.
    pub module_path: Option<PathBuf>,
    /// `module-name`: a module name, which this plugin does not resolve (an error says so).
    pub module_name: Option<String>,
    /// `pin-value`: the user PIN.
    pub pin_value: Option<Secret>,
    /// `pin-source`: a file holding the user PIN (a path or a `file:` URI).
    pub pin_source: Option<String>,
}

impl Pkcs11Uri {
    /// Parses a key reference: what follows `pkcs11:` or `pkcs11://` in a key URI (a leading
    /// `pkcs11:` is accepted too).
    ///
    /// ```
    /// use sigstore_kms_pkcs11::Pkcs11Uri;
    /// let uri = Pkcs11Uri::parse("token=ci;object=release;id=%01%ab?module-path=/usr/lib/softhsm/libsofthsm2.so")?;
    /// assert_eq!(uri.token.as_deref(), Some("ci"));
    /// assert_eq!(uri.object.as_deref(), Some(&b"release"[..]));
    /// assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xab][..]));
    /// assert_eq!(uri.to_uri(true), "pkcs11:token=ci;object=release;id=%01%ab?module-path=/usr/lib/softhsm/libsofthsm2.so");
    /// # Ok::<(), sigstore_kms_provider_kit::Error>(())
    /// ```
    pub fn parse(key_ref: &str) -> Result<Self, Error> {
        let text = key_ref.strip_prefix("pkcs11:").unwrap_or(key_ref);
        if text.trim().is_empty() {
            return Err(Error::new(
                "the PKCS#11 key URI is empty: use pkcs11:token=TOKEN-LABEL;object=KEY-LABEL?module-path=/path/to/module.so",
            ));
        }
        if text.contains('#') {
            return Err(Error::new("invalid PKCS#11 URI: '#' is not allowed in it (write a '#' in a value as %23)"));
        }
        let (path, query) = match text.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (text, None),
        };
        let mut uri = Pkcs11Uri::default();
        let mut seen: Vec<String> = Vec::new();
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (name, raw) = split_attr(part, "path")?;
            once(&mut seen, name)?;
            uri.set_path(name, raw)?;
        }
        if let Some(query) = query {
            for part in query.split(['&', ';']).filter(|p| !p.is_empty()) {
                let (name, raw) = split_attr(part, "query")?;
                once(&mut seen, name)?;
                uri.set_query(name, raw)?;
            }
        }
        Ok(uri)
    }

    fn set_path(&mut self, name: &str, raw: &str) -> Result<(), Error> {
        // `pkcs11:token=t;object=k&pin-value=...` (a '&' where the '?' belongs) would make the
        // PIN part of the label, and echo it in "no object ..." errors: refuse it, unshown.
        if let Some(q) = QUERY_ATTRIBUTES.iter().find(|q| raw.contains(&format!("&{q}="))) {
            return Err(Error::new(format!(
                "invalid PKCS#11 URI: the value of {name} contains \"&{q}=\": query attributes go after a '?' \
                 (pkcs11:token=T;object=K?module-path=...&{q}=...); write a '&' in a value as %26"
            )));
        }
        let text = || decode_text(name, raw);
        match name {
            "token" => self.token = Some(text()?),
            "manufacturer" => self.manufacturer = Some(text()?),
            "model" => self.model = Some(text()?),
            "serial" => self.serial = Some(text()?),
            "slot-description" => self.slot_description = Some(text()?),
            "slot-manufacturer" => self.slot_manufacturer = Some(text()?),
            "library-manufacturer" => self.library_manufacturer = Some(text()?),
            "library-description" => self.library_description = Some(text()?),
            "object" => self.object = Some(decode(name, raw)?),
            "id" => self.id = Some(decode(name, raw)?),
            "type" => self.object_type = Some(ObjectType::parse(&text()?)?),
            "slot-id" => {
                let t = text()?;
                let id = t.parse::<u64>().map_err(|_| {
                    Error::new(format!("invalid PKCS#11 URI: slot-id={t:?} is not a slot number (a decimal integer)"))
                })?;
                self.slot_id = Some(id);
            }
            "library-version" => {
                let t = text()?;
                let bad = || {
                    Error::new(format!("invalid PKCS#11 URI: library-version={t:?} is not a version (M or M.N, decimal)"))
                };
                let (major, minor) = match t.split_once('.') {
                    Some((a, b)) => (a.parse().map_err(|_| bad())?, Some(b.parse().map_err(|_| bad())?)),
                    None => (t.parse().map_err(|_| bad())?, None),
                };
                self.library_version = Some((major, minor));
            }
            vendor if vendor.starts_with("x-") => {}
            "pin-value" | "pin-source" | "module-path" | "module-name" => {
                return Err(Error::new(format!(
                    "invalid PKCS#11 URI: {name} is a query attribute: write it after '?' (pkcs11:token=T;object=K?{name}=...)"
                )))
            }
            other => {
                return Err(Error::new(format!(
                    "invalid PKCS#11 URI: unknown path attribute {other:?}; the path attributes are {}",
                    PATH_ATTRIBUTES.join(", ")
                )))
            }
        }
        Ok(())
    }

    fn set_query(&mut self, name: &str, raw: &str) -> Result<(), Error> {
        match name {
            "module-path" => self.module_path = Some(PathBuf::from(decode_text(name, raw)?)),
            "module-name" => self.module_name = Some(decode_text(name, raw)?),
            // Never echo the value: only say that it is not UTF-8.
            "pin-value" => self.pin_value = Some(Secret::new(decode_text(name, raw)?)),
            "pin-source" => self.pin_source = Some(decode_text(name, raw)?),
            vendor if vendor.starts_with("x-") => {}
            other if PATH_ATTRIBUTES.contains(&other) => {
                return Err(Error::new(format!(
                    "invalid PKCS#11 URI: {other} is a path attribute: write it before '?', separated by ';' (pkcs11:{other}=...;object=K?module-path=...)"
                )))
            }
            other => {
                return Err(Error::new(format!(
                    "invalid PKCS#11 URI: unknown query attribute {other:?}; the query attributes are {}",
                    QUERY_ATTRIBUTES.join(", ")
                )))
            }
        }
        Ok(())
    }

    /// Whether the URI names an object (by `object` or `id`).
    #[must_use]
    pub fn names_object(&self) -> bool {
        self.object.is_some() || self.id.is_some()
    }

    /// The URI in RFC 7512 form, without any PIN attribute (`pin-value`, `pin-source`), with
    /// `module-path` when `with_module` is set. Values are percent-encoded so that cosign
    /// reads them back the same (a `+` or `&` is always encoded, `id` byte by byte).
    #[must_use]
    pub fn to_uri(&self, with_module: bool) -> String {
        let mut path: Vec<String> = Vec::new();
        let mut push = |name: &str, encoded: String| path.push(format!("{name}={encoded}"));
        for (name, value) in [
            ("library-manufacturer", &self.library_manufacturer),
            ("library-description", &self.library_description),
            ("slot-manufacturer", &self.slot_manufacturer),
            ("slot-description", &self.slot_description),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("token", &self.token),
        ] {
            if let Some(v) = value {
                push(name, encode(v.as_bytes(), PATH_SAFE));
            }
        }
        if let Some((major, minor)) = self.library_version {
            let v = minor.map_or(major.to_string(), |m| format!("{major}.{m}"));
            push("library-version", v);
        }
        if let Some(slot) = self.slot_id {
            push("slot-id", slot.to_string());
        }
        if let Some(object) = &self.object {
            push("object", encode(object, PATH_SAFE));
        }
        if let Some(id) = &self.id {
            push("id", encode(id, b""));
        }
        if let Some(t) = self.object_type {
            push("type", t.as_str().to_owned());
        }
        let mut out = format!("pkcs11:{}", path.join(";"));
        if with_module {
            if let Some(m) = &self.module_path {
                let _ = write!(out, "?module-path={}", encode(m.to_string_lossy().as_bytes(), QUERY_SAFE));
            }
        }
        out
    }

    /// A short description of the object the URI names, for messages: `object "k" id %01`.
    #[must_use]
    pub fn describe_object(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = &self.object {
            parts.push(format!("object {:?}", String::from_utf8_lossy(o)));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id {}", encode(id, b"")));
        }
        if parts.is_empty() {
            "any object (the URI has neither object= nor id=)".to_owned()
        } else {
            parts.join(" ")
        }
    }

    /// A short description of the token the URI names, for messages: `token "ci"`.
    #[must_use]
    pub fn describe_token(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("token", &self.token),
            ("serial", &self.serial),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("slot-description", &self.slot_description),
            ("slot-manufacturer", &self.slot_manufacturer),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name}={v:?}"));
            }
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id={s}"));
        }
        if parts.is_empty() {
            "any token".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

impl fmt::Display for Pkcs11Uri {
    /// The URI without the PIN (see [`Pkcs11Uri::to_uri`]), with the module path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri(true))
    }
}

fn split_attr<'a>(part: &'a str, section: &str) -> Result<(&'a str, &'a str), Error> {
    match part.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name, value)),
        // Show the text only up to 40 characters: it is not a PIN (those are NAME=VALUE), but
        // it might be a mistyped one.
        _ => Err(Error::new(format!(
            "invalid PKCS#11 URI: the {section} attribute {:?} is not NAME=VALUE",
            part.chars().take(40).collect::<String>()
        ))),
    }
}

fn once(seen: &mut Vec<String>, name: &str) -> Result<(), Error> {
    if !name.starts_with("x-") && seen.iter().any(|s| s == name) {
        return Err(Error::new(format!("invalid PKCS#11 URI: the attribute {name} is given twice")));
    }
    seen.push(name.to_owned());
    Ok(())
}

/// Percent-decodes an attribute value to bytes. `+` is a plus sign (RFC 7512), not a space.
fn decode(name: &str, raw: &str) -> Result<Vec<u8>, Error> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                // The value is never shown: it may be a PIN.
                Error::new(format!(
                    "invalid PKCS#11 URI: the value of {name} has a '%' not followed by two hex digits (write a '%' as %25)"
                ))
            })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(name: &str, raw: &str) -> Result<String, Error> {
    String::from_utf8(decode(name, raw)?)
        .map_err(|_| Error::new(format!("invalid PKCS#11 URI: the value of {name} is not UTF-8 once percent-decoded")))
}

/// Characters left as they are in a path value besides the unreserved ones (RFC 7512's
/// `pk11-pchar` minus `&` and `+`, which cosign's parser would misread).
const PATH_SAFE: &[u8] = b":[]@!$'()*,=";
/// The same for query values (`pk11-qchar` minus `+`).
const QUERY_SAFE: &[u8] = b":[]@!$'()*,=/?|";

/// Percent-encodes `value`, leaving unreserved characters and `safe` as they are.
fn encode(value: &[u8], safe: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value {
        if !safe.is_empty() && (b.is_ascii_alphanumeric() || b"-._~".contains(&b) || safe.contains(&b)) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The URIs of cosign's own tests and RFC 7512's examples, and what they name.
    #[test]
    fn parses_cosign_and_rfc_examples() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=my-token;slot-id=1;id=%61%62%63;object=my-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("my-token"));
        assert_eq!(u.slot_id, Some(1));
        assert_eq!(u.id.as_deref(), Some(&b"abc"[..]));
        assert_eq!(u.object.as_deref(), Some(&b"my-key"[..]));
        assert_eq!(u.module_path, Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(u.pin_value.as_ref().map(Secret::expose), Some("1234"));
        assert!(!format!("{u:?}").contains("1234"), "Debug shows the PIN: {u:?}");
        assert!(!u.to_string().contains("1234"));

        let rfc = [
            "pkcs11:",
            "pkcs11:object=my-pubkey;type=public",
            "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
            "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
            "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
            "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
            "pkcs11:slot-description=Sun%20Metaslot",
            "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
            "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1",
            "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
        ];
        for (i, text) in rfc.iter().enumerate() {
            let r = Pkcs11Uri::parse(text);
            if i == 0 {
                assert!(r.unwrap_err().to_string().contains("empty"));
            } else if text.contains("vendor-aaa") {
                // Not x- prefixed: an attribute this plugin does not know is an error, not
                // silently ignored (a typo must not widen the match).
                assert!(r.unwrap_err().to_string().contains("unknown path attribute \"vendor-aaa\""));
            } else {
                assert!(r.is_ok(), "{text}: {:?}", r.err());
            }
        }
        let u = Pkcs11Uri::parse(rfc[3]).unwrap();
        assert_eq!(u.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(u.id.as_deref(), Some(&[0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91][..]));
        assert_eq!(u.object_type, Some(ObjectType::Cert));
        assert_eq!(u.serial.as_deref(), Some(""));
        assert_eq!(u.pin_source.as_deref(), Some("file:/etc/token_pin"));
        let u = Pkcs11Uri::parse(rfc[8]).unwrap();
        assert_eq!(u.library_version, Some((1, Some(23))));
        assert_eq!(Pkcs11Uri::parse(rfc[9]).unwrap().token.as_deref(), Some("Name with a small A with acute: á"));
    }

    #[test]
    fn forms_and_separators() {
        // Plugin form (after pkcs11://), plain form, cosign's ';' in the query, x- attributes.
        for text in [
            "token=t;object=k?module-path=/m.so&pin-source=/p",
            "pkcs11:token=t;object=k?module-path=/m.so&pin-source=/p",
            "token=t;object=k;?module-path=/m.so;pin-source=/p&x-vendor=1",
            "x-a=1;token=t;x-a=2;object=k?pin-source=/p&module-path=/m.so",
        ] {
            let u = Pkcs11Uri::parse(text).unwrap();
            assert_eq!(
                (u.token.as_deref(), u.object.as_deref(), u.pin_source.as_deref()),
                (Some("t"), Some(&b"k"[..]), Some("/p")),
                "{text}"
            );
            assert_eq!(u.module_path, Some(PathBuf::from("/m.so")), "{text}");
        }
        // '+' is a plus sign.
        assert_eq!(Pkcs11Uri::parse("object=a+b").unwrap().object.as_deref(), Some(&b"a+b"[..]));
    }

    #[test]
    fn bad_uris_say_what_is_wrong_without_the_pin() {
        let cases = [
            ("token=t;token=u", "given twice"),
            ("token", "not NAME=VALUE"),
            ("=x", "not NAME=VALUE"),
            ("objekt=k", "unknown path attribute \"objekt\""),
            ("token=t?pin=1", "unknown query attribute \"pin\""),
            ("token=t;pin-value=SECRET", "is a query attribute"),
            ("token=t?object=k", "is a path attribute"),
            ("slot-id=one", "not a slot number"),
            ("slot-id=-1", "not a slot number"),
            ("library-version=1.x", "not a version"),
            ("type=key", "not an object type"),
            ("token=t?pin-value=SECRET%zz", "two hex digits"),
            ("token=t?pin-value=SECRET%ff", "not UTF-8"),
            ("token=t;object=k&pin-value=SECRET", "query attributes go after a '?'"),
            ("token=t&module-path=/m.so&pin-source=/SECRET", "query attributes go after a '?'"),
            ("token=a#b", "'#'"),
            ("", "empty"),
        ];
        for (text, want) in cases {
            let e = Pkcs11Uri::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("SECRET"), "{text}: the error shows the PIN: {e}");
        }
    }

    #[test]
    fn formatting_round_trips_and_never_has_the_pin() {
        let u = Pkcs11Uri {
            token: Some("CI token; #1 & +".into()),
            serial: Some("a1b2".into()),
            slot_id: Some(7),
            object: Some(b"release key/2026".to_vec()),
            id: Some(vec![0, 1, 0xfe]),
            module_path: Some(PathBuf::from("/opt/HSM vendor/lib+p11.so")),
            pin_value: Some(Secret::new("4321")),
            pin_source: Some("/run/pin".into()),
            ..Pkcs11Uri::default()
        };
        let text = u.to_uri(true);
        assert_eq!(
            text,
            "pkcs11:serial=a1b2;token=CI%20token%3b%20%231%20%26%20%2b;slot-id=7;object=release%20key%2f2026;id=%00%01%fe?module-path=/opt/HSM%20vendor/lib%2bp11.so"
        );
        let back = Pkcs11Uri::parse(&text).unwrap();
        assert_eq!(back, Pkcs11Uri { pin_value: None, pin_source: None, ..u.clone() });
        assert!(!u.to_uri(false).contains("module-path"));
        assert_eq!(u.describe_object(), "object \"release key/2026\" id %00%01%fe");
    }
}
