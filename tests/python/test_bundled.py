"""The bundled `sigstore-kms-localkms` plugin and `sigstore-kms` CLI, installed as console
scripts by the package: one `pip install` gives a working key backend."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

import sigstore_kms_plugins as skp
from conftest import LOCALKMS_PATH, VENV_BIN

Api = Callable[..., Any]


def test_console_scripts_are_installed() -> None:
    for name in ("sigstore-kms", "sigstore-kms-localkms"):
        assert os.access(VENV_BIN / name, os.X_OK), name
    found = {p.name: p for p in skp.list_plugins(LOCALKMS_PATH)}
    assert found["localkms"].usable


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"])
def test_localkms_signs_verifiably(api: Api, tmp_path: Path, algorithm: str) -> None:
    sv = api(f"localkms://{tmp_path / 'key.pem'}", path=LOCALKMS_PATH)
    assert sv.default_algorithm() == "ecdsa-p256"
    assert algorithm in sv.supported_algorithms()
    pem = sv.create_key(algorithm)
    assert sv.public_key() == pem
    data = b"artifact\n" * 10_000
    (tmp_path / "artifact").write_bytes(data)
    signature = sv.sign_message(tmp_path / "artifact")
    sv.verify_signature(signature, data)
    with pytest.raises(skp.PluginReturnedError):
        sv.verify_signature(signature, data + b"!")
    key = sv.public_key_object()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_localkms_plugin_reads_raw_stdin(tmp_path: Path) -> None:
    """The console script serves one call on fds 0/1 with nothing else on stdout."""
    key = tmp_path / "k.pem"
    skp.get_signer_verifier(f"localkms://{key}", path=LOCALKMS_PATH).create_key("ecdsa-p256")
    req = (
        f'{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"{key}","hashFunc":5}},'
        '"methodName":"signMessage","signMessage":{"signOptions":{"messageOptions":{"digest":null}}}}'
    )
    out = subprocess.run(
        [str(VENV_BIN / "sigstore-kms-localkms"), "v1", req], input=b"x" * 3_000_000, capture_output=True, check=True
    )
    assert out.stdout.startswith(b'{"signMessage":{"signature":"') and out.stdout.endswith(b'"}}')
    assert out.stderr == b""


def test_cli_console_script(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=LOCALKMS_PATH)

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "sigstore-kms"), *args], env=env, capture_output=True, text=True, check=check)

    assert "Usage" in cli("--help").stdout
    assert "localkms" in cli("list").stdout
    key = f"localkms://{tmp_path / 'key.pem'}"
    pem = cli("generate-key", "--key", key).stdout
    assert pem == skp.get_signer_verifier(key, path=LOCALKMS_PATH).public_key().decode()
    assert cli("check", "--key", f"localkms://{tmp_path / 'check.pem'}").returncode == 0
    assert cli("no-such-command", check=False).returncode == 2
