"""Write a Sigstore KMS plugin in Python.

A plugin is a program named ``sigstore-kms-NAME`` on ``PATH``; hosts (cosign, the Go library,
this package, the ``sigstore-kms`` CLI) run it once per call for key URIs ``NAME://REF``. This
module does everything but the key management: argument and protocol-version checks, decoding
the request with Go's rules, building the :class:`CallContext`, dispatching to your handler,
and writing exactly one response, byte for byte what the Go SDK writes. It is the Rust SDK
(``sigstore_kms_plugins::plugin::serve_with``) running your Python handler, so plugins written
with either behave the same.

A complete plugin (save as ``sigstore-kms-mykms``, ``chmod +x``)::

    #!/usr/bin/env python3
    from sigstore_kms_plugins.plugin import Handler, HandlerError, run

    class MyKms(Handler):
        def default_algorithm(self, ctx):
            return "ecdsa-p256"

        def supported_algorithms(self, ctx):
            return ["ecdsa-p256"]

        def public_key(self, ctx):
            return fetch_pem(ctx.key_resource_id)          # str or bytes

        def sign_message(self, ctx, message, opts):
            if opts.digest is not None:                     # cosign's precomputed digest
                return kms_sign_digest(ctx.key_resource_id, opts.digest)
            h = ctx.hash_func.new()
            for chunk in iter(lambda: message.read(1 << 20), b""):
                h.update(chunk)
            return kms_sign_digest(ctx.key_resource_id, h.digest())

    if __name__ == "__main__":
        run(MyKms())

Rules of the road:

* Write logs to **stderr** (``print(..., file=sys.stderr)``, :mod:`logging`): the host shows
  the plugin's stderr to its user. While serving, :func:`serve` redirects stdout (Python's
  ``sys.stdout`` and file descriptor 1, so subprocesses too) to stderr; the response goes to the
  real stdout at the end.
* Raise :class:`HandlerError` to answer with an error message; any other exception is answered
  as ``"TypeName: text"`` and its traceback is printed to stderr.
* Read the message in chunks: it can be gigabytes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import BinaryIO, Iterator, NoReturn, Optional, Sequence, Union

from . import _native
from ._types import CallContext, HashFunc, MessageOptions
from .errors import HandlerError
from .handler import Handler, KmsHandler
from .protocol import Request, decode_request, encode_error, encode_response

__all__ = [
    "serve",
    "run",
    "Handler",
    "KmsHandler",
    "HandlerError",
    "CallContext",
    "MessageOptions",
    "HashFunc",
    "Request",
    "decode_request",
    "encode_response",
    "encode_error",
]


def serve(
    handler: KmsHandler,
    argv: Optional[Sequence[Union[str, bytes]]] = None,
    *,
    stdin: Union[BinaryIO, int, None] = None,
    stdout: Union[BinaryIO, int, None] = None,
) -> int:
    """Serves one call: reads ``argv`` (default ``sys.argv``) and stdin, calls ``handler``,
    writes the response to stdout. Returns the exit code (0 once a response was written).

    ``stdin``/``stdout`` default to the process's file descriptors 0 and 1, used directly (no
    Python buffering); pass binary file objects (or descriptors) to serve from elsewhere, e.g.
    in tests. ``KeyboardInterrupt`` and ``SystemExit`` raised by the handler are re-raised once
    the error response is written.
    """
    args = [os.fsdecode(a) for a in (sys.argv if argv is None else argv)]
    source: Union[BinaryIO, int] = 0 if stdin is None else stdin
    if stdout is not None:
        return _native.serve(handler, args, source, stdout)
    with _stdout_to_stderr() as response_fd:
        return _native.serve(handler, args, source, response_fd)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[int]:
    """Points fd 1 and ``sys.stdout`` at stderr; yields a private descriptor of the real stdout."""
    _flush(sys.stdout)
    response_fd = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield response_fd
    finally:
        # Whatever the handler left in Python's stdout buffer belongs to stderr, not the response.
        _flush(sys.stdout)
        _flush(sys.__stdout__)
        os.dup2(response_fd, 1)
        os.close(response_fd)


def _flush(stream: object) -> None:
    with contextlib.suppress(Exception):
        stream.flush()  # type: ignore[attr-defined]


def run(handler: KmsHandler) -> NoReturn:
    """Serves one call with :func:`serve` and exits with its code: the ``main`` of a plugin."""
    sys.exit(serve(handler))
