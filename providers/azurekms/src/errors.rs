//! Every failure of a Key Vault call as one message: what failed, and what to check.

use azure_core::error::ErrorKind;
use azure_core::http::StatusCode;

use crate::Error;

pub use sigstore_kms_provider_kit::error_text::chain;

/// Where a call went, for the messages.
#[derive(Debug, Clone)]
pub struct Target {
    /// The key, as `VAULT_HOST/NAME[/VERSION]`.
    pub key: String,
    /// The vault URL.
    pub vault: String,
    /// The cloud, and where its authority host came from.
    pub cloud: String,
    /// The credentials tried, in order.
    pub credentials: String,
}

/// The Key Vault permission an operation needs, for access errors.
fn permission(op: &str) -> &'static str {
    match op {
        "sign" => "the Key Vault Crypto User role (or an access policy with keys/sign)",
        "verify" => "the Key Vault Crypto User role (or an access policy with keys/verify)",
        "create key" => "the Key Vault Crypto Officer role (or an access policy with keys/create)",
        _ => "the Key Vault Crypto User or Reader role (or an access policy with keys/get)",
    }
}

/// The `{"error": {"code", "message"}}` of a Key Vault error answer, if it has one.
fn service_error(raw: &azure_core::http::RawResponse) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(raw.body().as_ref()).ok()?;
    let e = v.get("error")?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
    let inner = e.pointer("/innererror/code").and_then(|c| c.as_str());
    let code = match inner {
        Some(inner) if !code.is_empty() => format!("{code}/{inner}"),
        _ => code.to_owned(),
    };
    let message = e.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
    Some((code, message))
}

/// Turns the SDK's error of operation `op` (`"get key"`, `"sign"`, ...) into our message;
/// `scrub` removes secrets.
#[must_use]
pub fn describe(op: &str, target: &Target, scrub: &dyn Fn(&str) -> String, err: &azure_core::Error) -> Error {
    let head = format!("Azure Key Vault {op} for key {} failed", target.key);
    let body = match err.kind() {
        ErrorKind::HttpResponse { status, error_code, raw_response } => {
            let (code, message) = raw_response
                .as_deref()
                .and_then(service_error)
                .unwrap_or_else(|| (error_code.clone().unwrap_or_default(), err.to_string()));
            let said = match (code.is_empty(), message.is_empty()) {
                (false, false) => format!("HTTP {} {code}: {message}", u16::from(*status)),
                (false, true) => format!("HTTP {} {code}", u16::from(*status)),
                _ => format!("HTTP {} {message}", u16::from(*status)),
            };
            match *status {
                StatusCode::NotFound => format!(
                    "not found ({said}): check the vault host, key name and version in the key URI ({})",
                    target.vault
                ),
                StatusCode::Unauthorized => format!(
                    "the access token was refused ({said}): check the credentials ({}) and that they are for the \
                     vault's tenant and cloud ({})",
                    target.credentials, target.cloud
                ),
                StatusCode::Forbidden if message.to_ascii_lowercase().contains("disabled") => {
                    format!("the key is disabled ({said}): enable it, or use another version")
                }
                StatusCode::Forbidden => {
                    format!("access denied ({said}): the identity needs {} on the vault or key", permission(op))
                }
                StatusCode::TooManyRequests => format!(
                    "throttled ({said}); the plugin retried, waiting as the vault asked, until the call's \
                     deadline: try again later or give the call a longer timeout"
                ),
                StatusCode::BadRequest => format!("the request was refused ({said})"),
                _ => said,
            }
        }
        ErrorKind::Credential => format!(
            "no access token for the vault: {}. Configure one of: AZURE_TENANT_ID + AZURE_CLIENT_ID + \
             AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH); workload identity (AZURE_FEDERATED_TOKEN_FILE); \
             a managed identity; or sign in with `az login` (cloud: {})",
            chain(err),
            target.cloud
        ),
        ErrorKind::Connection | ErrorKind::Io => {
            let cause = chain(err);
            let tls = if cause.to_ascii_lowercase().contains("certificate") {
                "; for a server whose certificate a private CA issued, set SSL_CERT_FILE to that CA's PEM file"
            } else {
                ""
            };
            format!(
                "cannot reach {} ({cause}): check the vault host in the key URI, the network and the proxy \
                 settings (HTTPS_PROXY, NO_PROXY){tls}",
                target.vault
            )
        }
        _ => chain(err),
    };
    Error::new(scrub(&format!("{head}: {body}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            key: "v.vault.azure.net/k".into(),
            vault: "https://v.vault.azure.net/".into(),
            cloud: "AzurePublicCloud".into(),
            credentials: "EnvironmentCredential".into(),
        }
    }

    #[test]
    fn credential_errors_list_the_ways() {
        let e = azure_core::Error::with_message(ErrorKind::Credential, "no Azure credential was available (x)");
        let d = describe("sign", &target(), &|s| s.replace('x', "[redacted]"), &e).to_string();
        assert!(d.starts_with("Azure Key Vault sign for key v.vault.azure.net/k failed: no access token"), "{d}");
        assert!(d.contains("az login") && d.contains("[redacted]"), "{d}");
    }
}
