"""The exceptions of ``sigstore_kms_plugins``.

Every error from discovering or calling a plugin is a :class:`KmsPluginError`; the subclass
tells what went wrong, and ``.kind`` carries the Rust core's stable ``ErrorKind`` name:

=========================  ====================  ==============================================
class                      ``.kind``             when
=========================  ====================  ==============================================
InvalidKeyURIError         ``InvalidKeyUri``     the URI is not ``NAME://REF`` with a valid NAME
                                                 (also a :class:`ValueError`); nothing was run
PluginNotFoundError        ``PluginNotFound``    no executable ``sigstore-kms-NAME`` on the
                                                 search path (``.searched`` lists where we looked)
PluginExecutionError       ``Exec``              the plugin could not be started, was killed by a
                                                 signal, or the call was interrupted
PluginTimeoutError         ``Timeout``           the call did not finish in time; the plugin's
                                                 process group was killed (also a
                                                 :class:`TimeoutError`)
PluginResponseError        ``InvalidResponse``   the plugin's stdout is not a valid answer
PluginReturnedError        ``PluginReturned``    the plugin answered with an error; ``.message``
                                                 is its text
OutputTooLargeError        ``OutputTooLarge``    the plugin wrote more than ``stdout_limit``
                                                 bytes; it was killed
=========================  ====================  ==============================================

``str(error)`` is the full explanation (which plugin, which method, what to do).
``.stderr_tail`` holds the end of the plugin's stderr when it was captured
(``stderr="capture"``). ``__cause__`` is set where it helps: the :class:`OSError` behind an
execution failure, or the exception an in-process provider raised.

:class:`HandlerError` is for the other side: raise it from a handler method (a Python plugin
or an in-process provider) to answer with exactly that error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Tuple

__all__ = [
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


class KmsPluginError(Exception):
    """An error from discovering or calling a KMS plugin (or in-process provider)."""

    #: The kind a subclass stands for, used when ``kind`` is not given.
    default_kind = "Unknown"

    kind: str
    """The core's ``ErrorKind`` name, e.g. ``"PluginReturned"``: stable, for matching."""
    stderr_tail: Optional[str]
    """The last lines of the plugin's stderr, when it was captured; else ``None``."""
    plugin: Optional[str]
    """The program name (``sigstore-kms-NAME``) or provider prefix, when known."""
    method: Optional[str]
    """The protocol method of the failed call (``"signMessage"``, ...), when known."""
    program_path: Optional[Path]
    """The absolute path of the program that was run, when one was."""
    message: Optional[str]
    """The plugin's own error text (:class:`PluginReturnedError`), control characters escaped."""
    searched: Tuple[Path, ...]
    """The directories searched (:class:`PluginNotFoundError`)."""

    def __init__(
        self,
        text: str,
        *,
        kind: Optional[str] = None,
        stderr_tail: Optional[str] = None,
        plugin: Optional[str] = None,
        method: Optional[str] = None,
        program_path: Optional[Path] = None,
        message: Optional[str] = None,
        searched: Iterable[Path] = (),
    ) -> None:
        super().__init__(text)
        self.kind = kind if kind is not None else self.default_kind
        self.stderr_tail = stderr_tail
        self.plugin = plugin
        self.method = method
        self.program_path = program_path
        self.message = message
        self.searched = tuple(searched)

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keep the keyword-only attributes through pickle (multiprocessing, concurrent.futures).
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type, text: str, state: dict) -> KmsPluginError:  # type: ignore[type-arg]
    error: KmsPluginError = cls(text)
    error.__dict__.update(state)
    return error


class InvalidKeyURIError(KmsPluginError, ValueError):
    """The key URI is not ``NAME://REF`` with a valid plugin name; nothing was run."""

    default_kind = "InvalidKeyUri"


class PluginNotFoundError(KmsPluginError):
    """No executable ``sigstore-kms-NAME`` on the search path."""

    default_kind = "PluginNotFound"


class PluginExecutionError(KmsPluginError):
    """The plugin could not be started, died of a signal, or the call was interrupted."""

    default_kind = "Exec"


class PluginTimeoutError(KmsPluginError, TimeoutError):
    """The call did not finish before its timeout; the plugin's process group was killed."""

    default_kind = "Timeout"


class PluginResponseError(KmsPluginError):
    """The plugin's output is not a valid response for the method."""

    default_kind = "InvalidResponse"


class PluginReturnedError(KmsPluginError):
    """The plugin answered with an error; :attr:`message` holds its text."""

    default_kind = "PluginReturned"


class OutputTooLargeError(KmsPluginError):
    """The plugin wrote more than the stdout limit; it was killed."""

    default_kind = "OutputTooLarge"


class HandlerError(Exception):
    """Raise from a handler method to answer with ``str(error)`` as the plugin's error message.

    Any other exception is answered too, as ``"TypeName: text"``; a plugin program also prints
    its traceback to stderr, which is meant for unexpected failures.
    """
