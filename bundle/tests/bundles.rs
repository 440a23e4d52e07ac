//! Bundles signed through the bundled localkms plugin's handler (served in process, so that the
//! calls can be counted), for every key type, and verified; and every way verification fails.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sigstore_kms_bundle::{
    in_toto_statement, verify, verify_dsse, verify_dsse_artifact, verify_message, Artifact, Bundle, BundleSigner,
    DigestAlgorithm, ErrorKind, KeyKind, KeyMaterial, Subject, VerificationKey, IN_TOTO_PAYLOAD_TYPE,
};
use sigstore_kms_localkms::{Algorithm, LocalKms};
use sigstore_kms_plugins::{
    get_signer_verifier, register_provider, CallContext, HandlerError, KmsHandler, MessageOptions, Options,
};

/// localkms, counting the calls, optionally signing with another key than it advertises.
struct Counting {
    inner: LocalKms,
    public_keys: Arc<AtomicUsize>,
    signs: Arc<AtomicUsize>,
    sign_with: Option<String>,
}

impl KmsHandler for Counting {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        self.inner.default_algorithm(ctx)
    }
    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        self.inner.supported_algorithms(ctx)
    }
    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        self.inner.create_key(ctx, algorithm)
    }
    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        self.public_keys.fetch_add(1, Ordering::SeqCst);
        self.inner.public_key(ctx)
    }
    fn sign_message(&self, ctx: &CallContext, m: &mut dyn Read, o: &MessageOptions) -> Result<Vec<u8>, HandlerError> {
        self.signs.fetch_add(1, Ordering::SeqCst);
        match &self.sign_with {
            Some(other) => {
                let mut ctx = ctx.clone();
                ctx.key_resource_id.clone_from(other);
                self.inner.sign_message(&ctx, m, o)
            }
            None => self.inner.sign_message(ctx, m, o),
        }
    }
    fn verify_signature(
        &self,
        ctx: &CallContext,
        s: &[u8],
        m: &mut dyn Read,
        o: &MessageOptions,
    ) -> Result<(), HandlerError> {
        self.inner.verify_signature(ctx, s, m, o)
    }
}

struct Setup {
    signer: BundleSigner,
    key: VerificationKey,
    public_keys: Arc<AtomicUsize>,
    signs: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

fn setup(prefix: &str, algorithm: Algorithm, sign_with: Option<Algorithm>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    let private = LocalKms::create_key_file(&key_file, algorithm).unwrap();
    let other = sign_with.map(|a| {
        let f = dir.path().join("other.pem");
        LocalKms::create_key_file(&f, a).unwrap();
        f.display().to_string()
    });
    let (public_keys, signs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (p, s) = (Arc::clone(&public_keys), Arc::clone(&signs));
    register_provider(
        prefix,
        Arc::new(move |_| {
            Ok(Arc::new(Counting {
                inner: LocalKms::new(),
                public_keys: Arc::clone(&p),
                signs: Arc::clone(&s),
                sign_with: other.clone(),
            }) as Arc<dyn KmsHandler>)
        }),
    )
    .unwrap();
    let sv = get_signer_verifier(&format!("{prefix}://{}", key_file.display()), Options::default()).unwrap();
    let key = VerificationKey::from_pem(private.public_key().to_pem().unwrap().as_bytes()).unwrap();
    Setup { signer: BundleSigner::new(sv), key, public_keys, signs, _dir: dir }
}

const ARTIFACT: &[u8] = b"an artifact signed through a Sigstore KMS plugin\n";

fn roundtrip(bundle: &Bundle) -> Bundle {
    Bundle::from_json(bundle.to_json().as_bytes()).unwrap()
}

#[test]
fn every_key_type_signs_message_and_dsse_bundles() {
    let cases = [
        (Algorithm::EcdsaP256, KeyKind::EcdsaP256, DigestAlgorithm::Sha2_256),
        (Algorithm::EcdsaP384, KeyKind::EcdsaP384, DigestAlgorithm::Sha2_384),
        (Algorithm::Rsa2048, KeyKind::Rsa { bits: 2048 }, DigestAlgorithm::Sha2_256),
        (Algorithm::Ed25519, KeyKind::Ed25519, DigestAlgorithm::Sha2_512),
    ];
    for (i, (algorithm, kind, digest_algorithm)) in cases.into_iter().enumerate() {
        let s = setup(&format!("bkeys{i}"), algorithm, None);
        assert_eq!(s.key.kind(), kind);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("artifact.bin");
        std::fs::write(&file, ARTIFACT).unwrap();

        let from_bytes = s.signer.sign_artifact_blocking(Artifact::Bytes(ARTIFACT)).unwrap();
        let from_path = s.signer.sign_artifact_blocking(Artifact::Path(&file)).unwrap();
        let mut reader: &[u8] = ARTIFACT;
        let from_reader = s.signer.sign_artifact_blocking(Artifact::Reader(&mut reader)).unwrap();
        for bundle in [&from_bytes, &from_path, &from_reader] {
            let b = roundtrip(bundle);
            assert_eq!(b.media_type, "application/vnd.dev.sigstore.bundle.v0.3+json");
            assert_eq!(b.key_hint(), Some(s.key.hint().as_str()));
            let digest = b.message_signature().unwrap().message_digest.clone().unwrap();
            assert_eq!(digest.algorithm, digest_algorithm, "{algorithm}");
            let v = verify_message(&b, &s.key, &mut &ARTIFACT[..]).unwrap();
            assert_eq!(v.digest, Some(digest));
            assert_eq!(v.tlog_entries_not_verified, 0);
        }

        let statement = in_toto_statement(
            &[Subject::of_reader("artifact.bin", &mut &ARTIFACT[..], DigestAlgorithm::Sha2_256).unwrap()],
            "https://example.com/predicate/v1",
            &serde_json::json!({"ok": true}),
        );
        let dsse = roundtrip(&s.signer.sign_dsse_blocking(IN_TOTO_PAYLOAD_TYPE, &statement).unwrap());
        let env = dsse.dsse_envelope().unwrap();
        assert_eq!(env.signatures[0].keyid, "", "no keyid, as cosign writes it (cosign refuses another one)");
        let v = verify_dsse(&dsse, &s.key).unwrap();
        assert_eq!(v.payload.as_deref(), Some(statement.as_slice()));
        assert_eq!(v.payload_type.as_deref(), Some(IN_TOTO_PAYLOAD_TYPE));
        let v = verify_dsse_artifact(&dsse, &s.key, &mut &ARTIFACT[..]).unwrap();
        assert_eq!(v.subject.as_deref(), Some("artifact.bin"));
        let err = verify_dsse_artifact(&dsse, &s.key, &mut &b"other"[..]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SubjectMismatch, "{err}");
        assert_eq!(verify(&dsse, &s.key, None).unwrap().subject, None);
    }
}

#[test]
fn the_public_key_is_fetched_once() {
    let s = setup("bonce", Algorithm::EcdsaP256, None);
    for _ in 0..3 {
        s.signer.sign_artifact_blocking(Artifact::Bytes(ARTIFACT)).unwrap();
    }
    s.signer.sign_dsse_blocking("text/plain", b"x").unwrap();
    assert_eq!(s.public_keys.load(Ordering::SeqCst), 1);
    assert_eq!(s.signs.load(Ordering::SeqCst), 4, "one plugin call per bundle");
}

#[test]
fn a_plugin_signing_with_another_key_makes_no_bundle() {
    for (i, algorithm) in [Algorithm::EcdsaP256, Algorithm::Ed25519].into_iter().enumerate() {
        let s = setup(&format!("bliar{i}"), algorithm, Some(algorithm));
        let err = s.signer.sign_artifact_blocking(Artifact::Bytes(ARTIFACT)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadSignature);
        assert!(err.to_string().contains("no bundle was made"), "{err}");
        let err = s.signer.sign_dsse_blocking("text/plain", b"x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadSignature);
    }
}

#[test]
fn verification_failures_say_why() {
    let s = setup("bfail", Algorithm::EcdsaP256, None);
    let bundle = s.signer.sign_artifact_blocking(Artifact::Bytes(ARTIFACT)).unwrap();
    let json = bundle.to_json();

    // A tampered artifact.
    let err = verify_message(&bundle, &s.key, &mut &b"tampered"[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
    assert!(err.to_string().contains("not the artifact that was signed"), "{err}");

    // Another key (whose hint is not the bundle's).
    let other = setup("bfail2", Algorithm::EcdsaP256, None);
    let err = verify_message(&bundle, &other.key, &mut &ARTIFACT[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HintMismatch, "{err}");

    // Another key, the hint removed: the signature itself fails.
    let mut unhinted = bundle.clone();
    unhinted.key_material = KeyMaterial::PublicKey { hint: String::new() };
    assert!(verify_message(&unhinted, &s.key, &mut &ARTIFACT[..]).unwrap().digest.is_some());
    let err = verify_message(&unhinted, &other.key, &mut &ARTIFACT[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadSignature, "{err}");

    // A wrong hint with the right key.
    let wrong = Bundle::from_json(json.replace(&s.key.hint(), "AAAA").as_bytes()).unwrap();
    assert_eq!(verify_message(&wrong, &s.key, &mut &ARTIFACT[..]).unwrap_err().kind(), ErrorKind::HintMismatch);

    // A digest that was changed along with the artifact: the signature fails.
    let mut forged = bundle.clone();
    if let sigstore_kms_bundle::Content::MessageSignature(m) = &mut forged.content {
        m.message_digest.as_mut().unwrap().digest = sha256(b"tampered");
    }
    let err = verify_message(&forged, &s.key, &mut &b"tampered"[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadSignature, "{err}");

    // Malformed JSON, and the wrong kind of content.
    assert_eq!(Bundle::from_json(&json.as_bytes()[..json.len() - 1]).unwrap_err().kind(), ErrorKind::Malformed);
    assert_eq!(verify_dsse(&bundle, &s.key).unwrap_err().kind(), ErrorKind::WrongContent);
    assert_eq!(verify(&bundle, &s.key, None).unwrap_err().kind(), ErrorKind::WrongContent);

    // A digest algorithm that is not SHA-2.
    let sha3 = Bundle::from_json(json.replace("SHA2_256", "SHA3_256").as_bytes()).unwrap();
    assert_eq!(verify_message(&sha3, &s.key, &mut &ARTIFACT[..]).unwrap_err().kind(), ErrorKind::Unsupported);

    // Keys that cannot be used.
    assert_eq!(VerificationKey::from_pem(b"not a key").unwrap_err().kind(), ErrorKind::InvalidKey);
    let p521 = "-----BEGIN PUBLIC KEY-----\nMIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAn3ofxqod9AoGySkpjDnqShJ+m3G0\nY/8HGye6inZrNQ57TQyy0E5BtjIJJnW48al6bVE+cNg6hSwhjKWLsUqTjFUB1vyx\nz4CHKZkBV28u5218z4yNLLrVBrt5LFab+fY5TjhGjgCX227Vxp5NecXBAe8mla0/\nTfrkiPrHmDf8XKGoL6o=\n-----END PUBLIC KEY-----\n";
    let p521 = VerificationKey::from_pem(p521.as_bytes()).unwrap();
    assert_eq!((p521.kind(), p521.digest_algorithm()), (KeyKind::EcdsaP521, DigestAlgorithm::Sha2_512));
    assert_eq!(verify_message(&bundle, &p521, &mut &ARTIFACT[..]).unwrap_err().kind(), ErrorKind::HintMismatch);
    let x25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEAIpvu9Ivb1N0+JOQIFJcZ6aldSBtSMc8Z9WRZx2jQBns=\n-----END PUBLIC KEY-----\n";
    assert_eq!(VerificationKey::from_pem(x25519.as_bytes()).unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn keyless_bundles_are_refused_as_unsupported() {
    let s = setup("bkeyless", Algorithm::EcdsaP256, None);
    let mut bundle = s.signer.sign_artifact_blocking(Artifact::Bytes(ARTIFACT)).unwrap();
    bundle.key_material = KeyMaterial::Certificate(vec![0x30, 0x00]);
    let err = verify_message(&roundtrip(&bundle), &s.key, &mut &ARTIFACT[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("keyless"), "{err}");
}

#[test]
fn unreadable_artifacts_are_io_errors() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let s = setup("bio", Algorithm::Ed25519, None);
    let bundle = s.signer.sign_artifact_blocking(Artifact::Bytes(ARTIFACT)).unwrap();
    let err = verify_message(&bundle, &s.key, &mut Failing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("disk on fire"));
    let err = s.signer.sign_artifact_blocking(Artifact::Path(Path::new("/nonexistent/file"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).to_vec()
}
