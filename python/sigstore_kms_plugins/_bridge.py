"""Calls from the native module into a Python handler (private).

The native adapter (``python/src/handler.rs``) calls these functions with plain values; they
build the context objects, wrap the message in a buffered binary stream, call the handler and
check what it returned, so that a handler's mistake is reported as such.
"""

from __future__ import annotations

import io
from typing import Any, Optional, Tuple

from . import _native
from ._types import CallContext, MessageOptions
from .errors import HandlerError

_METHODS = (
    "default_algorithm",
    "supported_algorithms",
    "create_key",
    "public_key",
    "sign_message",
    "verify_signature",
)

_ContextTuple = Tuple[str, int, str, bool, Optional[Tuple[int, int]]]
_OptionsTuple = Tuple[Optional[bytes], Optional[int]]


def check_handler(handler: object) -> None:
    """Raises :class:`TypeError` unless ``handler`` has the six handler methods."""
    missing = [m for m in _METHODS if not callable(getattr(handler, m, None))]
    if missing:
        raise TypeError(
            f"{type(handler).__name__} is not a KMS handler: it has no {', '.join(missing)} "
            "method(s); subclass sigstore_kms_plugins.handler.Handler or implement all six"
        )


class _MessageRaw(io.RawIOBase):
    """The native message stream as a raw binary stream."""

    def __init__(self, stream: _native.MessageStream) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n


def _message(stream: _native.MessageStream) -> io.BufferedReader:
    return io.BufferedReader(_MessageRaw(stream), buffer_size=1 << 16)


def _returned(handler: object, method: str, value: object, expected: str) -> TypeError:
    return TypeError(f"{type(handler).__name__}.{method}() must return {expected}, not {type(value).__name__}")


def default_algorithm(handler: Any, ctx: _ContextTuple) -> str:
    value = handler.default_algorithm(CallContext._from_native(ctx))
    if not isinstance(value, str):
        raise _returned(handler, "default_algorithm", value, "str")
    return value


def supported_algorithms(handler: Any, ctx: _ContextTuple) -> list[str]:
    value = handler.supported_algorithms(CallContext._from_native(ctx))
    if isinstance(value, (str, bytes)) or value is None:
        raise _returned(handler, "supported_algorithms", value, "a list of str")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _returned(handler, "supported_algorithms", item, "a list of str (an item is")
    return items


def _pem(handler: Any, method: str, value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as e:
            raise TypeError(f"{type(handler).__name__}.{method}() returned a PEM that is not UTF-8") from e
    if isinstance(value, str):
        return value
    raise _returned(handler, method, value, "the PEM as str or bytes")


def create_key(handler: Any, ctx: _ContextTuple, algorithm: str) -> str:
    return _pem(handler, "create_key", handler.create_key(CallContext._from_native(ctx), algorithm))


def public_key(handler: Any, ctx: _ContextTuple) -> str:
    return _pem(handler, "public_key", handler.public_key(CallContext._from_native(ctx)))


def sign_message(handler: Any, ctx: _ContextTuple, stream: _native.MessageStream, opts: _OptionsTuple) -> bytes:
    with _message(stream) as message:
        value = handler.sign_message(CallContext._from_native(ctx), message, MessageOptions._from_native(opts))
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise _returned(handler, "sign_message", value, "bytes")
    return bytes(value)


def verify_signature(
    handler: Any, ctx: _ContextTuple, signature: bytes, stream: _native.MessageStream, opts: _OptionsTuple
) -> None:
    with _message(stream) as message:
        value = handler.verify_signature(
            CallContext._from_native(ctx), signature, message, MessageOptions._from_native(opts)
        )
    if value is False:
        raise HandlerError("invalid signature")
