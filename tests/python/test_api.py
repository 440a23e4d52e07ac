"""Argument handling, value types, discovery and the exception classes."""

from __future__ import annotations

import datetime
import hashlib
import pickle
from pathlib import Path

import pytest

import sigstore_kms_plugins as skp
from sigstore_kms_plugins import HashFunc
from conftest import FIXTURE_PATH, FIXTURES, SYSTEM_PATH


def test_version() -> None:
    assert skp.__version__ == skp._native.__version__
    assert skp.__version__.count(".") == 2


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("sha256", HashFunc.SHA256),
        ("SHA-256", HashFunc.SHA256),
        ("sha_384", HashFunc.SHA384),
        ("SHA3-256", HashFunc.SHA3_256),
        ("sha512/224", HashFunc.SHA512_224),
        ("none", HashFunc.NONE),
        (5, HashFunc.SHA256),
        (0, HashFunc.NONE),
        (19, HashFunc.BLAKE2B_512),
        (HashFunc.SHA512, HashFunc.SHA512),
    ],
)
def test_hash_funcs_parse(given: object, want: HashFunc) -> None:
    assert HashFunc.parse(given) is want  # type: ignore[arg-type]
    sv = skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, hash_func=given)  # type: ignore[arg-type]
    assert sv.hash_func is want


@pytest.mark.parametrize(("given", "error"), [("sha-1024", ValueError), (20, ValueError), (-1, ValueError), (True, TypeError), (5.0, TypeError)])
def test_bad_hash_funcs(given: object, error: type) -> None:
    with pytest.raises(error):
        HashFunc.parse(given)  # type: ignore[arg-type]
    with pytest.raises(error):
        skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, hash_func=given)  # type: ignore[arg-type]


def test_hash_func_properties() -> None:
    assert HashFunc.SHA256.go_name == "SHA-256"
    assert HashFunc.SHA256.canonical_name == "sha256"
    assert HashFunc.SHA384.digest_size == 48
    assert HashFunc.NONE.digest_size is None
    assert len(list(HashFunc)) == 20
    for h in (HashFunc.SHA1, HashFunc.SHA256, HashFunc.SHA3_512, HashFunc.SHA512_256, HashFunc.BLAKE2S_256, HashFunc.BLAKE2B_384):
        try:
            digest = h.new(b"abc").digest()
        except ValueError:
            continue  # this OpenSSL lacks it
        assert len(digest) == h.digest_size
    assert HashFunc.SHA256.new(b"abc").digest() == hashlib.sha256(b"abc").digest()
    with pytest.raises(ValueError):
        HashFunc.NONE.new()


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), datetime.timedelta(0)])
def test_bad_timeouts(timeout: object) -> None:
    with pytest.raises(ValueError):
        skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, timeout=timeout)  # type: ignore[arg-type]


def test_options() -> None:
    sv = skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, timeout=datetime.timedelta(seconds=90))
    assert sv.timeout == 90.0
    assert skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH).timeout == skp.DEFAULT_TIMEOUT
    assert "sigstore-kms-fixture" in repr(sv) and "AsyncSignerVerifier" in repr(sv.aio)
    assert sv.aio.sync.key_ref == sv.key_ref == "k"
    with pytest.raises(ValueError, match="stderr"):
        skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, stderr="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, stdout_limit=0)
    with pytest.raises(ValueError, match="contains ':'"):
        skp.get_signer_verifier("fixture://k", path=["/a:b"])
    # A list of directories, and path-like objects.
    assert skp.get_signer_verifier("fixture://k", path=[FIXTURES, Path("/usr/bin")]).program_path == FIXTURES / "sigstore-kms-fixture"
    assert skp.get_signer_verifier("fixture://k", path=FIXTURES).default_algorithm  # one directory


def test_path_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", FIXTURE_PATH)
    assert skp.get_signer_verifier("fixture://k").default_algorithm() == "ecdsa-p256"
    monkeypatch.setenv("PATH", "")
    with pytest.raises(skp.PluginNotFoundError, match="PATH is empty"):
        skp.get_signer_verifier("fixture://k")


def test_relative_path_entries_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    with pytest.raises(skp.PluginNotFoundError, match="relative PATH entry"):
        skp.get_signer_verifier("fixture://k", path=f".:{SYSTEM_PATH}")


def test_list_plugins(tmp_path: Path) -> None:
    shadow = tmp_path / "sigstore-kms-fixture"
    shadow.write_text("#!/bin/sh\n")
    shadow.chmod(0o755)
    found = skp.list_plugins([FIXTURES, tmp_path])
    by_name = {}
    for info in found:
        by_name.setdefault(info.name, []).append(info)
    assert [i.path for i in by_name["fixture"]] == [FIXTURES / "sigstore-kms-fixture", shadow]
    assert by_name["fixture"][0].usable and not by_name["fixture"][0].shadowed
    assert by_name["fixture"][1].shadowed and not by_name["fixture"][1].usable
    notexec = by_name["notexec"][0]
    assert not notexec.executable and not notexec.usable
    assert all(isinstance(i, skp.PluginInfo) for i in found)
    assert found[0] == skp.list_plugins([FIXTURES, tmp_path])[0]
    assert "PluginInfo(name=" in repr(found[0]) and 'source="path"' in repr(found[0])
    assert by_name["fixture"][0].source == "path" and by_name["fixture"][0].shadowed_by is None
    assert by_name["fixture"][1].shadowed_by == FIXTURES / "sigstore-kms-fixture"
    # Nothing on the search path: only the bundled programs, from the package's plugin dirs.
    bundled = skp.list_plugins([tmp_path / "missing"])
    assert bundled and all(i.source == "bundled" for i in bundled)
    assert all(i.path.parent in skp.plugin_dirs() for i in bundled)


def test_exceptions_pickle_and_construct() -> None:
    with pytest.raises(skp.PluginReturnedError) as info:
        skp.get_signer_verifier("errmsg://k", path=FIXTURE_PATH).default_algorithm()
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is skp.PluginReturnedError
    assert (str(copy), copy.kind, copy.message, copy.plugin, copy.program_path) == (
        str(info.value),
        "PluginReturned",
        "key not found: the KMS said no",
        "sigstore-kms-errmsg",
        FIXTURES / "sigstore-kms-errmsg",
    )
    mine = skp.PluginTimeoutError("took too long")
    assert mine.kind == "Timeout" and isinstance(mine, TimeoutError) and isinstance(mine, skp.KmsPluginError)
    assert issubclass(skp.InvalidKeyURIError, ValueError)
    for cls in (
        skp.InvalidKeyURIError,
        skp.PluginNotFoundError,
        skp.PluginExecutionError,
        skp.PluginTimeoutError,
        skp.PluginResponseError,
        skp.PluginReturnedError,
        skp.OutputTooLargeError,
    ):
        assert issubclass(cls, skp.KmsPluginError)


def test_public_key_helpers() -> None:
    from conftest import FIXTURE_PUB

    der, key_type = skp.keys.public_key_der(FIXTURE_PUB)
    assert key_type == "ecdsa-p256" and len(der) == 91
    assert skp.load_public_key(b"leading text\n" + FIXTURE_PUB).public_bytes  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        skp.load_public_key("not a pem")


def test_handler_protocol() -> None:
    assert isinstance(skp.Handler(), skp.KmsHandler)
    assert not isinstance(object(), skp.KmsHandler)
