//! Where requests go and with which credentials: Application Default Credentials, as Go's
//! provider (and `gcloud`) find them, and an optional endpoint.

use std::path::PathBuf;

use sigstore_kms_provider_kit::Secret;

use crate::Error;

/// The environment variable naming another Cloud KMS endpoint (regional, Private Service
/// Connect, a test server).
pub const ENDPOINT_VAR: &str = "GCPKMS_ENDPOINT";

/// Cloud KMS's endpoint when nothing else is set.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";

/// What the plugin was configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The endpoint override, if any (`GCPKMS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Where the credentials come from, for messages.
    pub credentials_source: String,
    /// Values from the credentials file that must never appear in a message (a refresh token,
    /// a client secret, a private key).
    pub secrets: Vec<Secret>,
    /// `HOST:PORT` of the metadata server, when the credentials are to come from it (no file).
    pub metadata_server: Option<String>,
}

impl Config {
    /// Reads the configuration from the environment (`var` looks a variable up).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let endpoint = match var(ENDPOINT_VAR).map(|v| v.trim().trim_end_matches('/').to_owned()) {
            None => None,
            Some(v) if v.is_empty() => None,
            Some(v) => Some(check_endpoint(&v)?),
        };
        // Google's client takes an empty value as the universe's name (and then refuses every
        // credential): say so instead.
        for k in ["GOOGLE_CLOUD_UNIVERSE_DOMAIN", "GOOGLE_APPLICATION_CREDENTIALS"] {
            if var(k).is_some_and(|v| v.trim().is_empty()) {
                return Err(Error::new(format!(
                    "{k} is set but empty: unset it, or set it (the plugin program treats an empty value as \
                     unset, as Go does; this is the plugin used in-process)"
                )));
            }
        }
        let (credentials_source, file) = credentials_file(&var);
        let secrets = file.as_ref().map(file_secrets).unwrap_or_default();
        let metadata_server = file.is_none().then(|| {
            let host = var("GCE_METADATA_HOST").filter(|h| !h.is_empty());
            let host = host.unwrap_or_else(|| "metadata.google.internal".to_owned());
            if host.contains(':') {
                host
            } else {
                format!("{host}:80")
            }
        });
        Ok(Config { endpoint, credentials_source, secrets, metadata_server })
    }

    /// The endpoint requests go to, for messages.
    #[must_use]
    pub fn endpoint_shown(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{e} (from {ENDPOINT_VAR})"),
            None => DEFAULT_ENDPOINT.to_owned(),
        }
    }

    /// `text` with every known secret replaced by `[redacted]`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |t, s| s.scrub(&t))
    }
}

fn check_endpoint(v: &str) -> Result<String, Error> {
    let bad = |why: &str| {
        Error::new(format!(
            "{ENDPOINT_VAR}={v:?} {why}: set it to the https:// URL of a Cloud KMS endpoint (e.g. \
             https://cloudkms.europe-west1.rep.googleapis.com), or unset it for {DEFAULT_ENDPOINT}"
        ))
    };
    let url = url::Url::parse(v).map_err(|_| bad("is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        // Only a server on this machine may be spoken to in clear: the requests carry an
        // OAuth access token.
        "http" if loopback => {}
        "http" => return Err(bad("uses http:// for a remote host (the requests carry an access token)")),
        _ => return Err(bad("is not an https:// URL")),
    }
    if url.host_str().is_none() || url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(bad("must be a scheme, a host and an optional port, without a path"));
    }
    Ok(v.to_owned())
}

/// Where Application Default Credentials come from, as Google's libraries look: the file named
/// by `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's `application_default_credentials.json`,
/// else the metadata server.
fn credentials_file(var: &impl Fn(&str) -> Option<String>) -> (String, Option<PathBuf>) {
    if let Some(path) = var("GOOGLE_APPLICATION_CREDENTIALS") {
        return (format!("the file {path} (GOOGLE_APPLICATION_CREDENTIALS)"), Some(PathBuf::from(path)));
    }
    if let Some(home) = var("HOME").filter(|h| !h.is_empty()) {
        let path = PathBuf::from(home).join(".config/gcloud/application_default_credentials.json");
        if path.is_file() {
            return (format!("gcloud's application default credentials ({})", path.display()), Some(path));
        }
    }
    let host = var("GCE_METADATA_HOST").filter(|h| !h.is_empty());
    let shown = host.map_or_else(|| "metadata.google.internal".to_owned(), |h| format!("{h}, from GCE_METADATA_HOST"));
    (format!("the metadata server ({shown}): no GOOGLE_APPLICATION_CREDENTIALS and no gcloud credentials file"), None)
}

/// The secret values of a credentials file, to keep out of messages. A file that cannot be
/// read or parsed has none here: the SDK reports what is wrong with it.
fn file_secrets(path: &PathBuf) -> Vec<Secret> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    let mut out = Vec::new();
    collect(&json, &mut out);
    out
}

fn collect(v: &serde_json::Value, out: &mut Vec<Secret>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    (
                        "private_key" | "refresh_token" | "client_secret" | "access_token",
                        serde_json::Value::String(s),
                    ) if s.len() >= 4 => {
                        out.push(Secret::new(s.clone()));
                    }
                    _ => collect(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn endpoints() {
        let c = Config::from_env(env(&[("GCPKMS_ENDPOINT", "https://127.0.0.1:8443/"), ("HOME", "/nonexistent")]));
        let c = c.unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("https://127.0.0.1:8443"));
        assert!(c.endpoint_shown().contains("GCPKMS_ENDPOINT"));
        assert!(Config::from_env(env(&[("GCPKMS_ENDPOINT", "http://localhost:9000")])).is_ok());
        for bad in ["http://kms.example.com", "ftp://x", "https://x/v1", "not a url", "https://u@x"] {
            let e = Config::from_env(env(&[("GCPKMS_ENDPOINT", bad)])).unwrap_err().to_string();
            assert!(e.contains("GCPKMS_ENDPOINT") && e.contains("https://"), "{bad}: {e}");
        }
        assert!(Config::from_env(env(&[("GCPKMS_ENDPOINT", "")])).unwrap().endpoint.is_none());
        let e = Config::from_env(env(&[("GOOGLE_CLOUD_UNIVERSE_DOMAIN", "")])).unwrap_err().to_string();
        assert!(e.contains("set but empty"), "{e}");
    }

    #[test]
    fn credentials_sources_and_secrets() {
        let dir = std::env::temp_dir().join(format!("gcpkms-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("adc.json");
        std::fs::write(&file, r#"{"type":"authorized_user","client_id":"id","client_secret":"s3cr3t-value","refresh_token":"1//refresh-token"}"#).unwrap();
        let c = Config::from_env(env(&[("GOOGLE_APPLICATION_CREDENTIALS", file.to_str().unwrap())])).unwrap();
        assert!(c.credentials_source.contains("GOOGLE_APPLICATION_CREDENTIALS"));
        assert_eq!(c.scrub("bad 1//refresh-token and s3cr3t-value"), "bad [redacted] and [redacted]");
        let c = Config::from_env(env(&[("HOME", "/nonexistent"), ("GCE_METADATA_HOST", "127.0.0.1:1")])).unwrap();
        assert!(c.credentials_source.contains("127.0.0.1:1"), "{}", c.credentials_source);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
