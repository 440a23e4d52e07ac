"""The handler API: a key-management backend with the six methods of the protocol.

One handler class serves both ways a backend can be plugged in:

* as a **plugin program** (``sigstore-kms-NAME`` on ``PATH``), with
  :func:`sigstore_kms_plugins.plugin.serve`, for any host (cosign, the Go library, this package);
* as an **in-process provider** with :func:`sigstore_kms_plugins.register_provider`, for this
  process only (no program, no subprocess).

Subclass :class:`Handler` (or write any class with the six methods: :class:`KmsHandler` is the
structural type). Methods receive a :class:`CallContext`; ``sign_message`` and
``verify_signature`` also receive the message as a binary stream (read it in chunks: it can be
large) and :class:`MessageOptions`. To answer with an error, raise :class:`HandlerError` (its
text is sent as is) or any exception (sent as ``"TypeName: text"``).

Handlers registered in-process may be called from several threads at once.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol, Sequence, Union, runtime_checkable

from ._types import CallContext, HashFunc, MessageOptions
from .errors import HandlerError

__all__ = ["KmsHandler", "Handler", "HandlerError", "CallContext", "MessageOptions", "HashFunc"]


@runtime_checkable
class KmsHandler(Protocol):
    """The structural type of a handler: any object with these six methods."""

    def default_algorithm(self, ctx: CallContext) -> str:
        """The algorithm :meth:`create_key` uses by default, e.g. ``"ecdsa-p256"``."""
        ...

    def supported_algorithms(self, ctx: CallContext) -> Sequence[str]:
        """The algorithms keys can be created with."""
        ...

    def create_key(self, ctx: CallContext, algorithm: str) -> Union[str, bytes]:
        """Creates the key (or returns the existing one); answers its public key as PEM."""
        ...

    def public_key(self, ctx: CallContext) -> Union[str, bytes]:
        """The public key as PEM (``-----BEGIN PUBLIC KEY-----``, SubjectPublicKeyInfo)."""
        ...

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        """Signs the message stream, or ``opts.digest`` when given (the stream is then empty)."""
        ...

    def verify_signature(
        self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions
    ) -> object:
        """Verifies ``signature`` over the message (or ``opts.digest``); raise if invalid.

        Returning ``False`` also means "invalid"; any other return value means valid.
        """
        ...


class Handler:
    """A convenient base class for handlers.

    Override :meth:`default_algorithm`, :meth:`supported_algorithms`, :meth:`public_key` and
    :meth:`sign_message`. :meth:`create_key` and :meth:`verify_signature` answer "not supported"
    unless overridden (a host verifies locally with the public key unless it asks for remote
    verification).
    """

    def default_algorithm(self, ctx: CallContext) -> str:
        """The algorithm :meth:`create_key` uses by default."""
        raise HandlerError("defaultAlgorithm is not implemented by this plugin")

    def supported_algorithms(self, ctx: CallContext) -> Sequence[str]:
        """The algorithms keys can be created with."""
        raise HandlerError("supportedAlgorithms is not implemented by this plugin")

    def create_key(self, ctx: CallContext, algorithm: str) -> Union[str, bytes]:
        """Creates the key (or returns the existing one); answers its public key as PEM."""
        raise HandlerError("createKey is not supported by this plugin")

    def public_key(self, ctx: CallContext) -> Union[str, bytes]:
        """The public key as PEM."""
        raise HandlerError("publicKey is not implemented by this plugin")

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        """Signs the message stream, or ``opts.digest`` when given."""
        raise HandlerError("signMessage is not implemented by this plugin")

    def verify_signature(
        self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions
    ) -> object:
        """Verifies ``signature``; raise :class:`HandlerError` if it is invalid."""
        raise HandlerError("verifySignature is not supported by this plugin")
