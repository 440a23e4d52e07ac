"""Shared fixtures of the Python test suite.

The fixture plugins (tests/fixtures/plugins, see its README) are found through an explicit
search path: the fixtures directory first, then the system directories the scripts need. The
bundled ``sigstore-kms-localkms`` and ``sigstore-kms`` console scripts live next to the
interpreter running the tests (the virtualenv's ``bin``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

import sigstore_kms_plugins as skp

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "plugins"
VECTORS = REPO / "tests" / "vectors"
KEYS = REPO / "tests" / "fixtures" / "keys"
FIXTURE_PUB = (KEYS / "fixture-p256.pub.pem").read_bytes()
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
FIXTURE_PATH = f"{FIXTURES}:{SYSTEM_PATH}"
VENV_BIN = Path(sys.executable).parent
LOCALKMS_PATH = f"{VENV_BIN}:{SYSTEM_PATH}"


def process_dead(pid: int) -> bool:
    """Whether `pid` is gone or a zombie (killed grandchildren may linger as zombies here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(") ", 1)[1][:1] in ("Z", "X")


def live_children() -> list[int]:
    """Pids of this process's live (non-zombie) children."""
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me and fields[0] not in ("Z", "X"):
            out.append(int(entry.name))
    return out


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def sha256(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


class PatternReader:
    """A binary file-like object producing `length` bytes of b"x" without holding them."""

    def __init__(self, length: int) -> None:
        self.left = length

    def read(self, size: int = -1) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return b"x" * n


class AsyncAdapter:
    """Presents an AsyncSignerVerifier with the blocking interface, so that one test body checks
    both APIs: every method call runs the coroutine to completion on the test's event loop."""

    def __init__(self, sv: skp.AsyncSignerVerifier, loop: asyncio.AbstractEventLoop) -> None:
        self._sv = sv
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sv, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(attr(*args, **kwargs))

        return call


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """`api(uri, **options)`: a signer-verifier with blocking methods, backed by the blocking API
    or by the asyncio API (each test using it runs twice)."""
    loop = asyncio.new_event_loop()

    def make(uri: str, **options: Any) -> Any:
        options.setdefault("path", FIXTURE_PATH)
        options.setdefault("stderr", "capture")
        if request.param == "sync":
            return skp.get_signer_verifier(uri, **options)
        return AsyncAdapter(skp.get_async_signer_verifier(uri, **options), loop)

    make.mode = request.param  # type: ignore[attr-defined]
    yield make
    loop.close()


@pytest.fixture
def fixture_sv() -> skp.SignerVerifier:
    return skp.get_signer_verifier("fixture://my-key", path=FIXTURE_PATH, stderr="capture")


_T = TypeVar("_T")


def run_with_heartbeat(work: Callable[[], Awaitable[_T]]) -> tuple[_T, int]:
    """Runs `work()` in a new event loop next to a 10 ms heartbeat; returns its result and how
    many beats the loop managed meanwhile (a blocked loop manages none)."""
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def main() -> _T:
        beat = asyncio.ensure_future(heartbeat())
        try:
            return await work()
        finally:
            beat.cancel()

    result = asyncio.run(main())
    return result, ticks


class CryptoKms(skp.Handler):
    """A KMS in this process: signs digests with a ``cryptography`` private key (RSA with PSS).

    ``signing_key`` (default: ``key``) is the key that really signs, so a test can make a KMS
    whose signatures do not match the public key it reports.
    """

    def __init__(self, key: Any, signing_key: Any = None) -> None:
        self.key = key
        self.signing_key = signing_key or key

    def default_algorithm(self, ctx: skp.CallContext) -> str:
        return "x"

    def supported_algorithms(self, ctx: skp.CallContext) -> list[str]:
        return ["x"]

    def public_key(self, ctx: skp.CallContext) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return bytes(self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))

    def sign_message(self, ctx: skp.CallContext, message: Any, opts: skp.MessageOptions) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        assert opts.digest is not None and opts.hash_func is not None
        algorithm = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}[
            opts.hash_func.name
        ]
        if isinstance(self.signing_key, rsa.RSAPrivateKey):
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
            return bytes(self.signing_key.sign(opts.digest, pss, Prehashed(algorithm)))
        return bytes(self.signing_key.sign(opts.digest, ec.ECDSA(Prehashed(algorithm))))
