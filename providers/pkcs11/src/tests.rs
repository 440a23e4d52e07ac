//! The handler against a real SoftHSM2 token, in this process: set
//! `SIGSTORE_KMS_PKCS11_TEST_MODULE` to SoftHSM's module (the provider tests' runner does,
//! through the Go harness's TestProviderPKCS11RustUnitTests). Without it the test says why it
//! did not run. Each run has its own SOFTHSM2_CONF and token directory, and initializes its
//! token through PKCS#11 itself (C_InitToken on SoftHSM's free slot).

use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sigstore_kms_plugins::{CallContext, HashFunc, KmsHandler, MessageOptions};

use super::*;

const PIN: &str = "unit-test-PIN-4711";
const SO_PIN: &str = "unit-test-SO-0815";
const VAR: &str = "SIGSTORE_KMS_PKCS11_TEST_MODULE";

struct Softhsm {
    module: PathBuf,
    _dir: TempDir,
}

/// A directory removed on drop (no tempfile dependency for one directory).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SoftHSM with a fresh token "unit", or `None` (and why, on stderr) without the variable.
fn softhsm() -> Option<Softhsm> {
    let Some(module) = std::env::var_os(VAR).filter(|v| !v.is_empty()).map(PathBuf::from) else {
        eprintln!(
            "skipped: the SoftHSM tests of sigstore-kms-pkcs11 need {VAR}=/path/to/libsofthsm2.so \
             (tests/providers/run.sh sets it; Debian: apt-get install softhsm2, then /usr/lib/softhsm/libsofthsm2.so)"
        );
        return None;
    };
    let dir = std::env::temp_dir().join(format!("sigstore-kms-pkcs11-unit-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir.display()),
    )
    .unwrap();
    // Before any C_Initialize in this process; the one test that touches SoftHSM sets it.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let p11 = Pkcs11::new(&module).unwrap();
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let free = p11.get_slots_with_token().unwrap()[0];
    p11.init_token(free, &AuthPin::from(SO_PIN), "unit").unwrap();
    // The token moves to a new slot once initialized.
    let slot = *p11
        .get_slots_with_initialized_token()
        .unwrap()
        .iter()
        .find(|s| p11.get_token_info(**s).unwrap().label() == "unit")
        .unwrap();
    let session = p11.open_rw_session(slot).unwrap();
    session.login(UserType::So, Some(&AuthPin::from(SO_PIN))).unwrap();
    session.init_pin(&AuthPin::from(PIN)).unwrap();
    drop(session);
    p11.finalize().unwrap();
    Some(Softhsm { module, _dir: TempDir(dir) })
}

fn ctx(key_ref: &str) -> CallContext {
    CallContext::new(key_ref)
}

fn digest_opts(digest: &[u8], hash: HashFunc) -> MessageOptions {
    MessageOptions { digest: Some(Some(digest.to_vec())), hash_func: Some(hash) }
}

/// The key references of the test, for the module at `lib`.
struct Refs {
    lib: String,
}

impl Refs {
    fn with_pin(&self, object: &str) -> String {
        format!("token=unit;object={object}?module-path={}&pin-value={PIN}", self.lib)
    }

    fn no_pin(&self, object: &str) -> String {
        format!("pkcs11:token=unit;object={object}?module-path={}", self.lib)
    }
}

#[test]
fn softhsm_end_to_end() {
    let Some(hsm) = softhsm() else { return };
    let refs = Refs { lib: hsm.module.display().to_string() };
    let kms = Pkcs11Kms::with_environment(Environment::default());
    every_algorithm(&kms, &refs);
    errors(&kms, &refs);
    twins(&kms, &refs, &hsm);
    listing(&kms, &hsm);
    threads(kms, &refs);
}

/// createKey for every algorithm, idempotent; publicKey (without a PIN) answers the same key;
/// signatures verify locally, on the token, and with the public key outside the plugin.
fn every_algorithm(kms: &Pkcs11Kms, refs: &Refs) {
    let none = MessageOptions::default();
    for (alg, kind) in ALGORITHMS {
        if matches!(kind, KeyKind::Rsa(3072 | 4096)) {
            continue; // slow to generate, same code as 2048
        }
        let key = refs.with_pin(alg);
        let pem = kms.create_key(&ctx(&key), alg).unwrap();
        assert_eq!(kms.create_key(&ctx(&key), alg).unwrap(), pem, "{alg}: createKey made a second key");
        assert_eq!(kms.public_key(&ctx(&refs.no_pin(alg))).unwrap(), pem, "{alg}");
        let public = PublicKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(public.describe(), alg);
        let sig = kms.sign_message(&ctx(&key), &mut &b"unit message"[..], &none).unwrap();
        let choice = call::hash_choice(&ctx(&key), &none, kind.default_hash());
        public.verify(&sig, Input::Message(&mut &b"unit message"[..]), choice).unwrap();
        kms.verify_signature(&ctx(&refs.no_pin(alg)), &sig, &mut &b"unit message"[..], &none).unwrap();
        let mut remote = ctx(&key);
        remote.remote_verification = true;
        kms.verify_signature(&remote, &sig, &mut &b"unit message"[..], &none).unwrap();
        let err = kms.verify_signature(&remote, &sig, &mut &b"unit messagE"[..], &none).unwrap_err().to_string();
        assert!(err.contains("invalid signature"), "{alg}: {err}");
        let err = kms.verify_signature(&ctx(&key), &sig, &mut &b"unit messagE"[..], &none).unwrap_err().to_string();
        assert!(err.contains("invalid signature"), "{alg}: {err}");
        // A digest the host made, signed as is.
        let d = sigstore_kms_provider_kit::hash::digest_reader(HashFunc::Sha256, &mut &b"unit message"[..]).unwrap();
        let dsig = kms.sign_message(&ctx(&key), &mut &b""[..], &digest_opts(&d, HashFunc::Sha256)).unwrap();
        public
            .verify(&dsig, Input::Digest(&d), sigstore_kms_provider_kit::HashChoice::explicit(HashFunc::Sha256))
            .unwrap();
    }
    // A SHA-384 digest for a P-256 key, named by hashFunc: signed as is.
    let d384 = sigstore_kms_provider_kit::hash::digest_reader(HashFunc::Sha384, &mut &b"m"[..]).unwrap();
    let opts = digest_opts(&d384, HashFunc::Sha384);
    let sig = kms.sign_message(&ctx(&refs.with_pin("ecdsa-p256")), &mut &b""[..], &opts).unwrap();
    kms.verify_signature(&ctx(&refs.no_pin("ecdsa-p256")), &sig, &mut &b""[..], &opts).unwrap();
}

/// Errors: each says what is wrong, none shows the PIN.
fn errors(kms: &Pkcs11Kms, refs: &Refs) {
    let lib = &refs.lib;
    let cases: Vec<(String, &str)> = vec![
        (
            format!("token=unit;object=ecdsa-p256?module-path={lib}&pin-value=wrong-PIN-1234"),
            "wrong PIN for token \"unit\"",
        ),
        (refs.no_pin("ecdsa-p256"), "needs the user PIN"),
        (refs.with_pin("no-such-key"), "no private key object \"no-such-key\""),
        (format!("token=nope;object=k?module-path={lib}&pin-value={PIN}"), "no token matches token=\"nope\""),
        (format!("token=unit;object=k?module-path=/no/such/module.so&pin-value={PIN}"), "/no/such/module.so"),
        (format!("token=unit;object=k?module-path=/etc/passwd&pin-value={PIN}"), "cannot load the PKCS#11 module"),
        (format!("token=unit;object=k;type=cert?module-path={lib}&pin-value={PIN}"), "type=cert"),
        (format!("token=unit?module-path={lib}&pin-value={PIN}"), "private keys match any object"),
    ];
    for (key, want) in &cases {
        let err = kms.sign_message(&ctx(key), &mut &b"x"[..], &MessageOptions::default()).unwrap_err().to_string();
        assert!(err.contains(want), "{}: {err}", sigstore_kms_plugins::redact_key_uri(key));
        assert!(!err.contains(PIN) && !err.contains("wrong-PIN-1234"), "the error shows the PIN: {err}");
    }
    let err =
        kms.create_key(&ctx(&format!("token=unit?module-path={lib}&pin-value={PIN}")), "").unwrap_err().to_string();
    assert!(err.contains("needs the new key's name"), "{err}");
    let err = kms.create_key(&ctx(&refs.with_pin("k")), "ed448").unwrap_err().to_string();
    assert!(err.contains("unsupported algorithm \"ed448\""), "{err}");
    // publicKey without a PIN cannot see a private-only name, and says why.
    let err = kms.public_key(&ctx(&refs.no_pin("no-such-key"))).unwrap_err().to_string();
    assert!(err.contains("no PIN was given"), "{err}");
}

/// Two keys with one label: ambiguous without id, each reachable with its id.
fn twins(kms: &Pkcs11Kms, refs: &Refs, hsm: &Softhsm) {
    let module = Module::open(&hsm.module).unwrap();
    let t = module.select_token(&Pkcs11Uri::parse("token=unit").unwrap()).unwrap();
    let pin = Pin { secret: Secret::new(PIN), source: "test".into() };
    let opened = module.session(&t, true, Some(&pin), Login::Required).unwrap();
    for id in ["%aa", "%bb"] {
        let uri = Pkcs11Uri::parse(&format!("object=twin;id={id}")).unwrap();
        token::generate(&opened.session, &t, &uri, KeyKind::Ec(Curve::P256)).unwrap();
    }
    drop(opened);
    drop(module);
    let err = kms.sign_message(&ctx(&refs.with_pin("twin")), &mut &b"x"[..], &MessageOptions::default()).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("2 private keys match object \"twin\"") && err.contains("add id="), "{err}");
    let a = kms.public_key(&ctx(&format!("token=unit;object=twin;id=%aa?module-path={}", refs.lib))).unwrap();
    let b = kms.public_key(&ctx(&format!("token=unit;object=twin;id=%bb?module-path={}", refs.lib))).unwrap();
    assert_ne!(a, b);
}

/// Listing: every key, URIs that work and hold no PIN.
fn listing(kms: &Pkcs11Kms, hsm: &Softhsm) {
    let pin = Pin { secret: Secret::new(PIN), source: "test".into() };
    let tokens = list_tokens(&hsm.module).unwrap();
    let unit = tokens.iter().find(|t| t.label == "unit").unwrap();
    assert!(unit.initialized && unit.login_required && unit.uri.starts_with("pkcs11:token=unit?module-path="));
    let (_, keys) = list_keys(&Pkcs11Uri::parse("token=unit").unwrap(), &hsm.module, Some(&pin)).unwrap();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for k in &keys {
        assert!(k.private && k.public, "{k:?}");
        let uri = k.uri.as_deref().unwrap();
        assert!(!uri.contains(PIN) && !uri.contains("pin-"), "{uri}");
        let pem = kms.public_key(&ctx(uri.strip_prefix("pkcs11:").unwrap())).unwrap();
        assert_eq!(PublicKey::from_pem(pem.as_bytes()).unwrap().describe(), *k.algorithm.as_ref().unwrap());
    }
    let (_, public_only) = list_keys(&Pkcs11Uri::parse("token=unit").unwrap(), &hsm.module, None).unwrap();
    assert!(public_only.iter().all(|k| !k.private && k.public) && public_only.len() == 6, "{public_only:?}");
}

/// Threads of one process share the module (one C_Initialize), each with its own session.
fn threads(kms: Pkcs11Kms, refs: &Refs) {
    let kms = Arc::new(kms);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (kms, key) = (Arc::clone(&kms), refs.with_pin("ecdsa-p384"));
            std::thread::spawn(move || {
                let msg = format!("message {i}");
                let sig = kms.sign_message(&ctx(&key), &mut msg.as_bytes(), &MessageOptions::default()).unwrap();
                kms.verify_signature(&ctx(&key), &sig, &mut msg.as_bytes(), &MessageOptions::default()).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
