"""The host side: resolve a key URI to a plugin and call it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Literal, Optional, Protocol, Sequence, Tuple, Union

from . import _native
from ._types import HashFunc, HashFuncLike
from .handler import KmsHandler
from .keys import load_public_key

if TYPE_CHECKING:
    import datetime

    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from .aio import AsyncSignerVerifier

__all__ = [
    "SignerVerifier",
    "get_signer_verifier",
    "list_plugins",
    "PluginInfo",
    "register_provider",
    "unregister_provider",
    "registered_providers",
    "Message",
    "SearchPath",
    "StderrMode",
    "DEFAULT_TIMEOUT",
    "DEFAULT_STDOUT_LIMIT",
    "OPTIONS",
    "OptionSpec",
    "OptionSpelling",
]

#: The default timeout of one call, in seconds (5 minutes; the Rust core's default).
DEFAULT_TIMEOUT: float = _native.DEFAULT_TIMEOUT
#: The default cap on a plugin's stdout, in bytes (4 MiB; the Rust core's default).
DEFAULT_STDOUT_LIMIT: int = _native.DEFAULT_STDOUT_LIMIT


@dataclass(frozen=True)
class OptionSpelling:
    """How one language spells an option."""

    name: str
    """The name (``stdout_limit`` here, ``stdoutLimit`` in Node, ``--timeout`` on the CLI)."""
    accepts: str
    """What it accepts, as error messages say it."""
    default: str
    """Its default, as the language writes it."""


@dataclass(frozen=True)
class OptionSpec:
    """An option of :func:`get_signer_verifier`, as every language spells it.

    The options are checked and defaulted once, by the Rust core, for Python, Node, Rust and the
    CLI alike; :data:`OPTIONS` is the core's table (see ``docs/options.md``).
    """

    meaning: str
    rust: OptionSpelling
    python: OptionSpelling
    node: OptionSpelling
    cli: Optional[OptionSpelling]


def _spelling(d: Optional[dict]) -> Optional[OptionSpelling]:  # type: ignore[type-arg]
    return None if d is None else OptionSpelling(d["name"], d["accepts"], d["default"])


#: Every option, with its spelling in every language (the core's table).
OPTIONS: Tuple[OptionSpec, ...] = tuple(
    OptionSpec(
        meaning=o["meaning"],
        rust=_spelling(o["rust"]),  # type: ignore[arg-type]
        python=_spelling(o["python"]),  # type: ignore[arg-type]
        node=_spelling(o["node"]),  # type: ignore[arg-type]
        cli=_spelling(o["cli"]),
    )
    for o in _native.option_table()
)

PluginInfo = _native.PluginInfo

#: Where a plugin's stderr goes: ``"inherit"`` (our stderr, as the Go client does),
#: ``"capture"`` (kept; its last lines are attached to errors) or ``"null"`` (discarded).
StderrMode = Literal["inherit", "capture", "null"]


class SupportsRead(Protocol):
    """A binary file-like object: anything with ``read(size) -> bytes``."""

    def read(self, size: int = ..., /) -> bytes: ...


#: A message to sign or verify. ``bytes`` are sent as they are; a path (``pathlib.Path``) is
#: opened and streamed; a binary file object is streamed from its current position. A ``str`` is
#: refused (encode it, or wrap it in ``pathlib.Path``).
Message = Union[bytes, bytearray, memoryview, "os.PathLike[str]", "os.PathLike[bytes]", SupportsRead]

#: Where to look for plugin programs instead of ``$PATH``: a PATH-style string
#: (``"/opt/kms/bin:/usr/local/bin"``), one directory, or a list of directories.
SearchPath = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


class _KeyHandle:
    """What the blocking and the awaitable wrappers share: the native object and what it says
    about the key."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.SignerVerifier) -> None:
        self._native = native

    @property
    def program_path(self) -> Optional[Path]:
        """The absolute path of the plugin program; ``None`` for an in-process provider."""
        return self._native.program_path

    @property
    def key_ref(self) -> str:
        """The key reference: the part of the key URI after ``NAME://``."""
        return self._native.key_ref

    @property
    def hash_func(self) -> HashFunc:
        """The hash function sent with every call (``initOptions.hashFunc``)."""
        return HashFunc(self._native.hash_func)

    @property
    def timeout(self) -> Optional[float]:
        """The per-call timeout in seconds; ``None`` for none."""
        return self._native.timeout


class SignerVerifier(_KeyHandle):
    """A key held by a KMS, reached through a plugin program or an in-process provider.

    Every method runs one plugin call (one process), blocks until it is done, and releases the
    GIL meanwhile; Ctrl-C (``KeyboardInterrupt``) interrupts it and kills the plugin. Instances
    are immutable and safe to share between threads. For asyncio, use :attr:`aio`.

    Create one with :func:`get_signer_verifier`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(self._native)

    @property
    def aio(self) -> AsyncSignerVerifier:
        """The same key with awaitable methods (see :class:`~sigstore_kms_plugins.aio.AsyncSignerVerifier`)."""
        from .aio import AsyncSignerVerifier

        return AsyncSignerVerifier(self._native)

    def default_algorithm(self) -> str:
        """The algorithm the plugin creates keys with by default."""
        return self._native.default_algorithm()

    def supported_algorithms(self) -> List[str]:
        """The algorithms the plugin can create keys with."""
        return self._native.supported_algorithms()

    def create_key(self, algorithm: str) -> bytes:
        """Creates the key with ``algorithm`` (or gets the existing one); returns its public key PEM."""
        return self._native.create_key(algorithm)

    def public_key(self) -> bytes:
        """The public key, as the PEM text the plugin returned."""
        return self._native.public_key()

    def public_key_object(self) -> PublicKeyTypes:
        """The public key as a ``cryptography`` object (needs the ``cryptography`` package)."""
        return load_public_key(self.public_key())

    def sign_message(self, data: Message) -> bytes:
        """Signs ``data``; files and paths are streamed to the plugin, never read whole."""
        return self._native.sign_message(data)

    def sign_digest(self, digest: bytes, hash_func: Optional[HashFuncLike] = None) -> bytes:
        """Signs a precomputed ``digest`` (Go's ``CryptoSigner`` path).

        ``hash_func`` is the hash that made it (default: this signer-verifier's); its length is
        checked.
        """
        return self._native.sign_digest(digest, hash_func)

    def verify_signature(self, signature: bytes, data: Message) -> None:
        """Verifies ``signature`` over ``data`` through the plugin.

        Returns ``None`` when it is valid; raises :class:`~sigstore_kms_plugins.errors.PluginReturnedError`
        (the plugin's verdict) otherwise.
        """
        self._native.verify_signature(signature, data)

    def verify_digest(self, signature: bytes, digest: bytes, hash_func: Optional[HashFuncLike] = None) -> None:
        """Verifies ``signature`` over a precomputed ``digest`` through the plugin."""
        self._native.verify_digest(signature, digest, hash_func)


def get_signer_verifier(
    uri: str,
    *,
    hash_func: HashFuncLike = "sha256",
    key_version: Optional[str] = None,
    remote_verification: bool = False,
    timeout: Union[float, datetime.timedelta, None] = DEFAULT_TIMEOUT,
    path: Optional[SearchPath] = None,
    stdout_limit: int = DEFAULT_STDOUT_LIMIT,
    stderr: StderrMode = "inherit",
) -> SignerVerifier:
    """Resolves ``uri`` (``NAME://REF``) to a :class:`SignerVerifier`.

    In-process providers (:func:`register_provider`) are consulted first; otherwise the program
    ``sigstore-kms-NAME`` is looked up once, now, on ``path`` (default ``$PATH``) with the rules
    of Go's ``exec.LookPath`` (a hit through a relative PATH entry is refused), and that absolute
    path is what every call runs.

    :param hash_func: sent as ``initOptions.hashFunc`` (and the default for :meth:`~SignerVerifier.sign_digest`):
        a name (``"sha256"``, ``"sha384"``, ``"none"``, ...), Go's ``crypto.Hash`` number or a :class:`HashFunc`.
    :param key_version: sent as ``rpcOptions.keyVersion`` (``""`` when ``None``).
    :param remote_verification: ask the KMS to verify signatures itself.
    :param timeout: per call, in seconds or a ``timedelta``; the plugin's process group is killed
        when it expires and the deadline is sent to the plugin. ``None`` waits for ever.
    :param path: search these directories instead of ``$PATH``.
    :param stdout_limit: the largest answer accepted; a plugin writing more is killed.
    :param stderr: ``"inherit"`` (the plugin writes to our stderr, as with Go), ``"capture"``
        (kept; the last lines are attached to errors as ``stderr_tail``) or ``"null"``.

    Every option is checked by the Rust core, as in every language (:data:`OPTIONS`); a bad one
    raises :class:`TypeError` or :class:`ValueError` naming it and what it accepts.

    :raises InvalidKeyURIError: the URI is malformed (or is not text: it holds a lone surrogate).
    :raises PluginNotFoundError: no such plugin program.
    """
    native = _native.get_signer_verifier(
        uri, hash_func, key_version, remote_verification, timeout, path, stdout_limit, stderr
    )
    return SignerVerifier(native)


def list_plugins(path: Optional[SearchPath] = None) -> List[PluginInfo]:
    """Every ``sigstore-kms-*`` program on ``path`` (default ``$PATH``), in PATH order, then
    the ones in the package's plugin directories (:func:`plugin_dirs`), like ``kubectl plugin
    list``: shadowed, non-executable and relative-directory entries are listed and flagged
    (``PluginInfo.usable`` is true for the one a key URI would run; ``PluginInfo.source`` is
    ``"path"`` or ``"bundled"``, and ``PluginInfo.shadowed_by`` names the program that wins)."""
    return _native.list_plugins(path)


def register_provider(prefix: str, factory: Callable[[str], KmsHandler]) -> None:
    """Serves key URIs ``prefix://REF`` in this process: ``factory(REF)`` returns a handler.

    Providers are consulted before ``$PATH`` (an in-process provider wins over a plugin program
    of the same name); registering a prefix again replaces the earlier factory. The handler's
    methods run on the calling thread (or a worker thread for awaitable calls) and may run
    concurrently. An exception a handler raises becomes a
    :class:`~sigstore_kms_plugins.errors.PluginReturnedError` whose ``__cause__`` is that
    exception.

    :raises InvalidKeyURIError: the prefix is not a valid plugin name.
    """
    _native.register_provider(prefix, factory)


def unregister_provider(prefix: str) -> bool:
    """Removes the provider for ``prefix``; returns whether there was one."""
    return _native.unregister_provider(prefix)


def registered_providers() -> List[str]:
    """The registered prefixes, as ``"name://"``, in registration order."""
    return _native.registered_providers()
