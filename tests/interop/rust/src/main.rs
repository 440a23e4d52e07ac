//! `interop-host SCENARIO.json`: the Rust host of the interop tests.
//!
//! Loads the key URI with [`sigstore_kms_plugins::get_signer_verifier`] and runs the
//! scenario's calls with the blocking API, printing `{"host":"rust","results":[...]}` (the
//! format of `tests/interop/go/internal/scenario`).

use std::fs::File;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use sigstore_kms_plugins::{get_signer_verifier, Error, HashFunc, Options, PluginSignerVerifier};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scenario {
    key: String,
    hash_func: u64,
    #[serde(default)]
    timeout_seconds: f64,
    #[serde(default)]
    key_version: String,
    #[serde(default)]
    remote_verification: bool,
    ops: Vec<Op>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Op {
    #[serde(rename = "op")]
    name: String,
    algorithm: String,
    message: Option<String>,
    message_file: Option<String>,
    digest: Option<String>,
    hash_func: u64,
    signature: Option<String>,
    signature_from: Option<usize>,
}

fn b64(s: Option<&String>) -> Result<Vec<u8>, String> {
    B64.decode(s.map_or("", String::as_str)).map_err(|e| format!("bad base64 in scenario: {e}"))
}

fn hash(n: u64) -> Result<HashFunc, String> {
    HashFunc::from_number(n).ok_or_else(|| format!("unknown hash function {n}"))
}

fn message(op: &Op) -> Result<Box<dyn Read>, String> {
    if let Some(path) = &op.message_file {
        return Ok(Box::new(File::open(path).map_err(|e| format!("{path}: {e}"))?));
    }
    Ok(Box::new(std::io::Cursor::new(b64(op.message.as_ref())?)))
}

enum Failure {
    Host(Error),
    Setup(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Host(e)
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Setup(e)
    }
}

fn signature_from(results: &[Value], op: &Op) -> Result<Vec<u8>, String> {
    match op.signature_from {
        None => b64(op.signature.as_ref()),
        Some(j) => match results.get(j) {
            Some(r) if r["ok"] == json!(true) => {
                B64.decode(r["value"].as_str().unwrap_or_default()).map_err(|e| e.to_string())
            }
            _ => Err(format!("signatureFrom {j}: no such successful op")),
        },
    }
}

fn run(sv: &PluginSignerVerifier, op: &Op, results: &[Value]) -> Result<Value, Failure> {
    Ok(match op.name.as_str() {
        "defaultAlgorithm" => json!(sv.default_algorithm_blocking()?),
        "supportedAlgorithms" => json!(sv.supported_algorithms_blocking()?),
        "createKey" => json!(B64.encode(sv.create_key_blocking(&op.algorithm)?.spki_der())),
        "publicKey" => json!(B64.encode(sv.public_key_blocking()?.spki_der())),
        "signMessage" => json!(B64.encode(sv.sign_message_blocking(message(op)?)?)),
        "signDigest" => json!(B64.encode(sv.sign_digest_blocking(&b64(op.digest.as_ref())?, hash(op.hash_func)?)?)),
        "verifySignature" => {
            sv.verify_signature_blocking(&signature_from(results, op)?, message(op)?)?;
            Value::Null
        }
        "verifyDigest" => {
            let sig = signature_from(results, op)?;
            sv.verify_digest_blocking(&sig, &b64(op.digest.as_ref())?, hash(op.hash_func)?)?;
            Value::Null
        }
        other => return Err(Failure::Setup(format!("unknown op {other:?}"))),
    })
}

fn result(op: &Op, outcome: Result<Value, Failure>) -> Value {
    match outcome {
        Ok(value) => json!({"op": op.name, "ok": true, "value": value}),
        Err(Failure::Host(e)) => {
            let mut error = json!({"kind": e.kind().as_str(), "text": e.to_string()});
            if let Some(m) = e.plugin_message() {
                error["pluginMessage"] = json!(m);
            }
            json!({"op": op.name, "ok": false, "error": error})
        }
        Err(Failure::Setup(text)) => json!({"op": op.name, "ok": false, "error": {"kind": "Other", "text": text}}),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("usage: interop-host SCENARIO.json");
        return ExitCode::from(2);
    }
    let scenario: Scenario = match std::fs::read(&args[1])
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("interop-host: scenario: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(hash_func) = HashFunc::from_number(scenario.hash_func) else {
        eprintln!("interop-host: unknown hash function {}", scenario.hash_func);
        return ExitCode::from(2);
    };
    let timeout = (scenario.timeout_seconds > 0.0).then(|| Duration::from_secs_f64(scenario.timeout_seconds));
    let mut options = Options::default().hash_func(hash_func).timeout(timeout);
    if !scenario.key_version.is_empty() {
        options = options.key_version(scenario.key_version.clone());
    }
    if scenario.remote_verification {
        options = options.remote_verification(true);
    }
    let sv = match get_signer_verifier(&scenario.key, options) {
        Ok(sv) => sv,
        Err(e) => {
            eprintln!("interop-host: get_signer_verifier: {e}");
            return ExitCode::from(1);
        }
    };
    let mut results: Vec<Value> = Vec::new();
    for op in &scenario.ops {
        let outcome = run(&sv, op, &results);
        results.push(result(op, outcome));
    }
    println!("{}", json!({"host": "rust", "results": results}));
    ExitCode::SUCCESS
}
