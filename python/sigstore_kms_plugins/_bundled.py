"""Where this installation's plugin programs live: the directories searched after ``PATH``.

pip puts a wheel's programs (our ``sigstore-kms-localkms`` console script, and the
``sigstore-kms-NAME`` binaries of the provider wheels behind the extras, such as
``sigstore-kms-plugins[aws]``) in the *scripts* directory of the scheme it installed into:
``<venv>/bin`` for a virtual environment, ``~/.local/bin`` for ``pip install --user``,
``/usr/local/bin`` or the like for a system install. That directory is on ``PATH`` only inside
an activated venv or a login shell that set it up, so the host searches it explicitly, after
``PATH``: a script run as ``/path/to/venv/bin/python app.py`` still finds the bundled plugin, and
a user's own program of the same name on ``PATH`` still wins.

The directories come from the installed distributions' ``RECORD`` files (exactly where pip
wrote each program, whatever the scheme, ``--prefix`` and ``--target`` included), then from
``sysconfig`` for the scheme whose library directory holds this package (for installs without
a ``RECORD`` entry, such as editable ones). Only absolute paths are returned; nothing is ever
resolved against the current directory.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import List, Optional

from . import _native

# The distribution of this package, and the prefix of the provider wheels' distributions,
# each named `sigstore-kms-plugins-NAME` and required by one extra of ours.
_DIST = "sigstore-kms-plugins"
_PROVIDER_PREFIX = "sigstore-kms-plugins-"
_PROGRAM_PREFIX = "sigstore-kms-"


def plugin_dirs() -> List[Path]:
    """The directories of the plugin programs installed with this package, best first.

    Every host call, :func:`list_plugins` and the bundled ``sigstore-kms`` CLI search them after
    ``PATH`` (``PATH`` wins, so your own ``sigstore-kms-NAME`` shadows ours). Worked out once
    per process. Empty when there is none (for instance when the package is imported from a
    source tree without being installed). To let another program, such as cosign, find the
    bundled plugins, put them on its ``PATH``::

        PATH="$(python -c 'import sigstore_kms_plugins as s; print(*s.plugin_dirs(), sep=":")'):$PATH" cosign ...
    """
    return _native.plugin_dirs()


def _compute_plugin_dirs() -> List[str]:
    """What :func:`plugin_dirs` returns, worked out afresh (the native module caches it)."""
    here = os.path.dirname(os.path.abspath(__file__))
    found: List[str] = []
    for dist_name in [_DIST, *_provider_dists()]:
        found.extend(_record_dirs(dist_name, here if dist_name == _DIST else None))
    scheme_dir = _scheme_scripts_dir(os.path.dirname(here))
    if scheme_dir is not None:
        found.append(scheme_dir)
    out: List[str] = []
    for d in found:
        d = os.path.normpath(d)
        if os.path.isabs(d) and os.path.isdir(d) and d not in out:
            out.append(d)
    return out


def _distribution(name: str) -> Optional[metadata.Distribution]:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _provider_dists() -> List[str]:
    """The provider distributions our extras name (``sigstore-kms-plugins-awskms; extra == "aws"``)."""
    dist = _distribution(_DIST)
    names = []
    for req in (dist.requires if dist is not None else None) or []:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m and m.group(1).lower().replace("_", "-").startswith(_PROVIDER_PREFIX):
            names.append(m.group(1))
    return names


def _record_dirs(name: str, package_dir: Optional[str]) -> List[str]:
    """Where pip wrote the ``sigstore-kms-*`` programs of distribution ``name`` (its RECORD).

    With ``package_dir``, only the distribution that installed that directory counts: another
    copy of the package earlier on ``sys.path`` says nothing about where this one's programs are.
    """
    dist = _distribution(name)
    if dist is None:
        return []
    files = dist.files
    if not files:
        return []
    if package_dir is not None:
        # The RECORD of a regular install lists our __init__.py; an editable one (maturin
        # develop, pip install -e) lists none, and then its programs are still ours.
        init = os.path.normpath(os.path.join(package_dir, "__init__.py"))
        listed = [f for f in files if str(f).replace(os.sep, "/").endswith("sigstore_kms_plugins/__init__.py")]
        if listed and all(os.path.normpath(os.path.abspath(str(dist.locate_file(f)))) != init for f in listed):
            return []
    dirs = []
    for f in files:
        parts = str(f).replace(os.sep, "/").split("/")
        # Programs only: not the package's modules or the metadata (an SBOM is named after us).
        if parts[0].endswith(".dist-info") or parts[0] == "sigstore_kms_plugins":
            continue
        if parts[-1].startswith(_PROGRAM_PREFIX) and not parts[-1].endswith((".py", ".pyc", ".pyi", ".so", ".json")):
            parent = os.path.dirname(os.path.abspath(str(dist.locate_file(f))))
            if parent not in dirs:
                dirs.append(parent)
    return dirs


def _scheme_scripts_dir(site_dir: str) -> Optional[str]:
    """The scripts directory of the install scheme whose library directory is ``site_dir``."""
    site_dir = os.path.normpath(site_dir)
    schemes = []
    default = getattr(sysconfig, "get_default_scheme", None)  # Python >= 3.10
    if default is not None:
        schemes.append(default())
    schemes.extend(s for s in ("venv", f"{os.name}_user", f"{os.name}_prefix", "posix_local") if s not in schemes)
    available = sysconfig.get_scheme_names()
    for scheme in schemes:
        if scheme not in available:
            continue
        try:
            paths = sysconfig.get_paths(scheme)
        except KeyError:
            continue
        libs = {os.path.normpath(paths.get(k, "")) for k in ("purelib", "platlib")}
        if site_dir in libs and paths.get("scripts"):
            return paths["scripts"]
    # The running interpreter's own scheme, when the package sits under its prefix.
    if site_dir.startswith(os.path.normpath(sys.prefix) + os.sep):
        return sysconfig.get_path("scripts")
    return None
