//! `sigstore-kms check`: a conformance run against a plugin program.
//!
//! The counterpart of Go's `signer_program_test.go` (every method; createKey with the default
//! and with an unsupported algorithm; publicKey; sign and verify with the message only, the
//! digest only, and both; a bad digest; a fake signature), plus what a host relies on: the
//! public key is the same through createKey and publicKey, signatures verify outside the
//! plugin too, a tampered message fails, errors come back as `errorMessage` (not a crash or
//! garbage), and a request with an unknown method or protocol version is answered with
//! `errorMessage` (those two are sent to the program directly, with crafted argv).

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sigstore_kms_localkms::{HashChoice, Input};
use sigstore_kms_plugins::process::{self, Invocation};
use sigstore_kms_plugins::protocol::{
    DefaultAlgorithmArgs, InitOptions, MessageOptions, MethodArgs, PluginArgs, PluginResponse, RpcOptions,
    SignMessageArgs, SignOptions,
};
use sigstore_kms_plugins::{
    get_signer_verifier, ErrorKind, HashFunc, Options, PluginSignerVerifier, PublicKey, StderrMode,
    DEFAULT_STDOUT_LIMIT,
};

use crate::{out, CmdResult, Failure};

const MESSAGE: &[u8] = b"sigstore-kms check: any message\n";
const TAMPERED: &[u8] = b"sigstore-kms check: any messagE\n";
const HASH: HashFunc = HashFunc::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Skip,
}

struct Row {
    outcome: Outcome,
    name: &'static str,
    detail: String,
}

/// The state a run accumulates.
struct Checker {
    rows: Vec<Row>,
    sv: PluginSignerVerifier,
    program: PathBuf,
    key_ref: String,
    timeout: Option<Duration>,
}

impl Checker {
    fn record(&mut self, name: &'static str, result: Result<String, String>) -> bool {
        let (outcome, detail) = match result {
            Ok(d) => (Outcome::Pass, d),
            Err(d) => (Outcome::Fail, d),
        };
        self.rows.push(Row { outcome, name, detail });
        outcome == Outcome::Pass
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        self.rows.push(Row { outcome: Outcome::Skip, name, detail: why.to_owned() });
    }

    /// Runs the program with an explicit protocol version and request; answers the decoded
    /// response.
    fn raw_call(&self, version: &str, request: &PluginArgs, stdin: &[u8]) -> Result<PluginResponse, String> {
        let json = request.to_json();
        let mut input = stdin;
        let output = process::run(Invocation {
            program: &self.program,
            version,
            request: &json,
            stdin: process::Stdin::Reader(&mut input as &mut dyn Read),
            timeout: self.timeout,
            stdout_limit: DEFAULT_STDOUT_LIMIT,
            stderr: StderrMode::Capture,
            cancel: None,
        })
        .map_err(|f| format!("running the plugin failed: {:?}", f.error))?;
        PluginResponse::from_json(&output.stdout).map_err(|e| {
            format!(
                "the answer is not a valid response: {e}; received {}",
                sigstore_kms_plugins::preview_bytes(&output.stdout, 200)
            )
        })
    }

    fn init(&self) -> InitOptions {
        InitOptions::new(&self.key_ref, HASH, RpcOptions::packed(None, None, false))
    }
}

/// Expects `result` to be the plugin's own error (`errorMessage`), not success or a failure
/// of the protocol.
fn expect_plugin_error<T>(result: sigstore_kms_plugins::Result<T>, what: &str) -> Result<String, String> {
    match result {
        Ok(_) => Err(format!("{what} was accepted")),
        Err(e) if e.kind() == ErrorKind::PluginReturned => {
            Ok(format!("errorMessage: {}", e.plugin_message().unwrap_or_default()))
        }
        Err(e) => Err(format!("expected an errorMessage answer, got {} error: {e}", e.kind())),
    }
}

fn local_verify(key: &PublicKey, sig: &[u8], message: &[u8]) -> Result<String, String> {
    let local = sigstore_kms_localkms::PublicKey::from_spki_der(key.spki_der()).map_err(|e| e.to_string())?;
    local
        .verify(sig, Input::Message(&mut &message[..]), HashChoice { hash: HASH, explicit: false })
        .map(|()| format!("{} signature checked with the public key", local.describe()))
        .map_err(|e| e.to_string())
}

fn sha256(message: &[u8]) -> Vec<u8> {
    sigstore_kms_localkms::hash::digest_reader(HASH, &mut &message[..]).unwrap_or_default()
}

/// Runs every check against the plugin of `uri` and prints the table; fails if any check did.
/// `base` holds the run's shared options (timeout, plugin directories).
pub(crate) fn run(uri: &str, base: &Options) -> CmdResult {
    let timeout = base.get_timeout();
    let sv = get_signer_verifier(uri, base.clone().hash_func(HASH).stderr(StderrMode::Capture))?;
    let program =
        sv.program_path().map(Path::to_path_buf).ok_or("check needs a plugin program, not an in-process provider")?;
    let key_ref = sv.key_ref().to_owned();
    // The key reference may hold a PKCS#11 PIN (pin-value=...): never print it.
    out(&format!("checking {} with key {:?}\n\n", program.display(), sigstore_kms_plugins::redact_key_uri(&key_ref)))?;
    let mut c = Checker { rows: Vec::new(), sv, program, key_ref, timeout };
    let default = c.algorithms();
    match c.keys(&default) {
        Some(key) => {
            c.message_signing(&key);
            if key.key_type() == "ed25519" {
                c.skip("digest signing", "pure Ed25519 keys sign messages, not digests");
            } else {
                c.digests(&key);
            }
        }
        None => c.skip("signing checks", "there is no key to sign with"),
    }
    c.protocol_errors();
    finish(&c)
}

impl Checker {
    /// defaultAlgorithm and supportedAlgorithms; answers the default.
    fn algorithms(&mut self) -> String {
        let default = self.sv.default_algorithm_blocking();
        let default_ok = self.record(
            "defaultAlgorithm answers a name",
            match &default {
                Ok(a) if !a.is_empty() => Ok(a.clone()),
                Ok(_) => Err("the name is empty".into()),
                Err(e) => Err(e.to_string()),
            },
        );
        let default = default.unwrap_or_default();
        let supported = self.sv.supported_algorithms_blocking();
        self.record(
            "supportedAlgorithms answers a list",
            match &supported {
                Ok(l) if !l.is_empty() => Ok(l.join(", ")),
                Ok(_) => Err("the list is empty".into()),
                Err(e) => Err(e.to_string()),
            },
        );
        if default_ok {
            let listed = supported.as_ref().is_ok_and(|l| l.contains(&default));
            self.record(
                "the default algorithm is supported",
                if listed { Ok(default.clone()) } else { Err(format!("{default:?} is not in the list")) },
            );
        }
        default
    }

    /// createKey (default and unsupported algorithm) and publicKey; answers the key.
    fn keys(&mut self, default: &str) -> Option<PublicKey> {
        let created = self.sv.create_key_blocking(default);
        self.record(
            "createKey (default algorithm) answers a public key",
            created.as_ref().map(PublicKey::key_type).map_err(ToString::to_string),
        );
        let unsupported = self.sv.create_key_blocking("sigstore-kms-check-no-such-algorithm");
        self.record(
            "createKey refuses an unsupported algorithm",
            expect_plugin_error(unsupported, "an unsupported algorithm"),
        );
        let public = self.sv.public_key_blocking();
        self.record(
            "publicKey answers the key createKey made",
            match (&public, &created) {
                (Ok(p), Ok(k)) if p.spki_der() == k.spki_der() => Ok(p.key_type()),
                (Ok(_), Ok(_)) => Err("publicKey and createKey answer different keys".into()),
                (Err(e), _) => Err(e.to_string()),
                (Ok(p), Err(_)) => Ok(format!("{} (createKey failed)", p.key_type())),
            },
        );
        public.ok().or(created.ok())
    }

    /// Sign and verify a message, through the plugin and locally; tampering; a fake signature.
    fn message_signing(&mut self, key: &PublicKey) {
        let sig = self.sv.sign_message_blocking(MESSAGE);
        let sig_ok = self.record(
            "signMessage signs a message",
            match &sig {
                Ok(s) if !s.is_empty() => Ok(format!("{} bytes", s.len())),
                Ok(_) => Err("the signature is empty".into()),
                Err(e) => Err(e.to_string()),
            },
        );
        if sig_ok {
            let sig = sig.unwrap_or_default();
            let v = self.sv.verify_signature_blocking(&sig, MESSAGE);
            self.record("verifySignature accepts the signature", v.map(|()| String::new()).map_err(|e| e.to_string()));
            self.record("the signature verifies locally with the public key", local_verify(key, &sig, MESSAGE));
            let tampered = self.sv.verify_signature_blocking(&sig, TAMPERED);
            self.record(
                "verifySignature refuses a tampered message",
                expect_plugin_error(tampered, "the tampered message"),
            );
            self.record(
                "a tampered message fails local verification",
                match local_verify(key, &sig, TAMPERED) {
                    Ok(_) => Err("the tampered message verified".into()),
                    Err(e) => Ok(e),
                },
            );
        }
        let garbage = self.sv.verify_signature_blocking(b"bad signature", MESSAGE);
        self.record(
            "verifySignature refuses a fake signature with errorMessage",
            expect_plugin_error(garbage, "a fake signature"),
        );
    }

    /// The digest paths: digest only (Go's CryptoSigner), message and digest (cosign), a bad digest.
    fn digests(&mut self, key: &PublicKey) {
        let digest = sha256(MESSAGE);
        let dsig = self.sv.sign_digest_blocking(&digest, HASH);
        let dsig_ok = self.record(
            "signMessage signs a digest (empty stdin, as Go's CryptoSigner)",
            dsig.as_ref().map(|s| format!("{} bytes", s.len())).map_err(ToString::to_string),
        );
        if dsig_ok {
            let dsig = dsig.unwrap_or_default();
            let v = self.sv.verify_signature_blocking(&dsig, MESSAGE);
            self.record(
                "the digest signature verifies against the message",
                v.map(|()| String::new()).map_err(|e| e.to_string()),
            );
            let v = self.sv.verify_digest_blocking(&dsig, &digest, HASH);
            self.record("verifySignature accepts a digest", v.map(|()| String::new()).map_err(|e| e.to_string()));
            self.record("the digest signature verifies locally", local_verify(key, &dsig, MESSAGE));
        }
        // The message and its digest, no hashFunc: what cosign sends.
        let both = PluginArgs::new(
            self.init(),
            MethodArgs::SignMessage(SignMessageArgs {
                sign_options: Some(SignOptions {
                    rpc_options: RpcOptions::packed(None, None, false),
                    message_options: MessageOptions { digest: Some(Some(digest.clone())), hash_func: None },
                }),
            }),
        );
        let answer = self.raw_call("v1", &both, MESSAGE);
        self.record(
            "signMessage with the message and its digest (as cosign sends)",
            answer.and_then(|r| {
                if !r.error_message.is_empty() {
                    return Err(format!("errorMessage: {}", r.error_message));
                }
                let s = r.sign_message.map(|s| s.signature).ok_or("the answer has no signMessage object")?;
                local_verify(key, &s, MESSAGE)
            }),
        );
        let bad = self.sv.sign_digest_blocking(b"bad digest", HASH);
        self.record("signMessage refuses a malformed digest", expect_plugin_error(bad, "a 10-byte digest"));
    }

    /// Requests no host sends: an unknown method, an unknown protocol version.
    fn protocol_errors(&mut self) {
        let mut unknown = PluginArgs::new(self.init(), MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}));
        unknown.method_name = "sigstoreKmsCheckNoSuchMethod".into();
        let answer = self.raw_call("v1", &unknown, b"");
        self.record("an unknown method is answered with errorMessage", errored(answer));
        let valid = PluginArgs::new(self.init(), MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}));
        let answer = self.raw_call("v999", &valid, b"");
        self.record("an unknown protocol version is answered with errorMessage", errored(answer));
    }
}

fn errored(answer: Result<PluginResponse, String>) -> Result<String, String> {
    let r = answer?;
    if r.error_message.is_empty() {
        Err("the answer has no errorMessage".into())
    } else {
        Ok(format!("errorMessage: {}", r.error_message))
    }
}

fn finish(c: &Checker) -> CmdResult {
    let width = c.rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for row in &c.rows {
        let tag = match row.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        let detail = sigstore_kms_plugins::escape_text(&row.detail, 300);
        text.push_str(format!("{tag}  {:width$}  {detail}", row.name).trim_end());
        text.push('\n');
    }
    let count = |o: Outcome| c.rows.iter().filter(|r| r.outcome == o).count();
    let (passed, failed, skipped) = (count(Outcome::Pass), count(Outcome::Fail), count(Outcome::Skip));
    let _ = write!(text, "\n{passed} checks passed, {failed} failed, {skipped} skipped\n");
    out(&text)?;
    if failed > 0 {
        return Err(Failure(format!("{failed} of {} checks failed", passed + failed)));
    }
    let _ = io::Write::flush(&mut io::stdout());
    Ok(())
}
