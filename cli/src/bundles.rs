//! Sigstore bundles from the command line: `sign --bundle`, `verify --bundle` and `attest`, on
//! the `sigstore-kms-bundle` crate (the same code as the Python and Node bindings).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use clap::Args;
use sigstore_kms_bundle::{
    in_toto_statement, predicate_type, verify, Artifact, Bundle, BundleSigner, DigestAlgorithm, ErrorKind, KeyKind,
    Subject, VerificationKey, Verified, IN_TOTO_PAYLOAD_TYPE,
};
use sigstore_kms_plugins::{HashFunc, Options};

use super::{finish, open_message, out, signer, CmdResult, Failure};

/// The largest bundle file read (DSSE payloads such as SBOMs can be large; bundles are JSON).
const MAX_BUNDLE: u64 = 256 * 1024 * 1024;

/// `sigstore-kms attest`: an in-toto statement about FILE, signed into a DSSE bundle.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The key URI, NAME://REF.
    #[arg(long, value_name = "URI")]
    key: String,
    /// The predicate type: a URI, or one of cosign's short names (custom, slsaprovenance,
    /// slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex).
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    predicate_type: String,
    /// The predicate: a JSON file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    predicate: String,
    /// Where to write the bundle (`-` for stdout).
    #[arg(long, value_name = "OUT")]
    bundle: PathBuf,
    /// The artifacts the statement is about (its subjects: file name and SHA-256 digest).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// `sign --bundle OUT`: a message-signature bundle over FILE (or stdin).
pub fn sign(uri: &str, base: &Options, file: &str, bundle_out: &Path) -> CmdResult {
    let bundles = BundleSigner::new(signer(uri, base, HashFunc::Sha256)?);
    let key = bundles.key_blocking()?;
    // An Ed25519 key signs the file itself and the signature is then checked over it again: a
    // path can be opened twice, a pipe is spooled to a temporary file by the crate.
    let bundle = if key.kind() == KeyKind::Ed25519 && file != "-" {
        bundles.sign_artifact_blocking(Artifact::Path(Path::new(file)))
    } else {
        let (mut reader, bar) = open_message(file, "signing")?;
        let result = bundles.sign_artifact_blocking(Artifact::Reader(&mut reader));
        finish(bar.as_ref());
        result
    }?;
    write_bundle(&bundle, bundle_out)
}

/// `verify --bundle IN`: checks the bundle against the key (`--key`: the plugin's public key;
/// `--public-key`: a PEM file), over FILE for a message signature; for a DSSE bundle FILE is
/// optional and, when given, must be a subject of its in-toto statement.
pub fn verify_bundle(
    uri: Option<&str>,
    public_key: Option<&Path>,
    base: &Options,
    bundle_file: &Path,
    file: Option<&str>,
) -> CmdResult {
    let bundle = read_bundle(bundle_file)?;
    let key = match (uri, public_key) {
        (_, Some(pem)) => {
            let text = std::fs::read(pem).map_err(|e| format!("cannot read the public key {}: {e}", pem.display()))?;
            VerificationKey::from_pem(&text).map_err(|e| format!("{}: {e}", pem.display()))?
        }
        (Some(uri), None) => BundleSigner::new(signer(uri, base, HashFunc::Sha256)?).key_blocking()?.clone(),
        (None, None) => return Err(Failure("give --key or --public-key".into())),
    };
    let verified = match file {
        Some(f) => {
            let (mut reader, bar) = open_message(f, "verifying")?;
            let result = verify(&bundle, &key, Some(&mut reader));
            finish(bar.as_ref());
            result
        }
        None => verify(&bundle, &key, None),
    }
    .map_err(|e| match e.kind() {
        ErrorKind::Io | ErrorKind::Plugin => Failure(e.to_string()),
        _ => Failure(format!("verification failed: {e}")),
    })?;
    report(&verified);
    out("Verified OK\n")
}

/// `attest`: an in-toto statement (v1) about FILE..., signed into a DSSE bundle.
pub fn attest(args: &AttestArgs, base: &Options) -> CmdResult {
    let predicate_type = predicate_type(&args.predicate_type)?;
    let text = if args.predicate == "-" {
        let mut buf = Vec::new();
        io::stdin()
            .take(MAX_BUNDLE)
            .read_to_end(&mut buf)
            .map_err(|e| format!("reading the predicate from stdin: {e}"))?;
        buf
    } else {
        std::fs::read(&args.predicate).map_err(|e| format!("cannot read the predicate {}: {e}", args.predicate))?
    };
    let predicate: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        format!("the predicate {} is not JSON: {e}", if args.predicate == "-" { "on stdin" } else { &args.predicate })
    })?;
    let mut subjects = Vec::new();
    for file in &args.files {
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        let (mut reader, bar) = open_message(&file.display().to_string(), "hashing")?;
        let subject = Subject::of_reader(name, &mut reader, DigestAlgorithm::Sha2_256);
        finish(bar.as_ref());
        subjects.push(subject?);
    }
    let statement = in_toto_statement(&subjects, &predicate_type, &predicate);
    let bundles = BundleSigner::new(signer(&args.key, base, HashFunc::Sha256)?);
    let bundle = bundles.sign_dsse_blocking(IN_TOTO_PAYLOAD_TYPE, &statement)?;
    write_bundle(&bundle, &args.bundle)
}

fn read_bundle(path: &Path) -> Result<Bundle, Failure> {
    let mut text = Vec::new();
    let read = if path == Path::new("-") {
        io::stdin().take(MAX_BUNDLE + 1).read_to_end(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_BUNDLE + 1).read_to_end(&mut text))
    };
    read.map_err(|e| format!("cannot read the bundle {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_BUNDLE {
        return Err(Failure(format!("the bundle {} is larger than {MAX_BUNDLE} bytes", path.display())));
    }
    Bundle::from_json(&text).map_err(|e| Failure(format!("verification failed: {}: {e}", path.display())))
}

fn write_bundle(bundle: &Bundle, path: &Path) -> CmdResult {
    let json = bundle.to_json();
    if path == Path::new("-") {
        return out(&format!("{json}\n"));
    }
    std::fs::write(path, json).map_err(|e| Failure(format!("cannot write the bundle {}: {e}", path.display())))?;
    eprintln!("wrote the bundle {}", path.display());
    Ok(())
}

/// Says on stderr what was verified, and what was in the bundle but not verified.
fn report(v: &Verified) {
    if let Some(d) = &v.digest {
        eprintln!("message signature over the artifact ({} {})", d.algorithm, hex(&d.digest));
    }
    if let Some(t) = &v.payload_type {
        match &v.subject {
            Some(s) => eprintln!("DSSE envelope ({t}); the artifact is its subject {s:?}"),
            None => eprintln!("DSSE envelope ({t})"),
        }
    }
    if v.tlog_entries_not_verified + v.timestamps_not_verified > 0 {
        eprintln!(
            "note: {} transparency-log entries and {} timestamps in the bundle were not verified (no trust root: \
             only the signature against the key was checked)",
            v.tlog_entries_not_verified, v.timestamps_not_verified
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
