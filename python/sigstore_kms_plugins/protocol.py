"""The wire format of protocol v1, as the Go reference writes and reads it.

These functions expose the Rust core's codec (the one implementation the host, the Rust plugin
SDK and this package share): requests are decoded with Go's ``encoding/json`` rules (keys
matched case-insensitively with Unicode folding, unknown keys ignored, ``null`` as absent,
duplicate keys merged), responses are written byte for byte as Go's ``json.Marshal`` writes them
(compact, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, fields in the Go types' order).

Requests and results can also be given and read in the language-neutral shape of the golden
vectors (``tests/vectors/README.md``: bytes as base64, deadlines as RFC 3339 strings, hash
functions as Go's numbers): :attr:`Request.fields`, :func:`encode_request`,
:func:`decode_response_fields` and :func:`encode_response` with a ``dict``. The npm package's
codec returns exactly these values, from the same Rust code.

Plugin authors normally need none of this: :func:`sigstore_kms_plugins.plugin.serve` does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from . import _native
from ._types import CallContext, MessageOptions

__all__ = [
    "Request",
    "decode_request",
    "encode_request",
    "encode_response",
    "encode_error",
    "decode_response",
    "decode_response_fields",
    "METHODS",
]

#: The six methods, by wire name, in the Go reference's order.
METHODS = (
    "defaultAlgorithm",
    "supportedAlgorithms",
    "createKey",
    "publicKey",
    "signMessage",
    "verifySignature",
)

#: A method's result as :func:`encode_response` takes it: the value, or the vectors' shape.
Result = Union[str, Sequence[str], bytes, None, Dict[str, Any]]


@dataclass(frozen=True)
class Request:
    """A decoded request, with what a handler is given for it."""

    method: str
    """``methodName`` as sent (it may not be one of :data:`METHODS`)."""
    context: CallContext
    """The call context, derived as the Rust SDK derives it (method-level RPC options first)."""
    algorithm: Optional[str] = None
    """``createKey``'s algorithm."""
    signature: Optional[bytes] = None
    """``verifySignature``'s signature."""
    message_options: Optional[MessageOptions] = None
    """``signMessage``/``verifySignature``'s digest and hash function."""
    raw: Dict[str, Any] = field(default_factory=dict, compare=False)
    """Every field as Go's decoder sees it: the Go types' JSON names, ``None`` for absent or
    ``null``, bytes decoded from base64, deadlines re-written as Go writes them. Prefer
    :attr:`fields`, the shape every language's codec shares."""
    fields: Dict[str, Any] = field(default_factory=dict, compare=False)
    """The request in the shape of a request vector's ``fields`` (the same value the npm
    package's ``protocol.decodeRequest`` returns); :func:`encode_request` takes it back."""


def decode_request(data: Union[str, bytes]) -> Request:
    """Decodes a request (a plugin's ``argv[2]``). :class:`ValueError` if Go would refuse it."""
    raw, method, ctx, algorithm, signature, opts, fields = _native.decode_request(data)
    return Request(
        method=method,
        context=CallContext._from_native(ctx),
        algorithm=algorithm,
        signature=signature,
        message_options=None if opts is None else MessageOptions._from_native(opts),
        raw=raw,
        fields=fields,
    )


def encode_request(fields: Dict[str, Any]) -> str:
    """The request (a plugin's ``argv[2]``) that ``fields`` describe (the shape of
    :attr:`Request.fields`), byte for byte as the Go client writes it. :class:`ValueError` if
    ``fields`` do not describe a request."""
    return _native.encode_request(fields)


def encode_response(method: str, result: Result) -> bytes:
    """The response the Go handler writes for ``result`` of ``method``.

    ``result`` is a ``str`` (defaultAlgorithm), a list of ``str`` (supportedAlgorithms), the PEM
    as ``str`` or ``bytes`` (createKey, publicKey), the signature ``bytes`` (signMessage) or
    ``None`` (verifySignature); or a ``dict`` in the vectors' shape (``{"signature": BASE64}``,
    ``{"errorMessage": TEXT}`` for an error answer), as the npm package's ``encodeResponse``
    takes it.
    """
    return _native.encode_response(method, result)


def encode_error(message: str) -> bytes:
    """The error response the Go handler writes: ``{"errorMessage":...}``."""
    return _native.encode_error(message)


def decode_response(method: str, stdout: bytes) -> Tuple[str, object]:
    """How a host reads a plugin's ``stdout`` for ``method``.

    Returns ``("ok", result)`` (as :func:`encode_response` takes it, PEMs as ``bytes``),
    ``("PluginReturned", message)`` or ``("InvalidResponse", reason)``.
    """
    return _native.decode_response(method, stdout)


def decode_response_fields(method: str, stdout: bytes) -> Dict[str, Any]:
    """How a host reads a plugin's ``stdout``, in the vectors' shape: ``{"ok": RESULT}`` (as
    :func:`encode_response` takes a ``dict``) or ``{"error": "InvalidResponse" | "PluginReturned",
    "message": TEXT}``: the value the npm package's ``protocol.decodeResponse`` returns."""
    return _native.decode_response_fields(method, stdout)
