//! # sigstore-kms
//!
//! The command line of the Sigstore KMS plugin protocol: list the plugins on `PATH`, create
//! keys, sign and verify through any plugin, verify locally with a public key, and run a
//! conformance check against any plugin program.
//!
//! ```text
//! sigstore-kms list [--json]
//! sigstore-kms generate-key --key URI [--algorithm ALG]
//! sigstore-kms public-key   --key URI
//! sigstore-kms sign         --key URI [--hash sha256] [--digest] FILE|-
//! sigstore-kms sign         --key URI --bundle OUT FILE|-
//! sigstore-kms verify      (--key URI | --public-key PEM) --signature SIGFILE [--hash sha256] [--digest] FILE|-
//! sigstore-kms verify      (--key URI | --public-key PEM) --bundle IN [FILE|-]
//! sigstore-kms attest       --key URI [--type TYPE] --predicate FILE --bundle OUT FILE...
//! sigstore-kms check        --key URI
//! sigstore-kms pkcs11 list-tokens [--module-path LIB] [--json]
//! sigstore-kms pkcs11 list-keys   --token LABEL [--module-path LIB] [--pin-source FILE] [--json]
//! ```
//!
//! Global `--timeout SECONDS` (default 300, 0 for none). Errors go to stderr as `error: ...`;
//! the exit code is 0 on success, 1 on failure, 2 on a usage error.
//!
//! The same program is also the `localkms` plugin: started under the name
//! `sigstore-kms-localkms` (a symbolic or hard link), it serves the protocol with
//! [`sigstore_kms_localkms::LocalKms`], so one install can ship both; started as
//! `sigstore-kms-pkcs11`, it is the PKCS#11 plugin ([`sigstore_kms_pkcs11::Pkcs11Kms`]).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sigstore_kms_localkms::{HashChoice, Input};
use sigstore_kms_plugins::{
    get_signer_verifier, ErrorKind, HashFunc, Lang, OptionValue, Options, PluginSignerVerifier, PluginSource,
};

mod bundles;
mod check;
mod pkcs11;

/// Files at least this large get a progress bar (when stderr is a terminal).
pub const PROGRESS_THRESHOLD: u64 = 64 * 1024 * 1024;

/// The program name under which this binary acts as the `localkms` plugin.
pub const LOCALKMS_PROGRAM: &str = "sigstore-kms-localkms";

/// The program name under which this binary acts as the `pkcs11` plugin (it links it anyway,
/// for `sigstore-kms pkcs11`).
pub const PKCS11_PROGRAM: &str = "sigstore-kms-pkcs11";

#[derive(Debug, Parser)]
#[command(
    name = "sigstore-kms",
    version,
    propagate_version = true,
    about = "Use and test Sigstore KMS plugins (sigstore-kms-NAME programs, key URIs NAME://REF)",
    after_help = "Exit status: 0 on success, 1 on failure (including a signature that does not verify), 2 on a usage error."
)]
struct Cli {
    /// Seconds before a plugin call is given up and the plugin killed; 0 waits for ever.
    #[arg(long, global = true, value_name = "SECONDS", default_value = "300", value_parser = parse_timeout)]
    timeout: Timeout,

    /// Also look for plugin programs in DIR, after PATH (repeatable; DIR must be absolute).
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the plugins found on PATH and in the plugin directories (like `kubectl plugin list`).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a key (or get the existing one) and print its public key PEM.
    GenerateKey {
        /// The key URI, NAME://REF.
        #[arg(long, value_name = "URI")]
        key: String,
        /// The algorithm; default: the plugin's defaultAlgorithm.
        #[arg(long, value_name = "ALG")]
        algorithm: Option<String>,
    },
    /// Print the public key PEM.
    PublicKey {
        /// The key URI, NAME://REF.
        #[arg(long, value_name = "URI")]
        key: String,
    },
    /// Sign a file (or stdin with `-`) and print the base64 signature (cosign sign-blob's format).
    Sign {
        /// The key URI, NAME://REF.
        #[arg(long, value_name = "URI")]
        key: String,
        /// The hash function (sent as hashFunc; with --digest, computed here).
        #[arg(long, value_name = "HASH", default_value = "sha256", value_parser = parse_hash)]
        hash: HashFunc,
        /// Hash the file here and send only the digest (Go's CryptoSigner path).
        #[arg(long)]
        digest: bool,
        /// Write a Sigstore bundle (JSON, as cosign writes it) to OUT (`-`: stdout) instead of
        /// printing the signature; the key decides the hash.
        #[arg(long, value_name = "OUT", conflicts_with = "digest")]
        bundle: Option<PathBuf>,
        /// The file to sign, or `-` for stdin.
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Verify a signature through the plugin, or locally with --public-key.
    Verify {
        /// The key URI, NAME://REF (verification by the plugin).
        #[arg(long, value_name = "URI", required_unless_present = "public_key", conflicts_with = "public_key")]
        key: Option<String>,
        /// A public key PEM file: verify here, without any plugin.
        #[arg(long, value_name = "PEM")]
        public_key: Option<PathBuf>,
        /// The signature file: base64 (cosign's format) or raw bytes (DER for ECDSA).
        #[arg(long, value_name = "SIGFILE", required_unless_present = "bundle", conflicts_with = "bundle")]
        signature: Option<PathBuf>,
        /// A Sigstore bundle to check instead (`-`: stdin), against the public key (the
        /// plugin's with --key); FILE is optional for a DSSE bundle.
        #[arg(long, value_name = "IN", conflicts_with = "digest")]
        bundle: Option<PathBuf>,
        /// The hash function the signature was made with (not used for Ed25519).
        #[arg(long, value_name = "HASH", default_value = "sha256", value_parser = parse_hash)]
        hash: HashFunc,
        /// Hash the file here and send only the digest to the plugin.
        #[arg(long)]
        digest: bool,
        /// The signed file, or `-` for stdin.
        #[arg(value_name = "FILE", required_unless_present = "bundle")]
        file: Option<String>,
    },
    /// Sign an in-toto statement about FILE... into a DSSE Sigstore bundle (like cosign attest-blob).
    Attest(bundles::AttestArgs),
    /// Run a conformance check against a plugin program, printing a pass/fail table.
    Check {
        /// The key URI, NAME://REF (the key is created if the plugin needs to).
        #[arg(long, value_name = "URI")]
        key: String,
    },
    /// PKCS#11 tokens and their keys' URIs (for pkcs11: keys, like `cosign pkcs11-tool`).
    Pkcs11 {
        #[command(subcommand)]
        command: pkcs11::Command,
    },
}

/// A per-call timeout; `None` waits for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeout(Option<Duration>);

/// `--timeout`, checked by the core's option vocabulary (the same rules as every binding).
fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let mut options = Options::default();
    options
        .set(Lang::Cli, "--timeout", OptionValue::Text(text.to_owned()))
        .map(|()| Timeout(options.get_timeout()))
        .map_err(|e| e.to_string())
}

fn parse_hash(text: &str) -> Result<HashFunc, String> {
    text.parse::<HashFunc>().map_err(|e| e.to_string())
}

/// A failure to report: the message after `error: `, and the exit code.
#[derive(Debug)]
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

type CmdResult = Result<(), Failure>;

/// The binary's `main`: the `localkms` plugin when started as `sigstore-kms-localkms`, the
/// `pkcs11` plugin as `sigstore-kms-pkcs11`, otherwise the CLI on this process's arguments.
#[must_use]
pub fn main_entry() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if Path::new(&argv0).file_name().is_some_and(|n| n == LOCALKMS_PROGRAM) {
        return sigstore_kms_localkms::main_entry();
    }
    if Path::new(&argv0).file_name().is_some_and(|n| n == PKCS11_PROGRAM) {
        return sigstore_kms_pkcs11::main_entry();
    }
    ExitCode::from(u8::try_from(run(std::env::args_os())).unwrap_or(1))
}

/// Runs the CLI on `args` (`args[0]` is the program name) and returns the exit code:
/// 0 success, 1 failure, 2 usage error (clap's convention).
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with_plugin_dirs(args, Vec::new())
}

/// [`run`], with `plugin_dirs` searched after PATH (and after any `--plugin-dir`) for every
/// plugin: how the Python and Node packages' `sigstore-kms` finds their bundled plugins.
pub fn run_with_plugin_dirs<I, T>(args: I, plugin_dirs: Vec<PathBuf>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    cli.plugin_dirs.extend(plugin_dirs);
    match execute(cli) {
        Ok(()) => 0,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            1
        }
    }
}

fn execute(cli: Cli) -> CmdResult {
    // What every plugin call of this run shares.
    let base = Options::default().timeout(cli.timeout.0).plugin_dirs(cli.plugin_dirs.clone());
    match cli.command {
        Command::List { json } => list(json, &cli.plugin_dirs),
        Command::GenerateKey { key, algorithm } => {
            let sv = signer(&key, &base, HashFunc::Sha256)?;
            let algorithm = match algorithm {
                Some(a) => a,
                None => sv.default_algorithm_blocking()?,
            };
            print_pem(sv.create_key_blocking(&algorithm)?.pem())
        }
        Command::PublicKey { key } => print_pem(signer(&key, &base, HashFunc::Sha256)?.public_key_blocking()?.pem()),
        Command::Sign { key, file, bundle: Some(out), .. } => bundles::sign(&key, &base, &file, &out),
        Command::Sign { key, hash, digest, file, bundle: None } => {
            let sv = signer(&key, &base, hash)?;
            let signature = if digest {
                let d = hash_file(&file, hash)?;
                sv.sign_digest_blocking(&d, hash)?
            } else {
                let (reader, bar) = open_message(&file, "signing")?;
                let result = sv.sign_message_blocking(reader);
                finish(bar.as_ref());
                result?
            };
            out(&format!("{}\n", base64::engine::general_purpose::STANDARD.encode(signature)))
        }
        Command::Verify { key, public_key, bundle: Some(b), file, .. } => {
            bundles::verify_bundle(key.as_deref(), public_key.as_deref(), &base, &b, file.as_deref())
        }
        Command::Verify { key, public_key, signature, hash, digest, file, bundle: None } => {
            let (Some(signature), Some(file)) = (signature, file) else {
                return Err(Failure("give --signature SIGFILE and FILE, or --bundle".into()));
            };
            let sig = read_signature(&signature)?;
            let verdict = match (key, public_key) {
                (_, Some(pem)) => verify_locally(&pem, &sig, &file, hash),
                (Some(key), None) => verify_with_plugin(&key, &base, &sig, &file, hash, digest),
                (None, None) => Err(Failure("give --key or --public-key".into())),
            };
            verdict?;
            out("Verified OK\n")
        }
        Command::Check { key } => check::run(&key, &base),
        Command::Attest(args) => bundles::attest(&args, &base),
        Command::Pkcs11 { command } => pkcs11::run(command),
    }
}

/// The signer-verifier of `uri` with the run's shared options (`base`: timeout, plugin dirs).
fn signer(uri: &str, base: &Options, hash: HashFunc) -> Result<PluginSignerVerifier, Failure> {
    Ok(get_signer_verifier(uri, base.clone().hash_func(hash))?)
}

fn verify_with_plugin(uri: &str, base: &Options, sig: &[u8], file: &str, hash: HashFunc, digest: bool) -> CmdResult {
    let sv = signer(uri, base, hash)?;
    let result = if digest {
        let d = hash_file(file, hash)?;
        sv.verify_digest_blocking(sig, &d, hash)
    } else {
        let (reader, bar) = open_message(file, "verifying")?;
        let result = sv.verify_signature_blocking(sig, reader);
        finish(bar.as_ref());
        result
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::PluginReturned => Err(Failure(format!("verification failed: {e}"))),
        Err(e) => Err(e.into()),
    }
}

fn verify_locally(pem: &Path, sig: &[u8], file: &str, hash: HashFunc) -> CmdResult {
    let text = std::fs::read(pem).map_err(|e| format!("cannot read the public key {}: {e}", pem.display()))?;
    let key = sigstore_kms_localkms::PublicKey::from_pem(&text).map_err(|e| format!("{}: {e}", pem.display()))?;
    let (mut reader, bar) = open_message(file, "verifying")?;
    let result = key.verify(sig, Input::Message(&mut reader), HashChoice { hash, explicit: false });
    finish(bar.as_ref());
    result.map_err(|e| Failure(format!("verification failed: {e}")))
}

/// Reads a signature file: base64 (whitespace around and inside ignored), else raw bytes.
fn read_signature(path: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the signature {}: {e}", path.display()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure(format!("the signature file {} is empty", path.display())));
    }
    let looks_base64 =
        bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace());
    if looks_base64 {
        let compact: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(compact) {
            return Ok(decoded);
        }
    }
    Ok(bytes)
}

/// Opens FILE (or stdin for `-`), with a progress bar on stderr for large files when stderr
/// is a terminal.
fn open_message(file: &str, verb: &str) -> Result<(Box<dyn Read + Send>, Option<ProgressBar>), Failure> {
    if file == "-" {
        return Ok((Box::new(io::stdin()), None));
    }
    let f = File::open(file).map_err(|e| format!("cannot open {file}: {e}"))?;
    let len = f.metadata().map_or(0, |m| m.len());
    if len >= PROGRESS_THRESHOLD && io::stderr().is_terminal() {
        let style = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::new(len).with_style(style).with_message(format!("{verb} {file}"));
        return Ok((Box::new(bar.wrap_read(f)), Some(bar)));
    }
    Ok((Box::new(f), None))
}

fn finish(bar: Option<&ProgressBar>) {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

fn hash_file(file: &str, hash: HashFunc) -> Result<Vec<u8>, Failure> {
    let (mut reader, bar) = open_message(file, "hashing")?;
    let result = sigstore_kms_localkms::hash::digest_reader(hash, &mut reader);
    finish(bar.as_ref());
    Ok(result?)
}

fn print_pem(pem: &str) -> CmdResult {
    if pem.ends_with('\n') {
        out(pem)
    } else {
        out(&format!("{pem}\n"))
    }
}

/// Writes to stdout; a closed stdout is an error, not a panic.
fn out(text: &str) -> CmdResult {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure(format!("writing to stdout failed: {e}")))
}

fn list(json: bool, plugin_dirs: &[PathBuf]) -> CmdResult {
    let plugins = sigstore_kms_plugins::discover_in(None, plugin_dirs);
    if json {
        let items: Vec<serde_json::Value> = plugins
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "path": p.path.display().to_string(),
                    "usable": p.is_usable(),
                    "executable": p.executable,
                    "shadowed": p.shadowed,
                    "relativeDir": p.relative_dir,
                    "source": p.source.as_str(),
                    "shadowedBy": p.shadowed_by.as_ref().map(|w| w.display().to_string()),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&items)?;
        return out(&format!("{text}\n"));
    }
    if plugins.is_empty() {
        if plugin_dirs.is_empty() {
            eprintln!("no sigstore-kms-* plugins found on PATH");
        } else {
            eprintln!("no sigstore-kms-* plugins found on PATH or in the plugin directories");
        }
        return Ok(());
    }
    let rows: Vec<(String, &str, String, String)> = plugins
        .iter()
        .map(|p| {
            let status = if p.relative_dir {
                "refused: found through a relative directory".to_owned()
            } else if !p.executable {
                "not executable".to_owned()
            } else if let Some(winner) = &p.shadowed_by {
                format!("shadowed by {}", winner.display())
            } else {
                "ok".to_owned()
            };
            let source = match p.source {
                PluginSource::Path => "PATH",
                PluginSource::Bundled => "bundled",
            };
            (p.name.clone(), source, p.path.display().to_string(), status)
        })
        .collect();
    let w_name = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0).max(4);
    let w_path = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0).max(4);
    let mut text = format!("{:w_name$}  {:7}  {:w_path$}  STATUS\n", "NAME", "SOURCE", "PATH");
    for (name, source, path, status) in rows {
        let _ = writeln!(text, "{name:w_name$}  {source:7}  {path:w_path$}  {status}");
    }
    out(&text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signature_files_are_base64_or_raw() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "AQID\n").unwrap();
        assert_eq!(read_signature(&p).unwrap(), [1, 2, 3]);
        std::fs::write(&p, "  AQ\nID  \n").unwrap();
        assert_eq!(read_signature(&p).unwrap(), [1, 2, 3]);
        std::fs::write(&p, [0x30, 0x45, 0x02, 0x21, 0xff]).unwrap();
        assert_eq!(read_signature(&p).unwrap(), [0x30, 0x45, 0x02, 0x21, 0xff]);
        std::fs::write(&p, "\n").unwrap();
        assert!(read_signature(&p).unwrap_err().0.contains("empty"));
    }

    #[test]
    fn timeouts_and_hashes_parse() {
        assert_eq!(parse_timeout("0").unwrap(), Timeout(None));
        assert_eq!(parse_timeout("1.5").unwrap(), Timeout(Some(Duration::from_millis(1500))));
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("soon").is_err());
        assert_eq!(parse_hash("SHA-384").unwrap(), HashFunc::Sha384);
        assert!(parse_hash("sha-1024").is_err());
    }
}
