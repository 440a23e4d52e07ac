"""Sigstore KMS plugins from Python: sign and verify with any key a ``sigstore-kms-NAME``
plugin (or an in-process provider) holds, and write such plugins.

.. code-block:: python

    import pathlib
    from sigstore_kms_plugins import get_signer_verifier

    sv = get_signer_verifier("localkms:///keys/release.pem")
    signature = sv.sign_message(pathlib.Path("dist/app.tar.gz"))   # streamed
    sv.public_key_object().verify(...)                             # with `cryptography`

* :func:`get_signer_verifier` → :class:`SignerVerifier` (blocking, GIL released, thread-safe);
  :func:`get_async_signer_verifier` / :attr:`SignerVerifier.aio` → :class:`AsyncSignerVerifier`.
* :func:`list_plugins`: the plugins on ``PATH`` and bundled ones (:func:`plugin_dirs`).
* :func:`register_provider`: serve a key URI prefix with a Python handler, in process.
* :mod:`sigstore_kms_plugins.plugin`: write a plugin program in Python.
* :mod:`sigstore_kms_plugins.sigstore`: Sigstore bundles signed with a KMS key, verified against a
  public key; :mod:`sigstore_kms_plugins.securesystemslib`: a securesystemslib ``Signer``
  (python-tuf, in-toto).
* :mod:`sigstore_kms_plugins.errors`: every error is a :class:`KmsPluginError`.

The Rust core is byte-compatible with the Go reference
(``github.com/sigstore/sigstore/pkg/signature/kms/cliplugin``), protocol v1.
"""

from __future__ import annotations

from . import _native
from ._client import (
    DEFAULT_STDOUT_LIMIT,
    DEFAULT_TIMEOUT,
    OPTIONS,
    Message,
    OptionSpec,
    OptionSpelling,
    PluginInfo,
    SearchPath,
    SignerVerifier,
    StderrMode,
    get_signer_verifier,
    list_plugins,
    register_provider,
    registered_providers,
    unregister_provider,
)
from ._types import CallContext, HashFunc, HashFuncLike, MessageOptions
from .aio import AsyncSignerVerifier, get_async_signer_verifier
from .errors import (
    HandlerError,
    InvalidKeyURIError,
    KmsPluginError,
    OutputTooLargeError,
    PluginExecutionError,
    PluginNotFoundError,
    PluginResponseError,
    PluginReturnedError,
    PluginTimeoutError,
)
from .handler import Handler, KmsHandler
from .keys import load_public_key
from ._bundled import plugin_dirs

__version__: str = _native.__version__

__all__ = [
    "__version__",
    "get_signer_verifier",
    "get_async_signer_verifier",
    "SignerVerifier",
    "AsyncSignerVerifier",
    "Message",
    "SearchPath",
    "StderrMode",
    "DEFAULT_TIMEOUT",
    "DEFAULT_STDOUT_LIMIT",
    "OPTIONS",
    "OptionSpec",
    "OptionSpelling",
    "HashFunc",
    "HashFuncLike",
    "list_plugins",
    "plugin_dirs",
    "PluginInfo",
    "register_provider",
    "unregister_provider",
    "registered_providers",
    "Handler",
    "KmsHandler",
    "CallContext",
    "MessageOptions",
    "load_public_key",
    "KmsPluginError",
    "InvalidKeyURIError",
    "PluginNotFoundError",
    "PluginExecutionError",
    "PluginTimeoutError",
    "PluginResponseError",
    "PluginReturnedError",
    "OutputTooLargeError",
    "HandlerError",
]
