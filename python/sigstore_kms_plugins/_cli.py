"""Console scripts: the bundled ``sigstore-kms`` CLI and the ``sigstore-kms-localkms`` and
``sigstore-kms-pkcs11`` plugins.

All three are the Rust programs, linked into the extension module, run with ``sys.argv``. Python's
own ``sys.stdout`` is flushed first and never written afterwards: the Rust code writes to file
descriptor 1 directly (a plugin must write exactly one JSON value there). SIGINT gets its
default action back, so Ctrl-C stops them as it stops the native programs.
"""

from __future__ import annotations

import signal
import sys
from typing import Callable, List, NoReturn

from . import _native


def _run(main: Callable[[List[str]], int]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main(list(sys.argv)))


def cli_main() -> NoReturn:
    """``sigstore-kms``: list, test and use KMS plugins."""
    _run(_native.cli_main)


def localkms_main() -> NoReturn:
    """``sigstore-kms-localkms``: the bundled plugin keeping keys in local PEM files."""
    _run(_native.localkms_main)


def pkcs11_main() -> NoReturn:
    """``sigstore-kms-pkcs11``: the bundled plugin for HSMs and tokens through PKCS#11."""
    _run(_native.pkcs11_main)
