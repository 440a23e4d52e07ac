"""sigstore_kms_plugins.securesystemslib with the real securesystemslib, python-tuf and in-toto
packages (installed by python/scripts/test.sh): localkms keys (P-256, P-384, RSA, Ed25519) and
in-process providers signing with `cryptography` (RSA-PSS, P-521, a key that does not match)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

pytest.importorskip("securesystemslib", reason="securesystemslib 1.x needs Python >= 3.10")
pytest.importorskip("tuf", reason="python-tuf needs Python >= 3.10")
pytest.importorskip("in_toto", reason="in-toto with securesystemslib 1.x needs Python >= 3.10")

from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from securesystemslib.exceptions import KeyMismatchError, UnverifiedSignatureError  # noqa: E402
from securesystemslib.signer import SIGNER_FOR_URI_SCHEME, AWSSigner, Signer, SSlibKey  # noqa: E402

import sigstore_kms_plugins as skp  # noqa: E402
from conftest import LOCALKMS_PATH, CryptoKms  # noqa: E402
from sigstore_kms_plugins.securesystemslib import (  # noqa: E402
    PluginKeyMismatchError,
    PluginSignatureError,
    PluginSigner,
    register,
    unregister,
)

EXPECTED = {
    "ecdsa-p256": ("ecdsa", "ecdsa-sha2-nistp256"),
    "ecdsa-p384": ("ecdsa", "ecdsa-sha2-nistp384"),
    "rsa-2048": ("rsa", "rsa-pkcs1v15-sha256"),  # localkms signs PKCS#1 v1.5
    "ed25519": ("ed25519", "ed25519"),
}


@pytest.fixture(scope="module")
def localkms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Tuple[str, SSlibKey]]]:
    """A key per algorithm, imported; `localkms` registered with the bundled plugin's path."""
    register("localkms", path=LOCALKMS_PATH, stderr="capture")
    out = {}
    for alg in EXPECTED:
        uri = f"localkms://{tmp_path_factory.mktemp(alg) / 'key.pem'}"
        skp.get_signer_verifier(uri, path=LOCALKMS_PATH).create_key(alg)
        out[alg] = PluginSigner.import_(uri, path=LOCALKMS_PATH)
    yield out
    unregister("localkms")


@pytest.mark.parametrize("alg", list(EXPECTED))
def test_import_and_sign_with_securesystemslib(localkms: Dict[str, Tuple[str, SSlibKey]], alg: str) -> None:
    uri, key = localkms[alg]
    assert (key.keytype, key.scheme) == EXPECTED[alg]
    public = key.keyval["public"]
    if alg == "ed25519":
        assert len(bytes.fromhex(public)) == 32
    else:
        assert public.startswith("-----BEGIN PUBLIC KEY-----")
    # The key id securesystemslib computes for the same key.
    assert key == SSlibKey.from_crypto(key._crypto_key(), scheme=key.scheme)
    assert SSlibKey.from_dict(key.keyid, key.to_dict()) == key

    signer = Signer.from_priv_key_uri(uri, key)
    assert isinstance(signer, PluginSigner) and signer.public_key == key
    payload = b"a payload signed through a Sigstore KMS plugin"
    signature = signer.sign(payload)
    assert signature.keyid == key.keyid
    key.verify_signature(signature, payload)
    with pytest.raises(UnverifiedSignatureError):
        key.verify_signature(signature, payload + b"!")


def test_a_key_uri_holding_another_key_is_refused(localkms: Dict[str, Tuple[str, SSlibKey]]) -> None:
    uri, _ = localkms["ecdsa-p256"]
    _, other = localkms["ecdsa-p384"]
    with pytest.raises(PluginKeyMismatchError):
        Signer.from_priv_key_uri(uri, other)  # a P-384 key for a P-256 URI
    inconsistent = SSlibKey("id", "ecdsa", "ecdsa-sha2-nistp256", dict(other.keyval))
    with pytest.raises(ValueError, match="does not fit"):
        Signer.from_priv_key_uri(uri, inconsistent)  # refused before any plugin call
    other_uri = f"{uri}.other"
    skp.get_signer_verifier(other_uri, path=LOCALKMS_PATH).create_key("ecdsa-p256")
    _, other_p256 = PluginSigner.import_(other_uri, path=LOCALKMS_PATH)
    with pytest.raises(PluginKeyMismatchError) as e:
        Signer.from_priv_key_uri(uri, other_p256)
    assert isinstance(e.value, KeyMismatchError) and isinstance(e.value, skp.KmsPluginError)
    with pytest.raises(ValueError, match="SSlibKey"):
        PluginSigner.from_priv_key_uri(uri, object())  # type: ignore[arg-type]


def test_register_refuses_builtin_schemes_unless_asked() -> None:
    assert SIGNER_FOR_URI_SCHEME["awskms"] is AWSSigner
    with pytest.raises(ValueError, match="built-in securesystemslib signer scheme"):
        register("awskms")
    assert SIGNER_FOR_URI_SCHEME["awskms"] is AWSSigner
    register("awskms", replace=True)
    try:
        assert SIGNER_FOR_URI_SCHEME["awskms"] is PluginSigner
    finally:
        unregister("awskms")
    assert SIGNER_FOR_URI_SCHEME["awskms"] is AWSSigner, "the built-in signer is put back"
    for bad in ("", "a:b", "a/b", "a b"):
        with pytest.raises(ValueError):
            register(bad)
    with pytest.raises(ValueError):
        register()


def test_rsa_scheme_as_the_key_signs(localkms: Dict[str, Tuple[str, SSlibKey]]) -> None:
    uri, _ = localkms["rsa-2048"]
    # localkms signs PKCS#1 v1.5: PSS is refused, another hash of v1.5 works.
    with pytest.raises(PluginSignatureError, match="rsa-pkcs1v15-sha256"):
        PluginSigner.import_(uri, "rsassa-pss-sha256", path=LOCALKMS_PATH)
    _, key384 = PluginSigner.import_(uri, "rsa-pkcs1v15-sha384", path=LOCALKMS_PATH)
    signature = Signer.from_priv_key_uri(uri, key384).sign(b"x")
    key384.verify_signature(signature, b"x")
    with pytest.raises(ValueError, match="does not fit an RSA key"):
        PluginSigner.import_(uri, "ecdsa-sha2-nistp256", path=LOCALKMS_PATH)


@pytest.fixture
def provider() -> Iterator[Any]:
    names = []

    def add(name: str, handler: skp.Handler) -> str:
        skp.register_provider(name, lambda ref: handler)
        register(name)
        names.append(name)
        return f"{name}://key"

    yield add
    for n in names:
        skp.unregister_provider(n)
        unregister(n)


def test_rsa_pss_and_p521_keys(provider: Any) -> None:
    uri = provider("sslpss", CryptoKms(rsa.generate_private_key(65537, 2048)))
    _, key = PluginSigner.import_(uri)
    assert key.scheme == "rsassa-pss-sha256"
    key.verify_signature(Signer.from_priv_key_uri(uri, key).sign(b"pss"), b"pss")
    uri = provider("sslp521", CryptoKms(ec.generate_private_key(ec.SECP521R1())))
    _, key = PluginSigner.import_(uri)
    assert (key.keytype, key.scheme) == ("ecdsa", "ecdsa-sha2-nistp521")
    key.verify_signature(Signer.from_priv_key_uri(uri, key).sign(b"p521"), b"p521")


def test_a_signature_by_another_key_is_not_returned(provider: Any) -> None:
    advertised = ec.generate_private_key(ec.SECP256R1())
    uri = provider("sslliar", CryptoKms(advertised, signing_key=ec.generate_private_key(ec.SECP256R1())))
    _, key = PluginSigner.import_(uri)
    with pytest.raises(PluginSignatureError) as e:
        Signer.from_priv_key_uri(uri, key).sign(b"x")
    assert isinstance(e.value, UnverifiedSignatureError) and isinstance(e.value, skp.KmsPluginError)


@pytest.mark.parametrize("alg", list(EXPECTED))
def test_python_tuf_root_signed_and_verified(localkms: Dict[str, Tuple[str, SSlibKey]], alg: str) -> None:
    from tuf.api.exceptions import UnsignedMetadataError
    from tuf.api.metadata import Metadata, Root

    uri, key = localkms[alg]
    root = Metadata(Root(expires=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)))
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.signed.add_key(key, role)
    root.sign(Signer.from_priv_key_uri(uri, key))
    # Through the JSON a repository stores, as a client reads it.
    loaded = Metadata[Root].from_bytes(root.to_bytes())
    loaded.signed.verify_delegate(Root.type, loaded.signed_bytes, loaded.signatures)
    loaded.signed.version += 1
    with pytest.raises(UnsignedMetadataError):
        loaded.signed.verify_delegate(Root.type, loaded.signed_bytes, loaded.signatures)


@pytest.mark.parametrize("alg", list(EXPECTED))
def test_in_toto_link_signed_and_verified(
    localkms: Dict[str, Tuple[str, SSlibKey]], alg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from in_toto.exceptions import SignatureVerificationError
    from in_toto.models.metadata import Envelope, Metablock, Metadata
    from in_toto.runlib import in_toto_run

    uri, key = localkms[alg]
    signer = Signer.from_priv_key_uri(uri, key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.tar.gz").write_bytes(b"built")
    verification_key = dict(key.to_dict(), keyid=key.keyid)
    for use_dsse in (False, True):
        link = in_toto_run("build", [], ["app.tar.gz"], [], signer=signer, use_dsse=use_dsse)
        assert isinstance(link, Envelope if use_dsse else Metablock)
        link.verify_signature(verification_key)
        assert "app.tar.gz" in link.get_payload().products
        link.dump(str(tmp_path / "build.link"))
        loaded = Metadata.load(str(tmp_path / "build.link"))
        loaded.verify_signature(verification_key)
    tampered = in_toto_run("build", [], ["app.tar.gz"], [], signer=signer)
    tampered.signed.products["app.tar.gz"] = {"sha256": "00" * 32}
    with pytest.raises(SignatureVerificationError):
        tampered.verify_signature(verification_key)
