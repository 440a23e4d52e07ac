"""The bundled `sigstore-kms-localkms` plugin and `sigstore-kms` CLI, installed as console
scripts by the package: one `pip install` gives a working key backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

import sigstore_kms_plugins as skp
from conftest import LOCALKMS_PATH, SYSTEM_PATH, VENV_BIN

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


# The bundled plugin is found after PATH, in the directory pip put the package's programs in:
# no activated venv and no PATH entry needed.


def test_plugin_dirs_are_where_pip_put_the_programs() -> None:
    dirs = skp.plugin_dirs()
    assert dirs and all(d.is_absolute() for d in dirs)
    assert dirs[0] == VENV_BIN
    assert skp.plugin_dirs() == dirs


def test_bundled_plugin_is_found_without_path(tmp_path: Path) -> None:
    sv = skp.get_signer_verifier(f"localkms://{tmp_path / 'k.pem'}", path=SYSTEM_PATH)
    assert sv.program_path == VENV_BIN / "sigstore-kms-localkms"
    sv.create_key("ecdsa-p256")
    sv.verify_signature(sv.sign_message(b"m"), b"m")
    # With an empty search path too: the plugin directories are still searched.
    assert skp.get_signer_verifier(f"localkms://{tmp_path / 'k.pem'}", path="").program_path == sv.program_path


def test_a_program_on_path_shadows_the_bundled_one(tmp_path: Path) -> None:
    mine = tmp_path / "sigstore-kms-localkms"
    mine.symlink_to(VENV_BIN / "sigstore-kms-localkms")
    sv = skp.get_signer_verifier(f"localkms://{tmp_path / 'k.pem'}", path=[tmp_path, *SYSTEM_PATH.split(":")])
    assert sv.program_path == mine
    listed = [p for p in skp.list_plugins([tmp_path]) if p.name == "localkms"]
    assert [(p.path, p.source, p.usable, p.shadowed_by) for p in listed] == [
        (mine, "path", True, None),
        (VENV_BIN / "sigstore-kms-localkms", "bundled", False, mine),
    ]


def test_unactivated_venv_finds_the_bundled_plugin(tmp_path: Path) -> None:
    """A script run with the venv's python by its path, PATH without the venv's bin."""
    script = tmp_path / "app.py"
    script.write_text(
        "import sys\n"
        "from sigstore_kms_plugins import get_signer_verifier, list_plugins\n"
        "sv = get_signer_verifier('localkms://' + sys.argv[1])\n"
        "sv.create_key('ecdsa-p256')\n"
        "sv.verify_signature(sv.sign_message(b'hello'), b'hello')\n"
        "print(sv.program_path)\n"
        "print([(p.name, p.source) for p in list_plugins() if p.name == 'localkms'])\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "k.pem")], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(VENV_BIN / "sigstore-kms-localkms"), "[('localkms', 'bundled')]"]


def test_cli_console_script_finds_the_bundled_plugin_without_path(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    key = f"localkms://{tmp_path / 'k.pem'}"
    cli = str(VENV_BIN / "sigstore-kms")
    pem = subprocess.run([cli, "generate-key", "--key", key], env=env, capture_output=True, text=True)
    assert pem.returncode == 0 and "BEGIN PUBLIC KEY" in pem.stdout, pem.stderr
    listed = subprocess.run([cli, "list"], env=env, capture_output=True, text=True, check=True).stdout
    assert any(line.split()[:2] == ["localkms", "bundled"] for line in listed.splitlines()), listed


# The PKCS#11 plugin is a base provider (packaging/providers.json): the extension module links
# it anyway (the CLI's `pkcs11` commands), so the base install carries its console script, and
# `pkcs11:` key URIs work with no extra and no PATH change.


def test_bundled_pkcs11_plugin_answers_without_path(tmp_path: Path) -> None:
    assert os.access(VENV_BIN / "sigstore-kms-pkcs11", os.X_OK)
    env = {k: v for k, v in os.environ.items() if "PKCS11" not in k}
    script = tmp_path / "p11.py"
    script.write_text(
        "import sigstore_kms_plugins as skp\n"
        "sv = skp.get_signer_verifier('pkcs11:token=ci;object=release')\n"
        "print(sv.program_path)\n"
        "print(sv.default_algorithm(), 'ecdsa-p256' in sv.supported_algorithms())\n"
        "try:\n"
        "    sv.public_key()\n"
        "except skp.PluginReturnedError as e:\n"
        "    print('error:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], env={**env, "PATH": "/usr/bin:/bin"}, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == str(VENV_BIN / "sigstore-kms-pkcs11")
    assert lines[1] == "ecdsa-p256 True"
    # The program's own answer: no module was named (nothing is loaded without one).
    assert lines[2].startswith("error:") and "no PKCS#11 module" in lines[2], lines[2]
    listed = {(p.name, p.source) for p in skp.list_plugins(SYSTEM_PATH)}
    assert {("localkms", "bundled"), ("pkcs11", "bundled")} <= listed
