//! Configuration from the environment, as the Go provider (and so cosign) reads it.
//!
//! The Go provider makes its client with HashiCorp's `vault/api` `NewClient(&Config{Address})`:
//! the address and token it looks up itself (`VAULT_ADDR`, then `BAO_ADDR`; `VAULT_TOKEN`, then
//! `BAO_TOKEN`, then the token helper), and `NewClient` applies the rest of `DefaultConfig()`'s
//! `ReadEnvironment()`: the TLS settings and proxy (they live in the shared HTTP transport),
//! `VAULT_NAMESPACE` and `VAULT_HEADERS`. Every variable is read here under its `VAULT_` name
//! first and its `BAO_` name (what OpenBao's own client reads) second, the first non-empty one
//! winning, so that both programs read one configuration the same way cosign's built-in
//! `hashivault://` and `openbao://` do. The crate docs list every variable and what happens to
//! the ones Go reads but does not apply.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ureq::http::Uri;

use crate::Error;

/// Where configuration comes from: the process environment, or a map (tests, embedders).
pub trait Environment {
    /// The value of variable `name`, if set (and valid Unicode).
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A setting and the variable it came from (error messages name the variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The variable, e.g. `VAULT_ADDR`.
    pub var: String,
    /// Its value.
    pub value: String,
}

/// `VAULT_{base}`, else `BAO_{base}`: the first that is set and not empty.
pub fn lookup(env: &dyn Environment, base: &str) -> Option<Setting> {
    ["VAULT_", "BAO_"].iter().find_map(|prefix| {
        let var = format!("{prefix}{base}");
        env.var(&var).filter(|v| !v.is_empty()).map(|value| Setting { var, value })
    })
}

/// The server address: `http(s)://host[:port][/path-prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address without a trailing `/`; requests go to `{base}/v1/{path}`.
    pub base: String,
    /// The variable it came from.
    pub var: String,
    /// Whether it is `https`.
    pub https: bool,
    /// The host (a name, or an IP address; IPv6 without brackets).
    pub host: String,
    /// The port (8200 is Vault's, but the URL's scheme default applies, as in Go).
    pub port: u16,
}

impl Address {
    /// Parses `value` (from `var`).
    pub fn parse(var: &str, value: &str) -> Result<Address, Error> {
        let bad = |why: &str| {
            Error::new(format!(
                "{var}={value:?} is not a usable Vault address ({why}): use http://HOST:PORT or https://HOST:PORT, \
                 for example https://vault.example.com:8200"
            ))
        };
        if value.starts_with("unix://") {
            return Err(bad("Unix socket addresses are not supported by this plugin; point it at a TCP listener"));
        }
        let uri: Uri = value.trim().parse().map_err(|_| bad("it does not parse as a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("it has no http:// or https://")),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| bad("it has no host"))?;
        if uri.query().is_some() || value.contains('#') {
            return Err(bad("it has a query or fragment"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Address { base: value.trim().trim_end_matches('/').to_owned(), var: var.to_owned(), https, host, port })
    }
}

/// Where the CA certificates that verify the server come from (Go's go-rootcerts order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// The system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR` and the distribution's bundle),
    /// as Go's `x509.SystemCertPool`.
    System,
    /// `VAULT_CACERT`: a PEM file.
    File(Setting),
    /// `VAULT_CACERT_BYTES`: PEM text.
    Pem(Setting),
    /// `VAULT_CAPATH`: every file in a directory tree, each PEM.
    Dir(Setting),
}

/// A client certificate or key: a file (`VAULT_CLIENT_CERT`) or PEM text (`BAO_CLIENT_CERT_BYTES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A file.
    File(Setting),
    /// PEM text.
    Pem(Setting),
}

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The roots.
    pub ca: CaSource,
    /// The client certificate chain and key, for TLS client authentication.
    pub client: Option<(PemSource, PemSource)>,
    /// `VAULT_TLS_SERVER_NAME`: the name to send (SNI) and to verify the certificate against.
    pub server_name: Option<String>,
    /// `VAULT_SKIP_VERIFY`: do not verify the server's certificate (testing only).
    pub skip_verify: bool,
}

/// Everything but the token (see [`crate::token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The server.
    pub address: Address,
    /// `VAULT_NAMESPACE`: sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// `TRANSIT_SECRET_ENGINE_PATH` (default `transit`), without surrounding `/`.
    pub transit_path: String,
    /// `VAULT_KEY_PREFIX` (e.g. `vault:v2:`): the version prefix for verification when the
    /// call names no key version, as in Go; `None` means the latest version.
    pub key_prefix: Option<KeyPrefix>,
    /// `VAULT_CLIENT_TIMEOUT`: an upper bound for each request (the host's deadline is another).
    pub client_timeout: Option<Duration>,
    /// `VAULT_HEADERS`: extra request headers.
    pub headers: Vec<(String, String)>,
    /// TLS.
    pub tls: TlsSettings,
    /// `VAULT_PROXY_ADDR` (or `VAULT_HTTP_PROXY`): a proxy for every request. Without it the
    /// standard `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` apply, as in Go.
    pub proxy: Option<Setting>,
}

/// A `vault:vN:` prefix from `VAULT_KEY_PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix {
    /// The prefix as set.
    pub prefix: String,
    /// The version it names, when it has the `vault:vN:` form.
    pub version: Option<u64>,
}

/// The key version of a `vault:vN:` prefix (`N` >= 1), or `None`.
#[must_use]
pub fn prefix_version(prefix: &str) -> Option<u64> {
    let digits = prefix.strip_prefix("vault:v")?.strip_suffix(':')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|v| *v >= 1)
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &Setting) -> Result<bool, Error> {
    match s.value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Error::new(format!("{}={:?} is not a boolean: use true or false (or 1 or 0)", s.var, s.value))),
    }
}

/// Go's `parseutil.ParseDurationSecond`: a bare number is seconds, else a Go duration such as
/// `30s`, `1m30s`, `1.5h` or `2d` (units ns, us, µs, ms, s, m, h, d).
pub fn parse_duration(s: &Setting) -> Result<Duration, Error> {
    let bad = || {
        Error::new(format!(
            "{}={:?} is not a duration: use seconds (30) or a Go duration (30s, 2m, 1h30m)",
            s.var, s.value
        ))
    };
    let text = s.value.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// `VAULT_HEADERS`: a JSON object of string values; `X-Vault-*` headers are refused (they are
/// the client's own), as in Go.
pub fn parse_headers(s: &Setting) -> Result<Vec<(String, String)>, Error> {
    let bad = |why: String| Error::new(format!("{} is not usable: {why}", s.var));
    let value: serde_json::Value = serde_json::from_str(&s.value)
        .map_err(|e| bad(format!("it must be a JSON object of header names to string values ({e})")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad("it must be a JSON object of header names to string values".into()));
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        if name.len() >= 8 && name[..8].eq_ignore_ascii_case("x-vault-") {
            return Err(bad(format!("header {name:?}: headers starting with X-Vault- are the client's own")));
        }
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(bad(format!("{name:?} is not a valid HTTP header name")));
        }
        let serde_json::Value::String(value) = value else {
            return Err(bad(format!("the value of {name:?} must be a string")));
        };
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(bad(format!("the value of {name:?} has a line break")));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// The transit mount path: no surrounding `/`, and nothing that would change the URL.
pub fn parse_transit_path(value: &str) -> Result<String, Error> {
    let path = value.trim_matches('/');
    let bad = path.is_empty()
        || path.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%' | '\\'))
        || path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        return Err(Error::new(format!(
            "TRANSIT_SECRET_ENGINE_PATH={value:?} is not a mount path: use the path the transit secrets engine is \
             enabled at, such as transit or teams/signing"
        )));
    }
    Ok(path.to_owned())
}

impl Settings {
    /// Reads every setting from `env`; any malformed variable is an error naming it.
    pub fn from_env(env: &dyn Environment) -> Result<Settings, Error> {
        let address = lookup(env, "ADDR").ok_or_else(|| {
            Error::new(
                "VAULT_ADDR or BAO_ADDR is not set: set it to the server's address, for example \
                 VAULT_ADDR=https://vault.example.com:8200",
            )
        })?;
        let address = Address::parse(&address.var, &address.value)?;
        let transit_path = match env.var("TRANSIT_SECRET_ENGINE_PATH").filter(|v| !v.is_empty()) {
            Some(v) => parse_transit_path(&v)?,
            None => "transit".to_owned(),
        };
        let key_prefix =
            lookup(env, "KEY_PREFIX").map(|s| KeyPrefix { version: prefix_version(&s.value), prefix: s.value });
        let client_timeout = lookup(env, "CLIENT_TIMEOUT").map(|s| parse_duration(&s)).transpose()?;
        let client_timeout = client_timeout.filter(|d| !d.is_zero());
        let headers = lookup(env, "HEADERS").map(|s| parse_headers(&s)).transpose()?.unwrap_or_default();
        let namespace =
            lookup(env, "NAMESPACE").map(|s| s.value.trim_matches('/').to_owned()).filter(|n| !n.is_empty());
        if let Some(ns) = &namespace {
            if ns.bytes().any(|b| b.is_ascii_control()) {
                return Err(Error::new("VAULT_NAMESPACE has a control character: use a namespace path such as team/a"));
            }
        }
        let proxy = lookup(env, "PROXY_ADDR").or_else(|| lookup(env, "HTTP_PROXY"));
        Ok(Settings {
            address,
            namespace,
            transit_path,
            key_prefix,
            client_timeout,
            headers,
            tls: tls_from_env(env)?,
            proxy,
        })
    }
}

fn tls_from_env(env: &dyn Environment) -> Result<TlsSettings, Error> {
    let ca = if let Some(s) = lookup(env, "CACERT") {
        CaSource::File(s)
    } else if let Some(s) = lookup(env, "CACERT_BYTES") {
        CaSource::Pem(s)
    } else if let Some(s) = lookup(env, "CAPATH") {
        CaSource::Dir(s)
    } else {
        CaSource::System
    };
    let pem = |file: &str, bytes: &str| {
        lookup(env, file).map(PemSource::File).or_else(|| lookup(env, bytes).map(PemSource::Pem))
    };
    let client = match (pem("CLIENT_CERT", "CLIENT_CERT_BYTES"), pem("CLIENT_KEY", "CLIENT_KEY_BYTES")) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(Error::new(
            "both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set for TLS client authentication (one is missing)",
        )),
    };
    let skip_verify = lookup(env, "SKIP_VERIFY").map(|s| parse_bool(&s)).transpose()?.unwrap_or(false);
    let server_name = lookup(env, "TLS_SERVER_NAME").map(|s| s.value);
    Ok(TlsSettings { ca, client, server_name, skip_verify })
}

/// The home directory from `HOME`, as Go's `homedir` reads it.
#[must_use]
pub fn home(env: &dyn Environment) -> Option<PathBuf> {
    env.var("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn setting(var: &str, value: &str) -> Setting {
        Setting { var: var.into(), value: value.into() }
    }

    #[test]
    fn vault_names_win_then_bao_names() {
        let e = env(&[("VAULT_ADDR", "https://v:8200"), ("BAO_ADDR", "http://b:8200")]);
        assert_eq!(Settings::from_env(&e).unwrap().address.base, "https://v:8200");
        let e = env(&[("VAULT_ADDR", ""), ("BAO_ADDR", "http://b:8200/")]);
        let s = Settings::from_env(&e).unwrap();
        assert_eq!((s.address.base.as_str(), s.address.var.as_str()), ("http://b:8200", "BAO_ADDR"));
        let e = env(&[("BAO_ADDR", "http://b"), ("BAO_NAMESPACE", "/team/a/"), ("VAULT_CAPATH", "/etc/ca")]);
        let s = Settings::from_env(&e).unwrap();
        assert_eq!(s.namespace.as_deref(), Some("team/a"));
        assert_eq!(s.tls.ca, CaSource::Dir(setting("VAULT_CAPATH", "/etc/ca")));
        assert_eq!(s.address.port, 80);
    }

    #[test]
    fn defaults() {
        let s = Settings::from_env(&env(&[("VAULT_ADDR", "https://[::1]:8200")])).unwrap();
        assert_eq!(s.transit_path, "transit");
        assert_eq!((s.address.host.as_str(), s.address.port, s.address.https), ("::1", 8200, true));
        assert_eq!(s.tls, TlsSettings { ca: CaSource::System, client: None, server_name: None, skip_verify: false });
        assert!(s.namespace.is_none() && s.key_prefix.is_none() && s.proxy.is_none() && s.headers.is_empty());
    }

    #[test]
    fn missing_or_bad_addresses() {
        let e = Settings::from_env(&env(&[])).unwrap_err().to_string();
        assert!(e.contains("VAULT_ADDR or BAO_ADDR is not set"), "{e}");
        for (value, why) in [
            ("127.0.0.1:8200", "http://"),
            ("vault.example.com", "http://"),
            ("ftp://v", "scheme"),
            ("unix:///run/vault.sock", "Unix socket"),
            ("http://", "URL"),
            ("https://v:8200/?x=1", "query"),
        ] {
            let e = Settings::from_env(&env(&[("VAULT_ADDR", value)])).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("VAULT_ADDR="), "{value}: {e}");
        }
        let s = Settings::from_env(&env(&[("VAULT_ADDR", "https://proxy.example/vault/")])).unwrap();
        assert_eq!((s.address.base.as_str(), s.address.port), ("https://proxy.example/vault", 443));
    }

    #[test]
    fn the_transit_path() {
        let s = Settings::from_env(&env(&[("VAULT_ADDR", "http://v"), ("TRANSIT_SECRET_ENGINE_PATH", "/teams/sign/")]));
        assert_eq!(s.unwrap().transit_path, "teams/sign");
        for bad in ["/", "a//b", "a/../b", "a b", "a?b", "a#b", "a%2fb"] {
            let e = parse_transit_path(bad).unwrap_err().to_string();
            assert!(e.contains("TRANSIT_SECRET_ENGINE_PATH"), "{bad}: {e}");
        }
    }

    #[test]
    fn booleans_durations_prefixes() {
        for (v, want) in [("1", true), ("true", true), ("T", true), ("0", false), ("False", false)] {
            assert_eq!(parse_bool(&setting("VAULT_SKIP_VERIFY", v)).unwrap(), want);
        }
        let e = parse_bool(&setting("VAULT_SKIP_VERIFY", "yes")).unwrap_err().to_string();
        assert!(e.contains("VAULT_SKIP_VERIFY=\"yes\""), "{e}");
        let d = |v: &str| parse_duration(&setting("VAULT_CLIENT_TIMEOUT", v));
        assert_eq!(d("30").unwrap(), Duration::from_secs(30));
        assert_eq!(d("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(d("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(d("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(d("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "s", "10x", "1m-2s", "abc"] {
            assert!(d(bad).is_err(), "{bad}");
        }
        assert_eq!(prefix_version("vault:v2:"), Some(2));
        assert_eq!(prefix_version("vault:v0:"), None);
        assert_eq!(prefix_version("vault:v:"), None);
        assert_eq!(prefix_version("vault:v1"), None);
        assert_eq!(prefix_version("custom:"), None);
        let s = Settings::from_env(&env(&[("VAULT_ADDR", "http://v"), ("VAULT_KEY_PREFIX", "vault:v3:")])).unwrap();
        assert_eq!(s.key_prefix, Some(KeyPrefix { prefix: "vault:v3:".into(), version: Some(3) }));
    }

    #[test]
    fn headers() {
        let h = parse_headers(&setting("VAULT_HEADERS", r#"{"X-Team":"a","Accept-Language":"en"}"#)).unwrap();
        assert_eq!(h.len(), 2);
        for (bad, why) in [
            (r#"{"X-Vault-Token":"t"}"#, "X-Vault-"),
            (r#"{"x-vault-namespace":"t"}"#, "X-Vault-"),
            (r#"{"A":1}"#, "string"),
            (r#"["A"]"#, "JSON object"),
            ("nope", "JSON object"),
            (r#"{"Bad Name":"v"}"#, "header name"),
            (r#"{"A":"v\r\nB: c"}"#, "line break"),
        ] {
            let e = parse_headers(&setting("VAULT_HEADERS", bad)).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("VAULT_HEADERS"), "{bad}: {e}");
        }
    }

    #[test]
    fn tls_settings() {
        let e = env(&[
            ("VAULT_ADDR", "https://v"),
            ("VAULT_CACERT", "/ca.pem"),
            ("VAULT_CACERT_BYTES", "-----BEGIN"),
            ("VAULT_CLIENT_CERT", "/c.pem"),
            ("BAO_CLIENT_KEY_BYTES", "-----BEGIN PRIVATE KEY"),
            ("VAULT_SKIP_VERIFY", "true"),
            ("VAULT_TLS_SERVER_NAME", "vault.internal"),
        ]);
        let t = Settings::from_env(&e).unwrap().tls;
        assert_eq!(t.ca, CaSource::File(setting("VAULT_CACERT", "/ca.pem")));
        assert_eq!(
            t.client,
            Some((
                PemSource::File(setting("VAULT_CLIENT_CERT", "/c.pem")),
                PemSource::Pem(setting("BAO_CLIENT_KEY_BYTES", "-----BEGIN PRIVATE KEY"))
            ))
        );
        assert!(t.skip_verify);
        assert_eq!(t.server_name.as_deref(), Some("vault.internal"));
        let e = Settings::from_env(&env(&[("VAULT_ADDR", "https://v"), ("VAULT_CLIENT_KEY", "/k.pem")]));
        assert!(e.unwrap_err().to_string().contains("both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY"));
        let e = Settings::from_env(&env(&[("VAULT_ADDR", "https://v"), ("VAULT_SKIP_VERIFY", "maybe")]));
        assert!(e.unwrap_err().to_string().contains("VAULT_SKIP_VERIFY"));
    }

    #[test]
    fn proxies() {
        let e =
            env(&[("VAULT_ADDR", "http://v"), ("VAULT_HTTP_PROXY", "http://p:1"), ("VAULT_PROXY_ADDR", "http://q:2")]);
        assert_eq!(Settings::from_env(&e).unwrap().proxy, Some(setting("VAULT_PROXY_ADDR", "http://q:2")));
    }
}
