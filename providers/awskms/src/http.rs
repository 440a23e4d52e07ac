//! The HTTP client the SDK sends every request with (KMS, and the credential providers' STS,
//! SSO and metadata requests).
//!
//! * `http://` endpoints (an emulator such as local-kms) use a plain connection: no TLS set-up,
//!   no system certificates read.
//! * `https://` uses the SDK's own hyper client with rustls on *ring*, built on the first
//!   HTTPS request only; the system's root certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` are
//!   honoured), or only the certificates of `AWS_CA_BUNDLE` when set, as in Go's SDK.
//! * Both honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (and their lower-case forms), as Go's
//!   default transport does, and like Go never send loopback addresses (`localhost`,
//!   `127.0.0.0/8`, `::1`) through a proxy.
//! * `AWS_TLS_INSECURE_SKIP_VERIFY=1` replaces the HTTPS client with one that does not check
//!   the server's certificate, and uses no proxy: what the Go provider's replacement client
//!   does. For test endpoints with self-signed certificates only.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use rustls::pki_types::pem::PemObject as _;

/// How HTTPS servers are checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's root certificates.
    System,
    /// Only the PEM certificates of this file (`AWS_CA_BUNDLE`).
    Bundle(std::path::PathBuf),
    /// No check at all (`AWS_TLS_INSECURE_SKIP_VERIFY=1`).
    Insecure,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::System => f.write_str("System"),
            Trust::Bundle(path) => write!(f, "Bundle({})", path.display()),
            Trust::Insecure => f.write_str("Insecure"),
        }
    }
}

/// Connect and read timeouts: what tells the SDK's connector settings apart.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The [`HttpClient`] given to the SDK.
#[derive(Debug, Clone)]
pub struct Client {
    trust: Trust,
    /// One connector (and so one connection pool) per timeout settings, as the SDK expects.
    connectors: Arc<Mutex<Vec<(Timeouts, SharedHttpConnector)>>>,
}

impl Client {
    /// A client that checks HTTPS servers with `trust`.
    #[must_use]
    pub fn new(trust: Trust) -> Self {
        Client { trust, connectors: Arc::default() }
    }
}

impl HttpClient for Client {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut cache = self.connectors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let connector = SharedHttpConnector::new(ByScheme {
            trust: self.trust.clone(),
            settings: settings.clone(),
            sleep: components.sleep_impl(),
            plain: OnceLock::new(),
            tls: OnceLock::new(),
        });
        cache.push((key, connector.clone()));
        connector
    }
}

/// Sends `http://` and `https://` requests through connectors made on first use.
#[derive(Debug)]
struct ByScheme {
    trust: Trust,
    settings: HttpConnectorSettings,
    sleep: Option<SharedAsyncSleep>,
    plain: OnceLock<SharedHttpConnector>,
    tls: OnceLock<SharedHttpConnector>,
}

/// The proxy for `https://` or `http://` requests, read from the environment as Go's
/// `http.ProxyFromEnvironment` reads it (upper case first; a URL without a scheme is http).
fn proxy(https: bool) -> Result<ProxyConfig, String> {
    let var = |names: [&str; 2]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    let (names, url) = if https {
        ("HTTPS_PROXY", var(["HTTPS_PROXY", "https_proxy"]))
    } else {
        ("HTTP_PROXY", var(["HTTP_PROXY", "http_proxy"]))
    };
    let Some(url) = url else { return Ok(ProxyConfig::disabled()) };
    let url = if url.contains("://") { url } else { format!("http://{url}") };
    let config = if https { ProxyConfig::https(url.as_str()) } else { ProxyConfig::http(url.as_str()) };
    // The URL may hold a password: it is not repeated in the message.
    let config = config.map_err(|_| format!("{names} is not a valid proxy URL: use http://HOST:PORT"))?;
    let mut rules = var(["NO_PROXY", "no_proxy"]).unwrap_or_default();
    rules.push_str(",localhost,127.0.0.0/8,::1");
    Ok(config.no_proxy(rules.trim_start_matches(',')))
}

impl ByScheme {
    fn builder(&self, https: bool) -> Result<aws_smithy_http_client::ConnectorBuilder, String> {
        let mut b = Connector::builder().connector_settings(self.settings.clone());
        b.set_sleep_impl(self.sleep.clone());
        Ok(b.proxy_config(proxy(https)?))
    }

    fn tls(&self) -> &SharedHttpConnector {
        self.tls.get_or_init(|| match &self.trust {
            Trust::Insecure => match insecure::Connector::new(&self.settings) {
                Ok(c) => SharedHttpConnector::new(c),
                Err(e) => SharedHttpConnector::new(Failing(e)),
            },
            Trust::System => match self.builder(true) {
                Ok(b) => SharedHttpConnector::new(b.tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build()),
                Err(e) => SharedHttpConnector::new(Failing(e)),
            },
            Trust::Bundle(path) => {
                let context = bundle(path).and_then(|pem| {
                    let store = TrustStore::empty().with_native_roots(false).with_pem_certificate(pem);
                    TlsContext::builder()
                        .with_trust_store(store)
                        .build()
                        .map_err(|e| format!("AWS_CA_BUNDLE={} cannot be used: {e}", path.display()))
                });
                match (self.builder(true), context) {
                    (Ok(b), Ok(ctx)) => SharedHttpConnector::new(
                        b.tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).tls_context(ctx).build(),
                    ),
                    (Err(e), _) | (_, Err(e)) => SharedHttpConnector::new(Failing(e)),
                }
            }
        })
    }

    fn plain(&self) -> &SharedHttpConnector {
        self.plain.get_or_init(|| match self.builder(false) {
            Ok(b) => SharedHttpConnector::new(b.build_http()),
            Err(e) => SharedHttpConnector::new(Failing(e)),
        })
    }
}

impl HttpConnector for ByScheme {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.uri().starts_with("https:") {
            self.tls().call(request)
        } else {
            self.plain().call(request)
        }
    }
}

/// The certificates of `AWS_CA_BUNDLE`, checked to be PEM certificates (rustls would panic on
/// anything else).
fn bundle(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("AWS_CA_BUNDLE={} cannot be read: {e}", path.display()))?;
    let certs: Result<Vec<_>, _> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(pem),
        _ => Err(format!("AWS_CA_BUNDLE={} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())),
    }
}

/// A connector that fails every request with a fixed reason (a configuration error found while
/// building the real one).
#[derive(Debug)]
struct Failing(String);

impl HttpConnector for Failing {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let reason = self.0.clone();
        HttpConnectorFuture::ready(Err(ConnectorError::user(reason.into())))
    }
}

/// The `AWS_TLS_INSECURE_SKIP_VERIFY=1` client: hyper with rustls, accepting any certificate.
mod insecure {
    use std::sync::Arc;

    use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
    use hyper_util::rt::TokioExecutor;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    use super::{ConnectorError, HttpConnectorFuture, HttpConnectorSettings, HttpRequest, HttpResponse, SdkBody};

    type Hyper = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>;

    #[derive(Debug)]
    pub(super) struct Connector {
        client: Hyper,
        read_timeout: Option<std::time::Duration>,
    }

    impl Connector {
        pub(super) fn new(settings: &HttpConnectorSettings) -> Result<Self, String> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            let mut tcp = TcpConnector::new();
            tcp.enforce_http(false);
            tcp.set_connect_timeout(settings.connect_timeout());
            tcp.set_nodelay(true);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp);
            let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
            Ok(Connector { client, read_timeout: settings.read_timeout() })
        }
    }

    impl aws_smithy_runtime_api::client::http::HttpConnector for Connector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let request = match request.try_into_http1x() {
                Ok(r) => r,
                Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
            };
            let response = self.client.request(request);
            let read_timeout = self.read_timeout;
            HttpConnectorFuture::new(async move {
                let response = match read_timeout {
                    Some(t) => {
                        tokio::time::timeout(t, response).await.map_err(|e| ConnectorError::timeout(e.into()))?
                    }
                    None => response.await,
                };
                let response = response.map_err(|e| {
                    if e.is_connect() {
                        ConnectorError::io(e.into())
                    } else {
                        ConnectorError::other(e.into(), None)
                    }
                })?;
                HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None))
            })
        }
    }

    /// Accepts every server certificate; handshake signatures are still checked (a server must
    /// hold the key of the certificate it shows).
    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
