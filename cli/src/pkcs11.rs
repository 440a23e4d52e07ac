//! `sigstore-kms pkcs11 list-tokens` and `list-keys`: the tokens of a PKCS#11 module and the
//! key URIs of a token's keys, ready to use with `--key` (the counterpart of
//! `cosign pkcs11-tool`). They load the module in this process; the URIs they print never hold
//! a PIN.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;
use sigstore_kms_pkcs11::config::{self, Environment, ENV_MODULE, ENV_PIN};
use sigstore_kms_pkcs11::{KeySummary, Pkcs11Uri, TokenSummary};

use crate::{out, CmdResult, Failure};

/// `sigstore-kms pkcs11 ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the tokens (slots with a token) of a PKCS#11 module.
    ListTokens {
        /// The module's shared library; default: $SIGSTORE_KMS_PKCS11_MODULE (or $COSIGN_PKCS11_MODULE_PATH).
        #[arg(long, value_name = "PATH")]
        module_path: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the keys on a token, each with its key URI (without the PIN).
    ///
    /// With a PIN (--pin-source, or $SIGSTORE_KMS_PKCS11_PIN / $COSIGN_PKCS11_PIN) the private
    /// keys are listed; without, only public key objects.
    ListKeys {
        /// The token's label.
        #[arg(long, value_name = "LABEL", required_unless_present_any = ["slot_id", "serial"])]
        token: Option<String>,
        /// The token's serial number (to pick one of several tokens with the same label).
        #[arg(long, value_name = "SERIAL")]
        serial: Option<String>,
        /// The slot ID.
        #[arg(long, value_name = "ID")]
        slot_id: Option<u64>,
        /// The module's shared library; default: $SIGSTORE_KMS_PKCS11_MODULE (or $COSIGN_PKCS11_MODULE_PATH).
        #[arg(long, value_name = "PATH")]
        module_path: Option<PathBuf>,
        /// A file holding the user PIN (one trailing newline is dropped).
        #[arg(long, value_name = "FILE")]
        pin_source: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(command: Command) -> CmdResult {
    let env = Environment::from_process();
    match command {
        Command::ListTokens { module_path, json } => {
            let module = module(module_path, &env)?;
            let tokens = sigstore_kms_pkcs11::list_tokens(&module)?;
            if json {
                let items: Vec<serde_json::Value> = tokens.iter().map(token_json).collect();
                return out(&format!("{}\n", serde_json::to_string_pretty(&items)?));
            }
            out(&tokens_text(&module, &tokens))
        }
        Command::ListKeys { token, serial, slot_id, module_path, pin_source, json } => {
            let module = module(module_path, &env)?;
            let mut selector = Pkcs11Uri::default();
            (selector.token, selector.serial, selector.slot_id) = (token, serial, slot_id);
            let pin = match pin_source {
                Some(source) => Some(config::read_pin_source(&source)?),
                None => config::pin(&selector, &env)?,
            };
            if pin.is_none() {
                eprintln!(
                    "note: no PIN (--pin-source or ${ENV_PIN}): only public key objects are listed, not private keys"
                );
            }
            let (token, keys) = sigstore_kms_pkcs11::list_keys(&selector, &module, pin.as_ref())?;
            if json {
                let items: Vec<serde_json::Value> = keys.iter().map(key_json).collect();
                return out(&format!("{}\n", serde_json::to_string_pretty(&items)?));
            }
            out(&keys_text(&token, &module, &keys))
        }
    }
}

/// The module from the flag or the environment, checked as the plugin checks it.
fn module(flag: Option<PathBuf>, env: &Environment) -> Result<PathBuf, Failure> {
    if flag.is_none() && env.module.is_none() {
        return Err(Failure(format!("no PKCS#11 module: give --module-path /path/to/module.so, or set {ENV_MODULE}")));
    }
    let mut uri = Pkcs11Uri::default();
    uri.module_path = flag;
    Ok(config::module_path(&uri, env)?)
}

fn tokens_text(module: &std::path::Path, tokens: &[TokenSummary]) -> String {
    let mut text = format!("Tokens of the PKCS#11 module {}:\n", module.display());
    if tokens.is_empty() {
        text.push_str("  (none: no slot has a token)\n");
    }
    for t in tokens {
        let mut flags = Vec::new();
        if !t.initialized {
            flags.push("not initialized");
        }
        if t.login_required {
            flags.push("login required");
        }
        if t.user_pin_locked {
            flags.push("user PIN locked");
        }
        if t.protected_authentication_path {
            flags.push("PIN pad");
        }
        let _ = write!(
            text,
            "\nSlot {}\n  Label:        {}\n  Manufacturer: {}\n  Model:        {}\n  Serial:       {}\n  Flags:        {}\n",
            t.slot_id,
            t.label,
            t.manufacturer,
            t.model,
            t.serial,
            if flags.is_empty() { "-".to_owned() } else { flags.join(", ") }
        );
        if t.initialized {
            let _ = writeln!(text, "  URI:          {}", t.uri);
        }
    }
    text
}

fn keys_text(token: &str, module: &std::path::Path, keys: &[KeySummary]) -> String {
    let mut text = format!("Keys on token {token} of {}:\n", module.display());
    if keys.is_empty() {
        text.push_str("  (none)\n");
    }
    for (i, k) in keys.iter().enumerate() {
        let objects = match (k.private, k.public) {
            (true, true) => "private key and public key",
            (true, false) => "private key (no public key object)",
            _ => "public key",
        };
        let algorithm = match &k.algorithm {
            Ok(a) => a.clone(),
            Err(e) => format!("not usable here: {e}"),
        };
        let _ = write!(
            text,
            "\nKey {i}\n  Label:     {}\n  ID:        {}\n  Algorithm: {algorithm}\n  Objects:   {objects}\n",
            k.label,
            if k.id.is_empty() { "-".to_owned() } else { sigstore_kms_pkcs11::token::hex(&k.id) },
        );
        match &k.uri {
            Some(uri) => {
                let _ = writeln!(text, "  URI:       {uri}");
            }
            None => text.push_str("  URI:       - (the key has neither label nor ID)\n"),
        }
    }
    text.push_str(
        "\nAdd the PIN to a URI with &pin-source=FILE, or set SIGSTORE_KMS_PKCS11_PIN; Go hosts take the same URI as pkcs11://...\n",
    );
    text
}

fn token_json(t: &TokenSummary) -> serde_json::Value {
    serde_json::json!({
        "slotId": t.slot_id,
        "label": t.label,
        "manufacturer": t.manufacturer,
        "model": t.model,
        "serial": t.serial,
        "initialized": t.initialized,
        "loginRequired": t.login_required,
        "userPinLocked": t.user_pin_locked,
        "protectedAuthenticationPath": t.protected_authentication_path,
        "uri": t.initialized.then_some(&t.uri),
    })
}

fn key_json(k: &KeySummary) -> serde_json::Value {
    serde_json::json!({
        "label": k.label,
        "id": sigstore_kms_pkcs11::token::hex(&k.id),
        "algorithm": k.algorithm.as_ref().ok(),
        "unusable": k.algorithm.as_ref().err(),
        "privateKey": k.private,
        "publicKey": k.public,
        "uri": k.uri,
        "pluginUri": k.uri.as_ref().map(|u| u.replacen("pkcs11:", "pkcs11://", 1)),
    })
}
