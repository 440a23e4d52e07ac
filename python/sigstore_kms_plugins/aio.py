"""asyncio: awaitable twins of every :class:`~sigstore_kms_plugins.SignerVerifier` method.

.. code-block:: python

    from sigstore_kms_plugins import get_async_signer_verifier

    async def main() -> None:
        sv = get_async_signer_verifier("localkms:///keys/release.pem")
        signature = await sv.sign_message(pathlib.Path("dist/app.tar.gz"))
        await sv.verify_signature(signature, pathlib.Path("dist/app.tar.gz"))

How it works: a call whose message is in memory (``bytes``, ``bytearray``, ``memoryview``, other
buffers), or that has none, is driven by the running event loop itself: the plugin is started
(the start returns once it is running) and its pipes are watched through one epoll descriptor per
loop, registered once with ``loop.add_reader``, with non-blocking I/O only and no thread at all. A
call whose message is a path or a file object, which could block the loop while it is read, runs
on a worker thread of the Rust core instead (the same engine as the blocking methods and the Rust
API), its result coming back through the same descriptor. Either way the event loop never blocks
and no Python
thread is taken per call, so hundreds of plugin calls can be in flight at once; results and
exceptions are the same. **Cancelling** the awaiting task (``task.cancel()``,
``asyncio.wait_for`` / ``asyncio.timeout`` expiring, a ``TaskGroup`` failing) aborts the call and
kills the plugin's process group at once. (The alternative, running the blocking methods with
``asyncio.to_thread``, would hold a thread per call and could not stop a plugin on cancellation.)

Calls served by an in-process provider run the provider's Python code on a worker thread; they
cannot be interrupted once started.

The awaitables must be created and awaited on a running event loop (inside a coroutine).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, List, Optional, Union

from . import _native
from ._client import DEFAULT_STDOUT_LIMIT, DEFAULT_TIMEOUT, Message, SearchPath, SignerVerifier, StderrMode, _KeyHandle
from ._client import get_signer_verifier as _get_signer_verifier
from ._types import HashFuncLike
from .keys import load_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = ["AsyncSignerVerifier", "get_async_signer_verifier"]


class AsyncSignerVerifier(_KeyHandle):
    """A key held by a KMS, with awaitable methods. Safe to share between tasks and threads.

    Get one from :func:`get_async_signer_verifier` or :attr:`SignerVerifier.aio
    <sigstore_kms_plugins.SignerVerifier.aio>`; :attr:`sync` gives the blocking twin.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Async" + repr(self._native)

    @property
    def sync(self) -> SignerVerifier:
        """The same key with blocking methods."""
        return SignerVerifier(self._native)

    async def default_algorithm(self) -> str:
        """The algorithm the plugin creates keys with by default."""
        return await self._native.default_algorithm_async()

    async def supported_algorithms(self) -> List[str]:
        """The algorithms the plugin can create keys with."""
        return await self._native.supported_algorithms_async()

    async def create_key(self, algorithm: str) -> bytes:
        """Creates the key with ``algorithm`` (or gets the existing one); returns its public key PEM."""
        return await self._native.create_key_async(algorithm)

    async def public_key(self) -> bytes:
        """The public key, as the PEM text the plugin returned."""
        return await self._native.public_key_async()

    async def public_key_object(self) -> PublicKeyTypes:
        """The public key as a ``cryptography`` object."""
        return load_public_key(await self.public_key())

    async def sign_message(self, data: Message) -> bytes:
        """Signs ``data``; files and paths are streamed, never read whole."""
        return await self._native.sign_message_async(data)

    async def sign_digest(self, digest: bytes, hash_func: Optional[HashFuncLike] = None) -> bytes:
        """Signs a precomputed ``digest`` made with ``hash_func`` (default: this key's)."""
        return await self._native.sign_digest_async(digest, hash_func)

    async def verify_signature(self, signature: bytes, data: Message) -> None:
        """Verifies ``signature`` over ``data`` through the plugin; raises if it is invalid."""
        await self._native.verify_signature_async(signature, data)

    async def verify_digest(self, signature: bytes, digest: bytes, hash_func: Optional[HashFuncLike] = None) -> None:
        """Verifies ``signature`` over a precomputed ``digest`` through the plugin."""
        await self._native.verify_digest_async(signature, digest, hash_func)


def get_async_signer_verifier(
    uri: str,
    *,
    hash_func: HashFuncLike = "sha256",
    key_version: Optional[str] = None,
    remote_verification: bool = False,
    timeout: Union[float, datetime.timedelta, None] = DEFAULT_TIMEOUT,
    path: Optional[SearchPath] = None,
    stdout_limit: int = DEFAULT_STDOUT_LIMIT,
    stderr: StderrMode = "inherit",
) -> AsyncSignerVerifier:
    """Like :func:`~sigstore_kms_plugins.get_signer_verifier`, with awaitable methods.

    Resolving the URI (a PATH lookup, or an in-process provider's factory) happens now, without
    awaiting: it does not start any plugin.
    """
    sv = _get_signer_verifier(
        uri,
        hash_func=hash_func,
        key_version=key_version,
        remote_verification=remote_verification,
        timeout=timeout,
        path=path,
        stdout_limit=stdout_limit,
        stderr=stderr,
    )
    return AsyncSignerVerifier(sv._native)
