"""In-process providers written in Python (register_provider), through both APIs."""

from __future__ import annotations

import asyncio
import datetime
import threading
from typing import Any, BinaryIO, Callable, Iterator, List, Sequence

import pytest

import sigstore_kms_plugins as skp
from sigstore_kms_plugins import CallContext, HandlerError, MessageOptions
from conftest import FIXTURE_PUB

Api = Callable[..., Any]


class Echo(skp.Handler):
    """Answers with what it was given, so tests can see the context and options."""

    def __init__(self, key_ref: str) -> None:
        self.key_ref = key_ref
        self.kept: List[BinaryIO] = []
        self.chunks: List[int] = []

    def default_algorithm(self, ctx: CallContext) -> str:
        assert ctx.deadline is not None and ctx.time_remaining() is not None
        return f"{ctx.key_resource_id}|{ctx.hash_func.canonical_name}|{ctx.key_version}|{ctx.remote_verification}"

    def supported_algorithms(self, ctx: CallContext) -> Sequence[str]:
        return ("a", "b")

    def create_key(self, ctx: CallContext, algorithm: str) -> str:
        raise HandlerError(f"cannot create {algorithm}")

    def public_key(self, ctx: CallContext) -> bytes:
        return FIXTURE_PUB

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        data = b""
        for chunk in iter(lambda: message.read(1 << 20), b""):
            self.chunks.append(len(chunk))
            data += chunk[:16]
        if opts.digest is not None:
            assert opts.hash_func is not None
            return b"digest:" + opts.hash_func.go_name.encode() + b":" + opts.digest
        self.kept.append(message)
        return data

    def verify_signature(self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions) -> object:
        return signature == message.read()


@pytest.fixture
def echo() -> Iterator[List[Echo]]:
    made: List[Echo] = []

    def factory(key_ref: str) -> Echo:
        made.append(Echo(key_ref))
        return made[-1]

    skp.register_provider("pyecho", factory)
    yield made
    assert skp.unregister_provider("pyecho://")


def test_provider_is_called_in_process(api: Api, echo: List[Echo]) -> None:
    assert "pyecho://" in skp.registered_providers()
    sv = api("pyecho://a/b", hash_func="sha384", key_version="7", remote_verification=True)
    assert sv.program_path is None
    assert echo[0].key_ref == "a/b"
    assert sv.default_algorithm() == "a/b|sha384|7|True"
    assert sv.supported_algorithms() == ["a", "b"]
    assert sv.public_key() == FIXTURE_PUB
    assert sv.sign_message(b"msg") == b"msg"
    assert sv.sign_digest(b"\x01" * 32, "sha256") == b"digest:SHA-256:" + b"\x01" * 32
    sv.verify_signature(b"msg", b"msg")


def test_handler_errors_become_plugin_returned_errors(api: Api, echo: List[Echo]) -> None:
    sv = api("pyecho://k")
    with pytest.raises(skp.PluginReturnedError) as info:
        sv.create_key("rsa-2048")
    assert info.value.message == "cannot create rsa-2048"
    assert isinstance(info.value.__cause__, HandlerError)
    assert info.value.plugin == "pyecho://"
    with pytest.raises(skp.PluginReturnedError) as info:
        sv.verify_signature(b"sig", b"other")
    assert info.value.message == "invalid signature"


def test_unexpected_exceptions_are_named_and_chained(api: Api) -> None:
    class Broken(skp.Handler):
        def default_algorithm(self, ctx: CallContext) -> str:
            raise ValueError("boom <&>")

        def supported_algorithms(self, ctx: CallContext) -> Any:
            return "not a list"

        def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> Any:
            return "text"

    skp.register_provider("broken", lambda ref: Broken())
    try:
        sv = api("broken://k")
        with pytest.raises(skp.PluginReturnedError) as info:
            sv.default_algorithm()
        assert info.value.message == "ValueError: boom <&>"
        assert isinstance(info.value.__cause__, ValueError)
        assert info.value.__cause__.__traceback__ is not None
        with pytest.raises(skp.PluginReturnedError, match="must return a list of str"):
            sv.supported_algorithms()
        with pytest.raises(skp.PluginReturnedError, match="must return bytes, not str"):
            sv.sign_message(b"x")
        with pytest.raises(skp.PluginReturnedError, match="publicKey is not implemented"):
            sv.public_key()
    finally:
        skp.unregister_provider("broken")


def test_factory_failures(api: Api) -> None:
    def failing(ref: str) -> Any:
        raise LookupError(f"no key {ref}")

    skp.register_provider("failing", failing)
    skp.register_provider("notahandler", lambda ref: object())
    try:
        with pytest.raises(skp.PluginReturnedError, match="provider factory failed: LookupError: no key k") as info:
            api("failing://k")
        assert isinstance(info.value.__cause__, LookupError)
        with pytest.raises(skp.PluginReturnedError, match="is not a KMS handler") as info:
            api("notahandler://k")
        assert isinstance(info.value.__cause__, TypeError)
    finally:
        skp.unregister_provider("failing")
        skp.unregister_provider("notahandler")


def test_registration_is_checked() -> None:
    with pytest.raises(skp.InvalidKeyURIError):
        skp.register_provider("a/b", lambda ref: Echo(ref))
    with pytest.raises(TypeError):
        skp.register_provider("x", "not callable")  # type: ignore[arg-type]
    assert not skp.unregister_provider("never-registered")


def test_provider_wins_over_path(echo: List[Echo]) -> None:
    from conftest import FIXTURE_PATH

    skp.register_provider("fixture", lambda ref: Echo(ref))
    try:
        assert skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH).program_path is None
    finally:
        assert skp.unregister_provider("fixture")
    assert skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH).program_path is not None


def test_a_pkcs11_provider_serves_rfc_7512_uris_and_repr_hides_the_pin() -> None:
    # Providers are found by the plugin name the URI parses to: `pkcs11:...` (RFC 7512, no //)
    # is the plugin `pkcs11`, as `pkcs11://...` is.
    made: List[Echo] = []
    skp.register_provider("pkcs11", lambda ref: made.append(Echo(ref)) or made[-1])
    reference = "token=ci;object=k?module-path=/m.so&pin-value=8264"
    try:
        for uri in (f"pkcs11:{reference}", f"pkcs11://{reference}"):
            sv = skp.get_signer_verifier(uri)
            assert sv.program_path is None
            assert sv.key_ref == reference
            assert sv.default_algorithm().startswith(reference + "|")
            assert asyncio.run(sv.aio.default_algorithm()).startswith(reference + "|")
            for shown in (repr(sv), repr(sv.aio)):
                assert "8264" not in shown and "pin-value=[redacted]" in shown, shown
        assert [e.key_ref for e in made] == [reference, reference]
    finally:
        assert skp.unregister_provider("pkcs11")


def test_repr_of_a_plugin_key_hides_the_pin() -> None:
    from conftest import FIXTURE_PATH

    sv = skp.get_signer_verifier("fixture://token=t;object=k?pin-value=8264", path=FIXTURE_PATH)
    for shown in (repr(sv), repr(sv.aio)):
        assert "sigstore-kms-fixture" in shown and "8264" not in shown and "pin-value=[redacted]" in shown, shown


def test_message_is_streamed_and_revoked_after_the_call(echo: List[Echo], api: Api) -> None:
    from conftest import PatternReader

    sv = api("pyecho://k")
    assert sv.sign_message(PatternReader(8 * 1024 * 1024 + 3)) == b"x" * (16 * 8 + 3)
    assert max(echo[0].chunks) <= 1 << 20 and sum(echo[0].chunks) == 8 * 1024 * 1024 + 3
    kept = echo[0].kept[-1]
    with pytest.raises(ValueError):
        kept.read()


def test_message_is_readable_only_on_the_calling_thread(api: Api) -> None:
    errors: List[BaseException] = []

    class OtherThread(Echo):
        def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
            def read() -> None:
                try:
                    message.read()
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

            t = threading.Thread(target=read)
            t.start()
            t.join()
            return message.read()

    skp.register_provider("otherthread", lambda ref: OtherThread(ref))
    try:
        assert api("otherthread://k").sign_message(b"abc") == b"abc"
        assert len(errors) == 1 and "thread" in str(errors[0])
    finally:
        skp.unregister_provider("otherthread")


def test_concurrent_provider_calls(echo: List[Echo]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sv = skp.get_signer_verifier("pyecho://k")
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(sv.sign_message, [f"m{i}".encode() for i in range(64)]))
    assert got == [f"m{i}".encode() for i in range(64)]


def test_keyboard_interrupt_in_a_provider_propagates() -> None:
    class Interrupted(Echo):
        def default_algorithm(self, ctx: CallContext) -> str:
            raise KeyboardInterrupt

    skp.register_provider("interrupted", lambda ref: Interrupted(ref))
    try:
        with pytest.raises(KeyboardInterrupt):
            skp.get_signer_verifier("interrupted://k").default_algorithm()
    finally:
        skp.unregister_provider("interrupted")


def test_deadline_is_passed(echo: List[Echo]) -> None:
    seen: List[CallContext] = []

    class Recorder(Echo):
        def default_algorithm(self, ctx: CallContext) -> str:
            seen.append(ctx)
            return "x"

    skp.register_provider("recorder", lambda ref: Recorder(ref))
    try:
        skp.get_signer_verifier("recorder://k", timeout=60).default_algorithm()
        skp.get_signer_verifier("recorder://k", timeout=None).default_algorithm()
    finally:
        skp.unregister_provider("recorder")
    assert seen[0].deadline is not None and seen[0].deadline.tzinfo is datetime.timezone.utc
    remaining = seen[0].time_remaining()
    assert remaining is not None and 50 < remaining <= 60
    assert seen[1].deadline is None and seen[1].time_remaining() is None


def test_the_cause_is_the_handlers_own_exception(api: Api) -> None:
    """The exception travels back through the core's error (HandlerError's source), not a copy
    and not a thread-local: the caller gets the very object the handler raised."""
    raised: List[BaseException] = []

    class Raiser(skp.Handler):
        def default_algorithm(self, ctx: CallContext) -> str:
            e = RuntimeError("mine")
            raised.append(e)
            raise e

    skp.register_provider("raiser", lambda ref: Raiser())
    try:
        with pytest.raises(skp.PluginReturnedError, match="RuntimeError: mine") as info:
            api("raiser://k").default_algorithm()
        assert info.value.__cause__ is raised[-1]
    finally:
        skp.unregister_provider("raiser")
