"""The host API against the fixture plugins, well-behaved and misbehaving: the same expectations
as core/tests/host.rs. Every test runs twice, through the blocking and the asyncio API."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest

import sigstore_kms_plugins as skp
from conftest import FIXTURE_PUB, PatternReader, process_dead, sha256, wait_until

Api = Callable[..., Any]


def test_well_behaved_plugin(api: Api) -> None:
    sv = api("fixture://my-key")
    assert sv.program_path.is_absolute()
    assert sv.key_ref == "my-key"
    assert sv.hash_func is skp.HashFunc.SHA256
    assert sv.default_algorithm() == "ecdsa-p256"
    assert sv.supported_algorithms() == ["ecdsa-p256", "ed25519"]
    assert sv.public_key() == FIXTURE_PUB
    assert sv.create_key("ecdsa-p256") == FIXTURE_PUB
    sig = sv.sign_message(b"hello\n")
    assert sig == sha256(b"hello\n")
    assert sv.verify_signature(sig, b"hello\n") is None
    with pytest.raises(skp.PluginReturnedError) as info:
        sv.verify_signature(sig, b"tampered")
    assert info.value.kind == "PluginReturned"
    assert info.value.message == "invalid signature"
    assert info.value.method == "verifySignature"
    assert info.value.plugin == "sigstore-kms-fixture"
    assert info.value.program_path == sv.program_path
    # Go's CryptoSigner path: digest and hash function in the request, empty stdin.
    digest = sha256(b"abc")
    assert sv.sign_digest(digest) == b"digest:" + digest
    assert sv.sign_digest(digest, "SHA-256") == b"digest:" + digest
    assert sv.sign_digest(digest, 5) == b"digest:" + digest
    sv.verify_digest(b"digest:" + digest, digest)
    with pytest.raises(skp.PluginReturnedError):
        sv.verify_digest(b"digest:nope", digest)


def test_digest_length_is_checked(api: Api) -> None:
    sv = api("fixture://k")
    with pytest.raises(ValueError, match="SHA-256 digest is 32 bytes, got 3"):
        sv.sign_digest(b"abc")
    sha384 = b"\x01" * 48
    assert sv.sign_digest(sha384, skp.HashFunc.SHA384) == b"digest:" + sha384
    with pytest.raises(TypeError):
        sv.sign_digest("not bytes")


def test_environment_is_inherited(api: Api) -> None:
    assert api("fixture://env:HOME").default_algorithm() == os.environ["HOME"]


def test_large_message_streams_whole(api: Api) -> None:
    length = 64 * 1024 * 1024 + 7
    sig = api("fixture://stdin-count").sign_message(PatternReader(length))
    assert sig == str(length).encode()


def test_timeout_kills_a_hanging_plugin(api: Api) -> None:
    started = time.monotonic()
    with pytest.raises(skp.PluginTimeoutError) as info:
        api("hang://k", timeout=0.3).default_algorithm()
    assert time.monotonic() - started < 5
    assert isinstance(info.value, TimeoutError)
    assert info.value.kind == "Timeout"
    text = str(info.value)
    assert "sigstore-kms-hang" in text and "defaultAlgorithm" in text and "timed out" in text


def test_timeout_kills_the_whole_process_group(api: Api) -> None:
    with pytest.raises(skp.PluginTimeoutError) as info:
        api("hang-child://k", timeout=0.5).default_algorithm()
    tail = info.value.stderr_tail
    assert tail is not None and "grandchild=" in tail
    pid = int(next(line for line in tail.splitlines() if line.startswith("grandchild=")).split("=")[1])
    assert wait_until(lambda: process_dead(pid)), f"grandchild {pid} survived the timeout"
    assert "plugin stderr (last lines):\ngrandchild=" in str(info.value)


def test_timedelta_timeout(api: Api) -> None:
    import datetime

    with pytest.raises(skp.PluginTimeoutError):
        api("hang://k", timeout=datetime.timedelta(milliseconds=200)).default_algorithm()


def test_endless_stdout_is_capped(api: Api) -> None:
    with pytest.raises(skp.OutputTooLargeError) as info:
        api("endless://k", stdout_limit=1 << 20).default_algorithm()
    assert info.value.kind == "OutputTooLarge"
    assert "1048576" in str(info.value)


def test_huge_answer_exceeds_the_default_cap(api: Api) -> None:
    with pytest.raises(skp.OutputTooLargeError):
        api("huge-answer://k").default_algorithm()
    # ... and is accepted under a larger cap.
    assert api("huge-answer://k", stdout_limit=32 << 20).default_algorithm() == "a" * 20_971_520


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("garbage", "this is not json"),
        ("logline", "starting plugin"),
        ("twojson", "trailing"),
        ("empty-object", 'no "defaultAlgorithm" object'),
        ("wrong-types", "defaultAlgorithm.defaultAlgorithm: expected a string, got a number"),
        ("invalid-utf8", "not valid UTF-8"),
        ("exit-noanswer", "empty output"),
    ],
)
def test_malformed_answers_are_response_errors(api: Api, name: str, needle: str) -> None:
    with pytest.raises(skp.PluginResponseError) as info:
        api(f"{name}://k").default_algorithm()
    text = str(info.value)
    assert info.value.kind == "InvalidResponse"
    assert needle in text
    assert f"sigstore-kms-{name}" in text and "defaultAlgorithm" in text


def test_bad_base64_and_escaped_preview(api: Api) -> None:
    with pytest.raises(skp.PluginResponseError, match="signMessage.signature: invalid base64"):
        api("bad-base64://k").sign_message(b"x")
    with pytest.raises(skp.PluginResponseError) as info:
        api("invalid-utf8://k").default_algorithm()
    assert "\\xff\\xfe" in str(info.value)


def test_error_messages_are_plugin_returned(api: Api) -> None:
    with pytest.raises(skp.PluginReturnedError) as info:
        api("errmsg://k").default_algorithm()
    assert info.value.message == "key not found: the KMS said no"
    with pytest.raises(skp.PluginReturnedError):
        api("errmsg-result://k").sign_message(b"x")


def test_exit_status_is_ignored_but_signals_are_not(api: Api) -> None:
    assert api("exit1://k").default_algorithm() == "ecdsa-p256"
    with pytest.raises(skp.PluginExecutionError) as info:
        api("sigkill://k").default_algorithm()
    assert info.value.kind == "Exec"
    assert "signal 9 (SIGKILL)" in str(info.value)


@pytest.mark.parametrize("mode", ["capture", "null"])
def test_stderr_flood_is_drained(api: Api, mode: str) -> None:
    assert api("stderr-flood://k", stderr=mode).default_algorithm() == "ecdsa-p256"


def test_plugin_that_ignores_stdin_is_fine(api: Api) -> None:
    assert api("ignore-stdin://k").sign_message(PatternReader(32 * 1024 * 1024)) == b"sig"


@pytest.mark.parametrize("name", ["grandchild-stdout", "grandchild-stderr"])
def test_grandchild_holding_pipes_does_not_stall(api: Api, name: str) -> None:
    started = time.monotonic()
    assert api(f"{name}://k").default_algorithm() == "ecdsa-p256"
    assert time.monotonic() - started < 3


def test_slow_plugin_within_timeout_is_fine(api: Api) -> None:
    assert api("slow://k", timeout=30).default_algorithm() == "ecdsa-p256"


def test_no_shebang_is_an_exec_error(api: Api) -> None:
    with pytest.raises(skp.PluginExecutionError) as info:
        api("noshebang://k").default_algorithm()
    assert "#!" in str(info.value)
    # The OS error is the cause.
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == 8  # ENOEXEC


def test_request_over_the_argument_limit_is_refused(api: Api) -> None:
    with pytest.raises(skp.PluginExecutionError, match="nothing was run"):
        api("fixture://" + "k" * (200 * 1024)).default_algorithm()


def test_timeout_can_be_disabled(api: Api) -> None:
    sv = api("fixture://k", timeout=None)
    assert sv.timeout is None
    assert sv.default_algorithm() == "ecdsa-p256"


@pytest.mark.parametrize("uri", ["nope", "a/b://k", "-x://k", ".x://k", "://k", "a b://k"])
def test_invalid_uris(api: Api, uri: str) -> None:
    with pytest.raises(skp.InvalidKeyURIError) as info:
        api(uri)
    assert isinstance(info.value, ValueError)
    assert info.value.kind == "InvalidKeyUri"


def test_missing_and_not_executable_plugins(api: Api) -> None:
    with pytest.raises(skp.PluginNotFoundError) as info:
        api("missing://k")
    assert info.value.kind == "PluginNotFound"
    assert info.value.plugin == "sigstore-kms-missing"
    # The four fixture PATH entries, then the package's plugin directories.
    assert [str(d) for d in info.value.searched[4:]] == [str(d) for d in skp.plugin_dirs()]
    assert len(info.value.searched) == 4 + len(skp.plugin_dirs())
    with pytest.raises(skp.PluginNotFoundError, match="not executable"):
        api("notexec://k")
