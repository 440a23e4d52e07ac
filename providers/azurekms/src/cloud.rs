//! Which Azure cloud: `AZURE_ENVIRONMENT`, as Go's provider reads it, and `AZURE_AUTHORITY_HOST`.

use crate::Error;

/// An Azure cloud: where tokens come from, and the DNS suffix of its vaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// The name shown in messages (`AzurePublicCloud`, ...).
    pub name: &'static str,
    /// The Microsoft Entra ID authority host, e.g. `https://login.microsoftonline.com`.
    pub authority_host: String,
    /// Where the authority host came from, for messages (`AzurePublicCloud`,
    /// `AZURE_AUTHORITY_HOST`).
    pub authority_from: &'static str,
    /// The DNS suffix of the cloud's vaults, e.g. `vault.azure.net`.
    pub vault_suffix: &'static str,
}

/// The accepted `AZURE_ENVIRONMENT` values.
pub const ENVIRONMENTS: &str =
    "AZUREPUBLICCLOUD (or AZURECLOUD), AZURECHINACLOUD, AZUREUSGOVERNMENT (or AZUREUSGOVERNMENTCLOUD)";

impl Cloud {
    /// Azure's public cloud.
    #[must_use]
    pub fn public() -> Self {
        Cloud {
            name: "AzurePublicCloud",
            authority_host: "https://login.microsoftonline.com".into(),
            authority_from: "AzurePublicCloud",
            vault_suffix: "vault.azure.net",
        }
    }

    /// Azure operated by 21Vianet in China.
    #[must_use]
    pub fn china() -> Self {
        Cloud {
            name: "AzureChinaCloud",
            authority_host: "https://login.chinacloudapi.cn".into(),
            authority_from: "AzureChinaCloud",
            vault_suffix: "vault.azure.cn",
        }
    }

    /// Azure Government (US).
    #[must_use]
    pub fn us_government() -> Self {
        Cloud {
            name: "AzureUSGovernment",
            authority_host: "https://login.microsoftonline.us".into(),
            authority_from: "AzureUSGovernment",
            vault_suffix: "vault.usgovcloudapi.net",
        }
    }

    /// The cloud the environment names: `AZURE_ENVIRONMENT` (the values Go's provider knows,
    /// compared without regard to case; unset or empty: the public cloud), and for the public
    /// cloud `AZURE_AUTHORITY_HOST` when set (an `https://` URL: Azure Stack, a private
    /// authority). Go's provider maps unknown values to the public cloud silently; here they are
    /// an error, so that a typo cannot send credentials to the wrong cloud.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let env = var("AZURE_ENVIRONMENT").unwrap_or_default();
        let mut cloud = match env.trim().to_ascii_uppercase().as_str() {
            "" | "AZURECLOUD" | "AZUREPUBLICCLOUD" => Cloud::public(),
            "AZURECHINACLOUD" => Cloud::china(),
            "AZUREUSGOVERNMENT" | "AZUREUSGOVERNMENTCLOUD" => Cloud::us_government(),
            _ => {
                return Err(Error::new(format!(
                    "AZURE_ENVIRONMENT={env:?} is not an Azure cloud this plugin knows: use one of {ENVIRONMENTS}, \
                     or leave it unset for the public cloud"
                )))
            }
        };
        if env.trim().is_empty() {
            if let Some(host) = var("AZURE_AUTHORITY_HOST").filter(|h| !h.trim().is_empty()) {
                let host = host.trim().trim_end_matches('/').to_owned();
                let ok = url::Url::parse(&host).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
                if !ok {
                    return Err(Error::new(format!(
                        "AZURE_AUTHORITY_HOST={host:?} is not an https:// URL: set it to the Microsoft Entra authority \
                         of your cloud (e.g. https://login.microsoftonline.com), or unset it"
                    )));
                }
                cloud.authority_host = host;
                cloud.authority_from = "AZURE_AUTHORITY_HOST";
            }
        }
        Ok(cloud)
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
    fn go_environment_names() {
        for (value, name) in [
            ("", "AzurePublicCloud"),
            ("AZURECLOUD", "AzurePublicCloud"),
            ("AZUREPUBLICCLOUD", "AzurePublicCloud"),
            ("AZURECHINACLOUD", "AzureChinaCloud"),
            ("AZUREUSGOVERNMENT", "AzureUSGovernment"),
            ("AZUREUSGOVERNMENTCLOUD", "AzureUSGovernment"),
            // The Azure CLI writes these in mixed case.
            ("AzureChinaCloud", "AzureChinaCloud"),
            ("AzureUSGovernment", "AzureUSGovernment"),
        ] {
            assert_eq!(Cloud::from_env(env(&[("AZURE_ENVIRONMENT", value)])).unwrap().name, name, "{value}");
        }
        assert_eq!(Cloud::from_env(env(&[])).unwrap(), Cloud::public());
        let e = Cloud::from_env(env(&[("AZURE_ENVIRONMENT", "AZUREGERMANCLOUD")])).unwrap_err().to_string();
        assert!(e.contains("AZUREGERMANCLOUD") && e.contains("AZURECHINACLOUD"), "{e}");
    }

    #[test]
    fn authority_host_override() {
        let c = Cloud::from_env(env(&[("AZURE_AUTHORITY_HOST", "https://127.0.0.1:8443/")])).unwrap();
        assert_eq!((c.authority_host.as_str(), c.authority_from), ("https://127.0.0.1:8443", "AZURE_AUTHORITY_HOST"));
        // A named cloud wins, as in Go (whose provider always names one).
        let c =
            Cloud::from_env(env(&[("AZURE_ENVIRONMENT", "AZURECHINACLOUD"), ("AZURE_AUTHORITY_HOST", "https://x")]));
        assert_eq!(c.unwrap().authority_host, "https://login.chinacloudapi.cn");
        let e = Cloud::from_env(env(&[("AZURE_AUTHORITY_HOST", "http://login.local")])).unwrap_err().to_string();
        assert!(e.contains("not an https:// URL"), "{e}");
    }
}
