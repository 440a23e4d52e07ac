//! The credential chain: Go's `DefaultAzureCredential` (azidentity v1.14, what cosign uses),
//! built from the Rust SDK's credentials.
//!
//! In order: the environment's service principal (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
//! `AZURE_CLIENT_SECRET`, or `AZURE_CLIENT_CERTIFICATE_PATH`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, the Azure CLI (`az login`), the Azure
//! Developer CLI (`azd auth login`). `AZURE_TOKEN_CREDENTIALS` narrows the chain as in Go
//! (`dev`, `prod`, or one credential's name). The first credential that produces a token is
//! used. A credential that is configured (a service principal, workload identity) and fails
//! stops the chain with its error, as in Go; the others (managed identity, the CLIs) are
//! skipped when they are not available, and their reasons are listed if nothing works.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret as AzSecret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential, AzureDeveloperCliCredentialOptions,
    ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use sigstore_kms_provider_kit::Secret;

use crate::certificate::CertificateAssertion;
use crate::Error;

/// How long managed identity may take to answer when other credentials follow it in the chain:
/// off Azure, the instance metadata address may not answer at all (Go's chain probes it with a
/// one-second timeout for the same reason).
pub const MANAGED_IDENTITY_PROBE: Duration = Duration::from_secs(2);

const ENVIRONMENT: &str = "EnvironmentCredential";
const WORKLOAD: &str = "WorkloadIdentityCredential";
const MANAGED: &str = "ManagedIdentityCredential";
const CLI: &str = "AzureCLICredential";
const AZD: &str = "AzureDeveloperCLICredential";
const POWERSHELL: &str = "AzurePowerShellCredential";

/// One credential of the chain.
struct Source {
    name: &'static str,
    /// The credential, or why it is not available.
    credential: Result<Arc<dyn TokenCredential>, String>,
    /// A failure of this credential ends the chain (it was configured on purpose).
    decisive: bool,
    /// A time limit for this credential alone.
    limit: Option<Duration>,
}

/// The chain, and the secrets it was configured with (to keep them out of messages).
pub struct Chain {
    sources: Vec<Source>,
    /// Secrets from the environment and files.
    pub secrets: Vec<Secret>,
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secrets are left out on purpose.
        f.debug_struct("Chain").field("sources", &self.names()).finish_non_exhaustive()
    }
}

/// Which credentials `AZURE_TOKEN_CREDENTIALS` selects.
fn selected(var: &impl Fn(&str) -> Option<String>) -> Result<Vec<&'static str>, Error> {
    let all = vec![ENVIRONMENT, WORKLOAD, MANAGED, CLI, AZD];
    // Empty counts as unset (Go refuses it; CI templates often leave variables empty).
    let Some(value) = var("AZURE_TOKEN_CREDENTIALS").filter(|v| !v.trim().is_empty()) else { return Ok(all) };
    let v = value.trim();
    Ok(match v {
        "dev" => vec![CLI, AZD],
        "prod" => vec![ENVIRONMENT, WORKLOAD, MANAGED],
        _ => {
            if v.eq_ignore_ascii_case(POWERSHELL) {
                return Err(Error::new(format!(
                    "AZURE_TOKEN_CREDENTIALS={value:?}: the Azure PowerShell credential is not supported by this \
                     plugin; sign in with the Azure CLI (az login) and use AzureCLICredential or dev"
                )));
            }
            match all.iter().find(|n| n.eq_ignore_ascii_case(v)) {
                Some(n) => vec![*n],
                None => {
                    return Err(Error::new(format!(
                        "AZURE_TOKEN_CREDENTIALS={value:?} is not valid: use \"dev\", \"prod\", or one of {}",
                        all.join(", ")
                    )))
                }
            }
        }
    })
}

impl Chain {
    /// Builds the chain from the environment (`var` looks a variable up). `options` are the
    /// HTTP client options for the credentials that call Microsoft Entra ID (their cloud
    /// names the authority host).
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        options: &ClientOptions,
        authority_host: &str,
    ) -> Result<Self, Error> {
        // Credentials that build their own HTTP client need the TLS provider first.
        crate::install_tls_provider();
        let get = |k: &str| var(k).filter(|v| !v.is_empty());
        let mut secrets = Vec::new();
        for k in ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD"] {
            if let Some(v) = get(k) {
                secrets.push(Secret::new(v));
            }
        }
        let names = selected(&var)?;
        let alone = names.len() == 1;
        let tenant = get("AZURE_TENANT_ID");
        let client = get("AZURE_CLIENT_ID");
        let mut sources = Vec::new();
        for name in names {
            let source = match name {
                ENVIRONMENT => environment(&get, tenant.as_deref(), client.as_deref(), options, authority_host),
                WORKLOAD => workload(&get, tenant.as_deref(), client.as_deref(), options, &mut secrets),
                MANAGED => managed(client.as_deref(), options, alone),
                CLI => Source {
                    name,
                    credential: AzureCliCredential::new(Some(AzureCliCredentialOptions {
                        subscription: None,
                        tenant_id: tenant.clone(),
                        executor: Some(azure_identity::new_executor()),
                    }))
                    .map(|c| c as Arc<dyn TokenCredential>)
                    .map_err(|e| e.to_string()),
                    decisive: false,
                    limit: None,
                },
                _ => Source {
                    name,
                    credential: AzureDeveloperCliCredential::new(Some(AzureDeveloperCliCredentialOptions {
                        tenant_id: tenant.clone(),
                        executor: Some(azure_identity::new_executor()),
                    }))
                    .map(|c| c as Arc<dyn TokenCredential>)
                    .map_err(|e| e.to_string()),
                    decisive: false,
                    limit: None,
                },
            };
            // A configuration error of the one credential asked for is the answer.
            if alone {
                if let Err(why) = &source.credential {
                    return Err(Error::new(format!("{name} (AZURE_TOKEN_CREDENTIALS): {why}")));
                }
            }
            sources.push(source);
        }
        Ok(Chain { sources, secrets })
    }

    /// The names of the credentials in the chain, in order.
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        self.sources.iter().map(|s| s.name).collect()
    }

    /// `text` with every known secret replaced by `[redacted]`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |t, s| s.scrub(&t))
    }
}

fn environment(
    get: &impl Fn(&str) -> Option<String>,
    tenant: Option<&str>,
    client: Option<&str>,
    options: &ClientOptions,
    authority_host: &str,
) -> Source {
    let unavailable = |why: String| Source { name: ENVIRONMENT, credential: Err(why), decisive: false, limit: None };
    let (Some(tenant), Some(client)) = (tenant, client) else {
        return unavailable("AZURE_TENANT_ID and AZURE_CLIENT_ID are not both set".into());
    };
    let credential: Result<Arc<dyn TokenCredential>, String> = if let Some(secret) = get("AZURE_CLIENT_SECRET") {
        ClientSecretCredential::new(
            tenant,
            client.to_owned(),
            AzSecret::new(secret),
            Some(ClientSecretCredentialOptions { client_options: options.clone() }),
        )
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| format!("AZURE_CLIENT_SECRET: {e}"))
    } else if let Some(path) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
        let send_chain =
            get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        match CertificateAssertion::load(&PathBuf::from(&path), client, send_chain) {
            Ok(assertion) => ClientAssertionCredential::new(
                tenant.to_owned(),
                client.to_owned(),
                assertion.for_endpoint(format!("{}/{tenant}/oauth2/v2.0/token", authority_host.trim_end_matches('/'))),
                Some(ClientAssertionCredentialOptions { client_options: options.clone() }),
            )
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| format!("AZURE_CLIENT_CERTIFICATE_PATH: {e}")),
            Err(e) => Err(e.to_string()),
        }
    } else if get("AZURE_USERNAME").is_some() {
        Err("AZURE_USERNAME/AZURE_PASSWORD (username and password) sign-in is not supported by this plugin (Microsoft \
             is retiring it): use a service principal secret or certificate, or the Azure CLI"
            .into())
    } else {
        return unavailable(
            "AZURE_TENANT_ID and AZURE_CLIENT_ID are set, but neither AZURE_CLIENT_SECRET nor \
             AZURE_CLIENT_CERTIFICATE_PATH"
                .into(),
        );
    };
    // Configured on purpose: a failure here is the answer (as in Go).
    Source { name: ENVIRONMENT, credential, decisive: true, limit: None }
}

fn workload(
    get: &impl Fn(&str) -> Option<String>,
    tenant: Option<&str>,
    client: Option<&str>,
    options: &ClientOptions,
    secrets: &mut Vec<Secret>,
) -> Source {
    let Some(file) = get("AZURE_FEDERATED_TOKEN_FILE") else {
        return Source {
            name: WORKLOAD,
            credential: Err("AZURE_FEDERATED_TOKEN_FILE is not set".into()),
            decisive: false,
            limit: None,
        };
    };
    // The federated token is a secret too (it is exchanged for an access token).
    if let Ok(token) = std::fs::read_to_string(&file) {
        if token.trim().len() >= 8 {
            secrets.push(Secret::new(token.trim()));
        }
    }
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions { client_options: options.clone() },
        client_id: client.map(str::to_owned),
        tenant_id: tenant.map(str::to_owned),
        token_file_path: Some(PathBuf::from(file)),
    }))
    .map(|c| c as Arc<dyn TokenCredential>)
    .map_err(|e| format!("{e} (it needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE)"));
    Source { name: WORKLOAD, credential, decisive: true, limit: None }
}

fn managed(client: Option<&str>, options: &ClientOptions, alone: bool) -> Source {
    let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        user_assigned_id: client.map(|c| UserAssignedId::ClientId(c.to_owned())),
        client_options: options.clone(),
    }))
    .map(|c| c as Arc<dyn TokenCredential>)
    .map_err(|e| e.to_string());
    Source {
        name: MANAGED,
        credential,
        decisive: false,
        limit: if alone { None } else { Some(MANAGED_IDENTITY_PROBE) },
    }
}

#[async_trait::async_trait]
impl TokenCredential for Chain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut tried = Vec::new();
        for s in &self.sources {
            let credential = match &s.credential {
                Ok(c) => c,
                Err(why) => {
                    tried.push(format!("{}: {why}", s.name));
                    continue;
                }
            };
            let attempt = credential.get_token(scopes, options.clone());
            let result = match s.limit {
                Some(limit) => tokio::time::timeout(limit, attempt).await.unwrap_or_else(|_| {
                    Err(azure_core::Error::with_message(
                        ErrorKind::Credential,
                        format!("no answer within {}s (not running on Azure?)", limit.as_secs()),
                    ))
                }),
                None => attempt.await,
            };
            match result {
                Ok(token) => return Ok(token),
                Err(e) => {
                    let text = format!("{}: {}", s.name, crate::errors::chain(&e));
                    if s.decisive {
                        return Err(azure_core::Error::with_message(ErrorKind::Credential, self.scrub(&text)));
                    }
                    tried.push(text);
                }
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            self.scrub(&format!("no Azure credential was available ({})", tried.join("; "))),
        ))
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
    fn token_credentials_selects_like_go() {
        assert_eq!(selected(&env(&[])).unwrap(), vec![ENVIRONMENT, WORKLOAD, MANAGED, CLI, AZD]);
        assert_eq!(selected(&env(&[("AZURE_TOKEN_CREDENTIALS", "dev")])).unwrap(), vec![CLI, AZD]);
        assert_eq!(
            selected(&env(&[("AZURE_TOKEN_CREDENTIALS", "prod")])).unwrap(),
            vec![ENVIRONMENT, WORKLOAD, MANAGED]
        );
        assert_eq!(selected(&env(&[("AZURE_TOKEN_CREDENTIALS", "azureclicredential")])).unwrap(), vec![CLI]);
        let e = selected(&env(&[("AZURE_TOKEN_CREDENTIALS", "Dev")])).unwrap_err().to_string();
        assert!(e.contains("\"dev\", \"prod\""), "{e}");
        let e = selected(&env(&[("AZURE_TOKEN_CREDENTIALS", "AzurePowerShellCredential")])).unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn chains_from_the_environment() {
        let opts = ClientOptions::default();
        let c = Chain::from_env(env(&[]), &opts, "https://login.example").unwrap();
        assert_eq!(c.names(), vec![ENVIRONMENT, WORKLOAD, MANAGED, CLI, AZD]);
        assert!(c.sources[0].credential.is_err() && !c.sources[0].decisive);
        let vars = [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s3cr3t-value")];
        let c = Chain::from_env(env(&vars), &opts, "https://login.example").unwrap();
        assert!(c.sources[0].credential.is_ok() && c.sources[0].decisive);
        assert_eq!(c.scrub("bad s3cr3t-value"), "bad [redacted]");
        let only = [("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")];
        let e = Chain::from_env(env(&only), &opts, "https://login.example").unwrap_err().to_string();
        assert!(e.contains("EnvironmentCredential (AZURE_TOKEN_CREDENTIALS)"), "{e}");
        let c = Chain::from_env(
            env(&[("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")]),
            &opts,
            "https://login.example",
        )
        .unwrap();
        assert!(c.sources[0].limit.is_none());
    }
}
