//! A small blocking client for Vault's HTTP API (the transit endpoints need three: read a key,
//! write, and the error format), on `ureq` with rustls.
//!
//! What it does as HashiCorp's Go `vault/api` client does: `X-Vault-Token`, `X-Vault-Request`,
//! `X-Vault-Namespace`, `VAULT_HEADERS`; requests to `{VAULT_ADDR}/v1/{path}`; one redirect
//! (301, 302, 307) followed with the same method and body, as a standby node asks; errors from
//! the `{"errors": [...]}` body. Every request has a timeout: what is left of the host's
//! deadline, and at most `VAULT_CLIENT_TIMEOUT`. Every text that leaves this module has the
//! token scrubbed out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::http::{self, Method, Uri};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::{CaSource, Environment, PemSource, Settings};
use crate::token::Token;
use crate::Error;

/// The largest response body read (a key with many versions of RSA-4096 public keys is a few
/// hundred KiB).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's `errors` (or its raw body), token scrubbed.
        errors: Vec<String>,
    },
    /// The server did not answer in time.
    Timeout(Duration),
    /// The request did not reach the server, or its answer was not HTTP: what happened.
    Transport(String),
    /// The TLS handshake failed (the server's certificate, most often): what happened.
    Tls(String),
    /// The server answered 2xx with a body that is not JSON.
    Response(String),
}

/// A Vault client for one plugin call.
pub struct Client {
    settings: Settings,
    token: Token,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("address", &self.settings.address.base).finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `settings` with `token`; proxy variables are read from `env`.
    pub fn new(settings: Settings, token: Token, env: &dyn Environment) -> Result<Client, Error> {
        let tls = tls_config(&settings)?;
        let proxy = proxy_for(&settings, env)?;
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy)
            .user_agent(concat!("sigstore-kms-hashivault/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = match &settings.tls.server_name {
            Some(name) if settings.address.https => {
                // VAULT_TLS_SERVER_NAME: requests name the server `name` (so that TLS sends it
                // as SNI and verifies the certificate against it), and the resolver maps that
                // name to the address's host.
                let resolver = ServerNameResolver {
                    name: name.to_ascii_lowercase(),
                    host: settings.address.host.clone(),
                    port: settings.address.port,
                };
                ureq::Agent::with_parts(config, DefaultConnector::new(), resolver)
            }
            _ => ureq::Agent::new_with_config(config),
        };
        Ok(Client { settings, token, agent })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The token (for error messages: its origin).
    #[must_use]
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// `GET /v1/{path}`: the JSON body, or `None` for an empty answer.
    pub fn read(&self, path: &str, timeout: Duration) -> Result<Option<Value>, Failure> {
        self.request(&Method::GET, path, None, timeout)
    }

    /// `POST /v1/{path}` with a JSON body: the JSON answer, or `None` for an empty one (204).
    pub fn write(&self, path: &str, body: &Value, timeout: Duration) -> Result<Option<Value>, Failure> {
        let bytes = body.to_string();
        self.request(&Method::POST, path, Some(bytes.as_bytes()), timeout)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.request_base(), path.trim_start_matches('/'))
    }

    /// The base URL requests use: with VAULT_TLS_SERVER_NAME, the server name replaces the host.
    fn request_base(&self) -> String {
        let a = &self.settings.address;
        match &self.settings.tls.server_name {
            Some(name) if a.https => {
                let rest = a.base.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
                format!("https://{}:{}{rest}", name.to_ascii_lowercase(), a.port)
            }
            _ => a.base.clone(),
        }
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Option<Value>, Failure> {
        let timeout = self.settings.client_timeout.map_or(timeout, |t| t.min(timeout));
        let mut url = self.url(path);
        for attempt in 0..2 {
            let response = self.send(method, &url, body, timeout)?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 307) && attempt == 0 {
                if let Some(next) = response.headers().get("location").and_then(|l| l.to_str().ok()) {
                    url = resolve_location(&url, next).ok_or_else(|| {
                        Failure::Transport(format!("the server redirected to {next:?}, which is not a usable URL"))
                    })?;
                    continue;
                }
            }
            return self.answer(response, status, timeout);
        }
        Err(Failure::Transport("the server redirected more than once".into()))
    }

    fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<http::Response<ureq::Body>, Failure> {
        let mut builder = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("X-Vault-Request", "true")
            .header("Accept", "application/json");
        if let Some(ns) = &self.settings.namespace {
            builder = builder.header("X-Vault-Namespace", ns.as_str());
        }
        for (name, value) in &self.settings.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if body.is_some() {
            builder = builder.header("Content-Type", "application/json");
        }
        let mut token = http::HeaderValue::from_str(self.token.secret.expose())
            .map_err(|_| Failure::Transport("the token cannot be sent in an HTTP header".into()))?;
        token.set_sensitive(true);
        builder = builder.header("X-Vault-Token", token);
        let request = builder.body(body.map(<[u8]>::to_vec).unwrap_or_default()).map_err(|e| {
            Failure::Transport(self.token.secret.scrub(&format!("cannot build the request to {url}: {e}")))
        })?;
        let request = self.agent.configure_request(request).timeout_global(Some(timeout)).build();
        self.agent.run(request).map_err(|e| self.transport_failure(&e, timeout))
    }

    fn answer(
        &self,
        mut response: http::Response<ureq::Body>,
        status: u16,
        timeout: Duration,
    ) -> Result<Option<Value>, Failure> {
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| self.transport_failure(&e, timeout))?;
        let text = self.token.secret.scrub(&String::from_utf8_lossy(&bytes));
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(None);
            }
            return serde_json::from_str(&text).map(Some).map_err(|_| Failure::Response(shorten(&text, 300)));
        }
        let errors = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned)).collect())
                .unwrap_or_default(),
            Err(_) if text.trim().is_empty() => Vec::new(),
            Err(_) => vec![shorten(text.trim(), 300)],
        };
        let errors = errors.into_iter().map(|e| self.token.secret.scrub(e.trim())).filter(|e| !e.is_empty()).collect();
        Err(Failure::Status { status, errors })
    }

    fn transport_failure(&self, e: &ureq::Error, timeout: Duration) -> Failure {
        let scrub = |s: String| self.token.secret.scrub(&s);
        match e {
            ureq::Error::Timeout(_) => Failure::Timeout(timeout),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Failure::Timeout(timeout),
            ureq::Error::Io(io) if is_tls_failure(io) => Failure::Tls(scrub(io.to_string())),
            ureq::Error::Io(io) => {
                let closed = matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                );
                let mut why = match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                    std::io::ErrorKind::UnexpectedEof => {
                        "the server closed the connection without answering".to_owned()
                    }
                    _ if closed => format!("the connection was closed by the server ({io})"),
                    _ => io.to_string(),
                };
                // With TLS 1.3 a server that wants a client certificate may just close the
                // connection after the handshake, before its alert is read.
                if closed && self.settings.address.https && self.settings.tls.client.is_none() {
                    why.push_str(
                        "; if the server requires a TLS client certificate, set VAULT_CLIENT_CERT and VAULT_CLIENT_KEY",
                    );
                }
                Failure::Transport(scrub(why))
            }
            ureq::Error::HostNotFound => {
                Failure::Transport(format!("the host {} was not found", self.settings.address.host))
            }
            ureq::Error::ConnectionFailed => Failure::Transport("the connection failed".to_owned()),
            ureq::Error::Protocol(p) => Failure::Transport(scrub(format!(
                "the answer is not HTTP ({p}); if the server uses TLS, VAULT_ADDR must start with https://"
            ))),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => Failure::Tls(scrub(e.to_string())),
            ureq::Error::ConnectProxyFailed(why) => Failure::Transport(scrub(format!(
                "the proxy refused the connection ({why}); check VAULT_PROXY_ADDR, HTTPS_PROXY and NO_PROXY"
            ))),
            ureq::Error::BodyExceedsLimit(n) => Failure::Response(format!("the answer is larger than {n} bytes")),
            other => Failure::Transport(scrub(other.to_string())),
        }
    }
}

/// Whether an I/O error is rustls's (ureq passes handshake failures on as I/O errors).
fn is_tls_failure(io: &std::io::Error) -> bool {
    let inner = io.get_ref().map(ToString::to_string).unwrap_or_default();
    let text = format!("{io} {inner}").to_ascii_lowercase();
    ["certificate", "handshake", "tls", "peer sent", "alert"].iter().any(|w| text.contains(w))
}

/// Resolves a redirect's `Location` against the URL that was redirected.
fn resolve_location(current: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse::<Uri>().ok().map(|_| location.to_owned());
    }
    let uri: Uri = current.parse().ok()?;
    let authority = uri.authority()?;
    if location.starts_with('/') && !location.starts_with("//") {
        return Some(format!("{}://{authority}{location}", uri.scheme_str()?));
    }
    None
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(n).collect();
        format!("{cut}...")
    }
}

/// The TLS configuration: the roots Go's client would trust, the client certificate, and
/// `VAULT_SKIP_VERIFY`.
fn tls_config(settings: &Settings) -> Result<TlsConfig, Error> {
    let tls = &settings.tls;
    let mut builder = TlsConfig::builder().provider(TlsProvider::Rustls);
    // The system roots are only loaded when the server uses TLS (it costs a few milliseconds).
    let roots = match &tls.ca {
        CaSource::System if !settings.address.https || tls.skip_verify => None,
        CaSource::System => Some(system_roots()),
        CaSource::File(s) => Some(pem_certs(&read(&s.var, &s.value)?, &s.var, &s.value)?),
        CaSource::Pem(s) => Some(pem_certs(s.value.as_bytes(), &s.var, "its value")?),
        CaSource::Dir(s) => Some(dir_certs(&s.var, &s.value)?),
    };
    if let Some(roots) = roots {
        builder = builder.root_certs(roots);
    }
    if tls.skip_verify {
        builder = builder.disable_verification(true);
    }
    if let Some((cert, key)) = &tls.client {
        let (cert_bytes, cert_var, cert_what) = pem_source(cert)?;
        let (key_bytes, key_var, key_what) = pem_source(key)?;
        let chain = certs_of(&cert_bytes);
        if chain.is_empty() {
            return Err(Error::new(format!("{cert_var}: {cert_what} holds no PEM certificate")));
        }
        let key = PrivateKey::from_pem(&key_bytes).map_err(|_| {
            Error::new(format!("{key_var}: {key_what} holds no PEM private key (PKCS#8, PKCS#1 or SEC 1)"))
        })?;
        check_client_cert(&cert_bytes, &key_bytes).map_err(|why| {
            Error::new(format!(
                "{cert_var} / {key_var}: the client certificate and key are not usable for TLS client authentication: \
                 {why} (the certificate must be X.509 v3, and the key its private key)"
            ))
        })?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

/// What rustls says of a client certificate chain and key (PEM), as ureq will hand them to it.
fn check_client_cert(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert_pem).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| e.to_string())?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(certs, key)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn pem_source(s: &PemSource) -> Result<(Vec<u8>, String, String), Error> {
    Ok(match s {
        PemSource::File(s) => (read(&s.var, &s.value)?, s.var.clone(), format!("the file {}", s.value)),
        PemSource::Pem(s) => (s.value.clone().into_bytes(), s.var.clone(), "its value".to_owned()),
    })
}

fn read(var: &str, path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::new(format!("{var}={path}: cannot read the file: {e}")))
}

fn certs_of(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

fn pem_certs(pem: &[u8], var: &str, what: &str) -> Result<RootCerts, Error> {
    let certs = certs_of(pem);
    if certs.is_empty() {
        return Err(Error::new(format!("{var}: {what} holds no PEM certificate")));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// Every file under a directory, each of which must hold PEM certificates (go-rootcerts).
fn dir_certs(var: &str, dir: &str) -> Result<RootCerts, Error> {
    let mut certs = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| Error::new(format!("{var}: cannot read {}: {e}", d.display())))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::new(format!("{var}: {e}")))?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes =
                std::fs::read(&path).map_err(|e| Error::new(format!("{var}: cannot read {}: {e}", path.display())))?;
            let found = certs_of(&bytes);
            if found.is_empty() {
                return Err(Error::new(format!("{var}: {} holds no PEM certificate", path.display())));
            }
            certs.extend(found);
        }
    }
    if certs.is_empty() {
        return Err(Error::new(format!("{var}={dir}: the directory holds no certificate")));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// The system's roots, as Go's `x509.SystemCertPool` reads them (`SSL_CERT_FILE`,
/// `SSL_CERT_DIR`, the distribution's bundle); Mozilla's roots where the system has none.
fn system_roots() -> RootCerts {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return RootCerts::WebPki;
    }
    let certs: Vec<Certificate<'static>> =
        found.certs.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect();
    RootCerts::Specific(Arc::new(certs))
}

/// The proxy, as Go's client picks it: `VAULT_PROXY_ADDR` (or `VAULT_HTTP_PROXY`) for every
/// request; else Go's `http.ProxyFromEnvironment`: `HTTPS_PROXY` for an https address,
/// `HTTP_PROXY` for http (upper or lower case), never for a loopback host, and not for hosts
/// that `NO_PROXY` lists.
fn proxy_for(settings: &Settings, env: &dyn Environment) -> Result<Option<ureq::Proxy>, Error> {
    let make = |var: &str, value: &str| {
        let value = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
        ureq::Proxy::new(&value)
            .map(Some)
            .map_err(|e| Error::new(format!("{var}={value:?} is not a usable proxy URL: {e}")))
    };
    if let Some(s) = &settings.proxy {
        return make(&s.var, &s.value);
    }
    let a = &settings.address;
    let host = settings.tls.server_name.as_deref().filter(|_| a.https).unwrap_or(&a.host);
    let names: &[&str] = if a.https { &["HTTPS_PROXY", "https_proxy"] } else { &["HTTP_PROXY", "http_proxy"] };
    let Some((var, value)) = names.iter().find_map(|n| env.var(n).filter(|v| !v.is_empty()).map(|v| (*n, v))) else {
        return Ok(None);
    };
    let no_proxy = env.var("NO_PROXY").or_else(|| env.var("no_proxy")).unwrap_or_default();
    if is_loopback(host) || no_proxy_matches(&no_proxy, host, a.port) {
        return Ok(None);
    }
    make(var, &value)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Go's `NO_PROXY` rules (golang.org/x/net/http/httpproxy): `*` matches every host; an entry is
/// an IP address, a CIDR block, or a domain (matching itself and its subdomains; with a leading
/// `.`, or `*.`, its subdomains only), each optionally with `:port`.
#[must_use]
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        if let Some((net, bits)) = entry.split_once('/') {
            return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                _ => false,
            };
        }
        let (name, entry_port) = split_port(&entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        if let (Some(ip), Ok(e)) = (ip, name.trim_matches(['[', ']']).parse::<IpAddr>()) {
            return ip == e;
        }
        if let Some(suffix) =
            name.strip_prefix("*.").map(|s| format!(".{s}")).or_else(|| name.starts_with('.').then(|| name.to_owned()))
        {
            return host.ends_with(&suffix);
        }
        host == name || host.ends_with(&format!(".{name}"))
    })
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some((name, port)) = entry.rsplit_once(':') {
        // An IPv6 address has colons of its own: only `[v6]:port` or `name:port` carry a port.
        if !name.contains(':') || name.ends_with(']') {
            if let Ok(p) = port.parse() {
                return (name, Some(p));
            }
        }
    }
    (entry, None)
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Resolves the TLS server name (what requests are addressed to) to the real host.
#[derive(Debug)]
struct ServerNameResolver {
    name: String,
    host: String,
    port: u16,
}

impl Resolver for ServerNameResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if uri.host().is_some_and(|h| h.eq_ignore_ascii_case(&self.name)) {
            let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
            let real: Uri = format!("https://{host}:{}/", self.port).parse().map_err(|_| ureq::Error::HostNotFound)?;
            return DefaultResolver::default().resolve(&real, config, timeout);
        }
        DefaultResolver::default().resolve(uri, config, timeout)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;

    use sigstore_kms_provider_kit::Secret;

    use super::*;
    use crate::token::Origin;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env(&env(pairs)).unwrap()
    }

    #[test]
    fn no_proxy_rules() {
        let cases: &[(&str, &str, u16, bool)] = &[
            ("*", "vault.example.com", 8200, true),
            ("example.com", "vault.example.com", 8200, true),
            ("example.com", "example.com", 8200, true),
            ("example.com", "badexample.com", 8200, false),
            (".example.com", "example.com", 8200, false),
            (".example.com", "vault.example.com", 8200, true),
            ("*.example.com", "vault.example.com", 8200, true),
            ("example.com:8200", "vault.example.com", 8200, true),
            ("example.com:443", "vault.example.com", 8200, false),
            ("10.0.0.0/8", "10.1.2.3", 8200, true),
            ("10.0.0.0/8", "11.1.2.3", 8200, false),
            ("192.168.1.5", "192.168.1.5", 8200, true),
            ("fd00::/8", "fd12::1", 8200, true),
            ("[::2]:8200", "::2", 8200, true),
            ("other.org, example.com", "vault.example.com", 8200, true),
            ("", "vault.example.com", 8200, false),
        ];
        for (list, host, port, want) in cases {
            assert_eq!(no_proxy_matches(list, host, *port), *want, "{list:?} {host}:{port}");
        }
    }

    #[test]
    fn proxies_as_go_picks_them() {
        let s = settings(&[("VAULT_ADDR", "https://vault.example.com:8200")]);
        let pick = |pairs: &[(&str, &str)]| proxy_for(&s, &env(pairs)).unwrap().map(|p| p.host().to_owned());
        assert_eq!(pick(&[("HTTPS_PROXY", "http://p1:3128")]).as_deref(), Some("p1"));
        assert_eq!(pick(&[("HTTP_PROXY", "http://p1:3128")]), None, "HTTP_PROXY is for http:// addresses");
        assert_eq!(pick(&[("https_proxy", "p2:3128")]).as_deref(), Some("p2"));
        assert_eq!(pick(&[("HTTPS_PROXY", "http://p1:3128"), ("NO_PROXY", "example.com")]), None);
        let local = settings(&[("VAULT_ADDR", "http://127.0.0.1:8200")]);
        assert!(
            proxy_for(&local, &env(&[("HTTP_PROXY", "http://p:1")])).unwrap().is_none(),
            "loopback is never proxied"
        );
        let forced = settings(&[("VAULT_ADDR", "http://127.0.0.1:8200"), ("VAULT_PROXY_ADDR", "http://forced:9")]);
        assert_eq!(proxy_for(&forced, &env(&[])).unwrap().unwrap().host(), "forced");
    }

    #[test]
    fn redirects_resolve() {
        let here = "http://standby:8200/v1/transit/sign/k";
        assert_eq!(resolve_location(here, "https://active:8200/v1/x").as_deref(), Some("https://active:8200/v1/x"));
        assert_eq!(resolve_location(here, "/v1/y").as_deref(), Some("http://standby:8200/v1/y"));
        assert_eq!(resolve_location(here, "//evil/x"), None);
        assert_eq!(resolve_location(here, "relative"), None);
    }

    fn client(pairs: &[(&str, &str)]) -> Client {
        let token = Token { secret: Secret::new("s.TOKEN"), origin: Origin::Env("VAULT_TOKEN".into()) };
        Client::new(settings(pairs), token, &env(&[])).unwrap()
    }

    #[test]
    fn urls() {
        let c = client(&[("VAULT_ADDR", "https://proxy.example:8443/vault/")]);
        assert_eq!(c.url("transit/keys/k"), "https://proxy.example:8443/vault/v1/transit/keys/k");
        let c = client(&[("VAULT_ADDR", "https://10.0.0.5:8200/pre"), ("VAULT_TLS_SERVER_NAME", "Vault.Internal")]);
        assert_eq!(c.url("/transit/keys/k"), "https://vault.internal:8200/pre/v1/transit/keys/k");
        let c = client(&[("VAULT_ADDR", "http://10.0.0.5:8200"), ("VAULT_TLS_SERVER_NAME", "vault.internal")]);
        assert_eq!(c.url("x"), "http://10.0.0.5:8200/v1/x", "no TLS, no server name");
    }

    /// A closed port on loopback: the failure is a clear transport error, quickly.
    #[test]
    fn a_closed_port_is_a_transport_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = client(&[("VAULT_ADDR", &format!("http://127.0.0.1:{port}"))]);
        match c.read("transit/keys/k", Duration::from_secs(5)) {
            Err(Failure::Transport(why)) => assert!(why.contains("refused"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ca_settings_that_cannot_work_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let junk = junk.to_str().unwrap();
        let token = || Token { secret: Secret::new("t"), origin: Origin::Env("VAULT_TOKEN".into()) };
        for pairs in [
            vec![("VAULT_CACERT", junk)],
            vec![("VAULT_CACERT", "/no/such/file")],
            vec![("VAULT_CACERT_BYTES", "nope")],
            vec![("VAULT_CAPATH", dir.path().to_str().unwrap())],
            vec![("VAULT_CLIENT_CERT", junk), ("VAULT_CLIENT_KEY", junk)],
        ] {
            let mut all = vec![("VAULT_ADDR", "https://v:8200")];
            all.extend(pairs.iter().copied());
            let e = Client::new(settings(&all), token(), &env(&[])).unwrap_err().to_string();
            assert!(e.contains(pairs[0].0) || e.contains("VAULT_CLIENT"), "{pairs:?}: {e}");
        }
    }
}
