#!/usr/bin/env python3
"""`make dist`: the release artifacts, built once, in dist/.

    dist/sigstore_kms_plugins-V-cp39-abi3-manylinux_2_17_x86_64.whl   Python (abi3, CPython >= 3.9)
    dist/sigstore_kms_plugins-V.tar.gz                                Python sdist
    dist/sigstore_kms_plugins_NAME-V-py3-none-manylinux_2_17_x86_64.whl   one per provider
    dist/sigstore-kms-plugins-V.tgz                 npm main package: JavaScript and types only
    dist/sigstore-kms-plugins-linux-x64-gnu-V.tgz   npm platform package: addon + bundled plugins
    dist/sigstore-kms-plugins-NAME[-linux-x64-gnu]-V.tgz                  one pair per provider
    dist/manifest.json, dist/SHA256SUMS

How (see packaging/README.md):
  1. one `napi build --release` (one cargo invocation) builds the Node addon, the bundled
     `sigstore-kms-localkms` program and every provider program in packaging/providers.json,
     and regenerates node/native.d.ts (a stale committed copy fails the build, as `npm test` did);
  2. one `maturin build --release` builds the abi3 wheel; it reuses every crate of step 1 whose
     features agree; `maturin sdist` writes the sdist;
  3. the provider wheels and all npm packages are assembled from those binaries (no compiler);
  4. everything native is linked with zig against glibc 2.17 and checked: auditwheel for the
     wheels, the ELF symbol versions for the npm binaries; sizes are printed.

Release profile: Cargo.toml [profile.release] (stripped). Environment:
  SKP_DIST_ZIG=0            link with the system toolchain instead of zig (glibc of this machine)
  SKP_DIST_SKIP_PYTHON=1    skip the Python wheel and sdist (step 2), e.g. to iterate on npm
  XDG_CACHE_HOME            where the tool virtualenv lives (sigstore-kms-plugins/dist-tools)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sigstore-kms-plugins"
TOOLS_VENV = CACHE / "dist-tools"
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target").resolve()

# The one target built and tested today. Adding one means a row here and a CI machine for it.
TRIPLE = "x86_64-unknown-linux-gnu"
NPM_PLATFORM = "linux-x64-gnu"  # napi-rs's name for TRIPLE
NPM_OS, NPM_CPU, NPM_LIBC = "linux", "x64", "glibc"
GLIBC = (2, 17)
WHEEL_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
MANYLINUX_POLICY = "manylinux_2_17_x86_64"

PACKAGE = "sigstore-kms-plugins"  # the Python distribution and the npm package
ADDON_NAME = f"{PACKAGE}.{NPM_PLATFORM}.node"
BUNDLED_PROGRAMS = ["sigstore-kms-localkms"]  # cargo binaries shipped in every platform package
EXTRAS_BEGIN = "# BEGIN provider extras (generated from packaging/providers.json by `make dist`; do not edit)"
EXTRAS_END = "# END provider extras"

MB = 1024 * 1024


class DistError(Exception):
    """A failure to report as `error: ...` with exit status 1."""


def step(title: str) -> float:
    print(f"\n==> {title}", file=sys.stderr, flush=True)
    return time.monotonic()


def done(started: float, what: str) -> None:
    print(f"    {what}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def run(cmd: List[Any], *, env: Optional[Dict[str, str]] = None, cwd: Path = ROOT, capture: bool = False) -> str:
    shown = " ".join(str(c) for c in cmd)
    print(f"    $ {shown}", file=sys.stderr, flush=True)
    r = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    if r.returncode != 0:
        raise DistError(f"{Path(str(cmd[0])).name} failed (exit status {r.returncode}): {shown}")
    return r.stdout if capture else ""


# --- inputs -----------------------------------------------------------------------------------


def workspace_version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    if not m:
        raise DistError("no [workspace.package] version in Cargo.toml")
    return m.group(1)


def load_providers(path: Path = PACKAGING / "providers.json") -> List[Dict[str, Any]]:
    """The provider table, checked."""
    return load_providers_from(json.loads(path.read_text()), str(path))


def load_providers_from(data: Dict[str, Any], path: str = "providers") -> List[Dict[str, Any]]:
    """The provider entries of `data` (providers.json's shape), checked and completed.

    Each entry: `name` (the provider, the suffix of its package names), `crate` (the cargo
    package), `plugins` (the plugin names it serves, default `[name]`: one cargo binary
    `sigstore-kms-PLUGIN` each), `extras` (the Python extras that install it, default `[name]`),
    `base` (true: shipped inside the base artifacts, not as packages of its own), `summary`.
    """
    providers = data.get("providers")
    if not isinstance(providers, list):
        raise DistError(f"{path}: `providers` must be a list")
    seen_names: set = set()  # type: ignore[type-arg]
    seen_plugins = {"localkms"}  # the bundled plugin of the base packages
    out = []
    known = {"name", "crate", "plugins", "extras", "base", "summary"}
    for i, p in enumerate(providers):
        where = f"{path} providers[{i}]"
        if not isinstance(p, dict):
            raise DistError(f"{where}: each entry must be an object (see packaging/README.md)")
        unknown = sorted(set(p) - known)
        if unknown:
            raise DistError(f"{where}: unknown field(s) {unknown}; the fields are {sorted(known)}")
        name = p.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise DistError(f"{where}: `name` must be a provider name such as \"awskms\" (lowercase, digits, '-')")
        if name in seen_names:
            raise DistError(f"{where}: provider `{name}` is listed twice")
        seen_names.add(name)
        plugins = p.get("plugins", [name])
        if not isinstance(plugins, list) or not plugins or not all(isinstance(x, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]*", x) for x in plugins):
            raise DistError(f"{where}: `plugins` must be a non-empty list of plugin names such as [\"hashivault\", \"openbao\"]")
        for plugin in plugins:
            if plugin in seen_plugins:
                raise DistError(f"{where}: plugin `{plugin}` is already shipped (by another entry or as the bundled plugin)")
            seen_plugins.add(plugin)
        extras = p.get("extras", [name])
        if not isinstance(extras, list) or not all(isinstance(e, str) and re.fullmatch(r"[a-z0-9-]+", e) for e in extras):
            raise DistError(f"{where}: `extras` must be a list of extra names such as [\"aws\"]")
        if "all" in extras:
            raise DistError(f"{where}: the extra `all` is made by `make dist` (every optional provider)")
        base = p.get("base", False)
        if not isinstance(base, bool):
            raise DistError(f"{where}: `base` must be true or false")
        for key in ("crate", "summary"):
            if not isinstance(p.get(key), str) or not p[key]:
                raise DistError(f"{where}: `{key}` is required (a non-empty string)")
        out.append(
            {
                "name": name,
                "crate": p["crate"],
                "plugins": plugins,
                "programs": [f"sigstore-kms-{x}" for x in plugins],
                "extras": extras,
                "base": base,
                "summary": p["summary"],
                "python": f"{PACKAGE}-{name}",
                "npm": f"{PACKAGE}-{name}",
            }
        )
    return out


def optional(providers: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The providers shipped as packages of their own (wheel + npm pair)."""
    return [p for p in providers if not p["base"]]


def base_programs(providers: List[Dict[str, Any]]) -> List[str]:
    """The programs of the base packages: the bundled localkms, then the base providers'."""
    return [*BUNDLED_PROGRAMS, *[prog for p in providers if p["base"] for prog in p["programs"]]]


# --- tools ------------------------------------------------------------------------------------


class Tools:
    """maturin, ziglang and auditwheel in their own virtualenv; napi from the repo's node_modules."""

    def __init__(self) -> None:
        self.python = TOOLS_VENV / "bin" / "python"
        self.maturin = TOOLS_VENV / "bin" / "maturin"
        self.auditwheel = TOOLS_VENV / "bin" / "auditwheel"
        self.napi = ROOT / "node_modules" / ".bin" / "napi"

    def ensure(self) -> None:
        started = step("dist tools (maturin, ziglang, auditwheel; @napi-rs/cli)")
        reqs = PACKAGING / "requirements-dist.txt"
        stamp = TOOLS_VENV / ".requirements"
        if not self.python.exists():
            run([sys.executable, "-m", "venv", TOOLS_VENV])
        if not stamp.exists() or stamp.read_text() != reqs.read_text():
            env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
            run([self.python, "-m", "pip", "install", "--quiet", "-r", reqs], env=env)
            stamp.write_text(reqs.read_text())
        if not self.napi.exists():
            # The dev tools only: the checkout's own install script (a source build) is not run.
            run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        done(started, "tools")

    def build_env(self, zig: bool) -> Dict[str, str]:
        """The environment of both cargo invocations: the same for both, so they share crates."""
        env = dict(os.environ)
        env["PATH"] = f"{TOOLS_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        if not zig:
            return env
        wrappers = TARGET_DIR / "dist-zig"
        wrappers.mkdir(parents=True, exist_ok=True)
        zig_env = (
            f"export CARGO_ZIGBUILD_ZIG_COMMAND='{self.python}'\n"
            "export CARGO_ZIGBUILD_ZIG_COMMAND_ARGS='-m ziglang'\n"
        )
        target = f"x86_64-linux-gnu.{GLIBC[0]}.{GLIBC[1]}"
        scripts = {
            "cc": f'exec "{self.maturin}" zig cc -- -fno-sanitize=all -target {target} "$@"\n',
            "ar": f'exec "{self.maturin}" zig ar -- "$@"\n',
        }
        for name, body in scripts.items():
            path = wrappers / f"zig{name}"
            text = "#!/bin/sh\n# Written by packaging/dist.py: link for glibc %d.%d with zig.\n%s%s" % (*GLIBC, zig_env, body)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                path.chmod(0o755)
        var = TRIPLE.replace("-", "_")
        env[f"CARGO_TARGET_{var.upper()}_LINKER"] = str(wrappers / "zigcc")
        env[f"CC_{var}"] = str(wrappers / "zigcc")
        env[f"AR_{var}"] = str(wrappers / "zigar")
        return env


# --- step 1: Node addon and programs ----------------------------------------------------------


def build_native(tools: Tools, env: Dict[str, str], providers: List[Dict[str, Any]], stage: Path) -> Dict[str, Path]:
    """One cargo invocation (through napi, for the type definitions) for the addon and programs."""
    started = step("Node addon, bundled plugins and provider programs (napi build --release)")
    out = stage / "napi"
    shutil.rmtree(out, ignore_errors=True)
    cargo_args = ["--lib", "-p", "sigstore-kms-localkms", "--bin", "sigstore-kms-localkms"]
    for p in providers:
        cargo_args += ["-p", p["crate"], *[a for prog in p["programs"] for a in ("--bin", prog)]]
    run(
        [
            tools.napi, "build", "--release", "--manifest-path", "node/Cargo.toml", "--package", "sigstore-kms-node",
            "--target", TRIPLE, "--output-dir", out, "--dts", "native.d.ts", "--", *cargo_args,
        ],
        env=env,
    )
    done(started, "native build")
    release = TARGET_DIR / TRIPLE / "release"
    files = {"addon": out / f"{PACKAGE}.node", "dts": out / "native.d.ts"}
    for program in BUNDLED_PROGRAMS:
        files[program] = release / program
    for p in providers:
        for prog in p["programs"]:
            files[prog] = release / prog
    for what, path in files.items():
        if not path.is_file():
            raise DistError(f"the build produced no {what} at {path}")
    check_dts(files["dts"])
    return files


def check_dts(generated: Path) -> None:
    """node/native.d.ts must be what the Rust sources generate (it ships in the main package)."""
    committed = ROOT / "node" / "native.d.ts"
    new = generated.read_text()
    if committed.exists() and committed.read_text() == new:
        print("    node/native.d.ts is current", file=sys.stderr)
        return
    committed.write_text(new)
    raise DistError(
        "node/native.d.ts was out of date with the Rust sources; it has been regenerated: review the change "
        "(git diff node/native.d.ts) and commit it"
    )


# --- step 2: Python wheel and sdist -----------------------------------------------------------


def sync_pyproject(providers: List[Dict[str, Any]], version: str) -> None:
    """Writes the provider extras into pyproject.toml; a stale committed block fails the build."""
    path = ROOT / "pyproject.toml"
    text = path.read_text()
    if EXTRAS_BEGIN not in text or EXTRAS_END not in text:
        raise DistError(f"pyproject.toml lacks the lines {EXTRAS_BEGIN!r} ... {EXTRAS_END!r}")
    extras: Dict[str, List[str]] = {}
    for p in providers:
        for extra in p["extras"]:
            # A base provider's extra installs nothing more (its program is in the main wheel):
            # it exists so that a requirement such as `sigstore-kms-plugins[pkcs11]` is valid.
            reqs = extras.setdefault(extra, [])
            if not p["base"]:
                reqs.append(f"{p['python']}=={version}")
    lines = [f"{extra} = {json.dumps(reqs)}" for extra, reqs in sorted(extras.items())]
    if optional(providers):
        everything = sorted(p["python"] + "==" + version for p in optional(providers))
        lines.append(f"all = {json.dumps(everything)}")
    scripts = pyproject_scripts(text)
    for p in providers:
        missing = [prog for prog in p["programs"] if p["base"] and prog not in scripts]
        if missing:
            raise DistError(
                f"packaging/providers.json ships provider `{p['name']}` in the base packages (\"base\": true), but "
                f"pyproject.toml's [project.scripts] has no {', '.join(missing)}: the main wheel carries a base "
                "provider's program as a console script served by the extension module (as sigstore-kms-localkms; "
                "python/sigstore_kms_plugins/_cli.py). Add it, or make the provider optional (drop \"base\")"
            )
    head, rest = text.split(EXTRAS_BEGIN, 1)
    _, tail = rest.split(EXTRAS_END, 1)
    new = head + EXTRAS_BEGIN + "\n" + "".join(line + "\n" for line in lines) + EXTRAS_END + tail
    if new != text:
        path.write_text(new)
        raise DistError(
            "pyproject.toml's provider extras were out of date with packaging/providers.json; they have been "
            "regenerated: review the change (git diff pyproject.toml) and commit it"
        )


def pyproject_scripts(text: str) -> Dict[str, str]:
    """pyproject.toml's [project.scripts] table."""
    try:
        import tomllib  # Python >= 3.11

        return dict(tomllib.loads(text).get("project", {}).get("scripts", {}))
    except ImportError:
        m = re.search(r"^\[project\.scripts\]\n(.*?)(?=^\[)", text, re.M | re.S)
        return dict(re.findall(r'^([A-Za-z0-9._-]+)\s*=\s*"([^"]*)"', m.group(1), re.M)) if m else {}


def build_python(tools: Tools, env: Dict[str, str], zig: bool, out: Path) -> Tuple[Path, Path]:
    started = step("Python wheel (maturin build --release) and sdist")
    before = set(out.glob("*.whl"))
    compat = ["--compatibility", "manylinux2014"] if zig else []
    run(
        [tools.maturin, "build", "--release", "--target", TRIPLE, "--auditwheel", "check", *compat, "--out", out],
        env=env,
    )
    wheels = sorted(set(out.glob("sigstore_kms_plugins-*.whl")) - before)
    if len(wheels) != 1:
        raise DistError(f"maturin wrote {len(wheels)} wheels, expected one: {wheels}")
    done(started, "wheel")
    started = time.monotonic()
    run([tools.maturin, "sdist", "--out", out], env=env)
    sdists = sorted(out.glob("sigstore_kms_plugins-*.tar.gz"))
    if len(sdists) != 1:
        raise DistError(f"expected one sdist in {out}, found {sdists}")
    done(started, "sdist")
    return wheels[0], sdists[0]


# --- step 3a: provider wheels (a program in the wheel's scripts, like maturin's "bin" wheels) ---


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_program_wheel(provider: Dict[str, Any], programs: Dict[str, Path], version: str, out: Path) -> Path:
    """A wheel whose only payload is the provider's `programs` (name -> built file), installed
    into the scripts directory (`bin`)."""
    dist = provider["python"].replace("-", "_")
    tag = "py3-none-" + ".".join(WHEEL_PLATFORMS)
    wheel = out / f"{dist}-{version}-{tag}.whl"
    info = f"{dist}-{version}.dist-info"
    readme = (
        f"# {provider['python']}\n\n{provider['summary']}\n\n"
        f"The {describe_programs(provider)} of "
        f"[sigstore-kms-plugins](https://github.com/sigstore-kms-plugins/sigstore-kms-plugins). "
        "Install it with the extra of the main package:\n\n"
        f"```sh\npip install 'sigstore-kms-plugins[{provider['extras'][0]}]'\n```\n\n"
        "The host finds the program in the environment's scripts directory, with no PATH change.\n"
    )
    metadata = "".join(
        [
            "Metadata-Version: 2.4\n",
            f"Name: {provider['python']}\n",
            f"Version: {version}\n",
            f"Summary: {provider['summary']}\n",
            "License-Expression: Apache-2.0\n",
            "License-File: LICENSE\n",
            "Requires-Python: >=3.9\n",
            *[f"Classifier: {c}\n" for c in python_classifiers()],
            "Project-URL: Repository, https://github.com/sigstore-kms-plugins/sigstore-kms-plugins\n",
            "Description-Content-Type: text/markdown\n",
            "\n",
            readme,
        ]
    )
    wheel_meta = "Wheel-Version: 1.0\nGenerator: sigstore-kms-plugins packaging/dist.py\nRoot-Is-Purelib: false\n"
    wheel_meta += "".join(f"Tag: py3-none-{p}\n" for p in WHEEL_PLATFORMS)
    entries: List[Tuple[str, bytes, int]] = [
        *[(f"{dist}-{version}.data/scripts/{prog}", programs[prog].read_bytes(), 0o755) for prog in provider["programs"]],
        (f"{info}/METADATA", metadata.encode(), 0o644),
        (f"{info}/WHEEL", wheel_meta.encode(), 0o644),
        (f"{info}/licenses/LICENSE", (ROOT / "LICENSE").read_bytes(), 0o644),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data, _ in entries)
    record += f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode(), 0o644))
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = (0o100000 | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return wheel


def describe_programs(provider: Dict[str, Any]) -> str:
    """`the `sigstore-kms-X` plugin program (key URIs `X://...`)`, for one or more programs."""
    names = ", ".join(f"`{prog}`" for prog in provider["programs"])
    uris = ", ".join(f"`{x}://...`" for x in provider["plugins"])
    noun = "plugin program" if len(provider["programs"]) == 1 else "plugin programs"
    return f"{names} {noun} (key URIs {uris})"


def python_classifiers() -> List[str]:
    """The classifiers of pyproject.toml (the main package's), shared by the provider wheels."""
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(r"^classifiers\s*=\s*\[(.*?)\]", text, re.M | re.S)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def check_wheel(tools: Tools, wheel: Path) -> str:
    """auditwheel's verdict; the wheel must be manylinux_2_17 (manylinux2014) as its tag says."""
    text = run([tools.auditwheel, "show", wheel], capture=True)
    flat = " ".join(text.split())
    if f'"{MANYLINUX_POLICY}"' not in flat and MANYLINUX_POLICY not in flat:
        raise DistError(f"auditwheel does not find {wheel.name} {MANYLINUX_POLICY}-compliant:\n{text}")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    if not any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names):
        raise DistError(f"{wheel.name} has no LICENSE in its .dist-info")
    return flat


# --- step 3b: npm packages --------------------------------------------------------------------


def max_glibc(tools: Tools, files: Iterable[Path]) -> Dict[str, Tuple[int, ...]]:
    """The newest GLIBC_x.y symbol version each ELF file needs (pyelftools, from auditwheel's venv)."""
    script = r"""
import json, re, sys
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
out = {}
for path in sys.argv[1:]:
    best = (0,)
    with open(path, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for _, auxes in section.iter_versions():
                    for aux in auxes:
                        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", aux.name)
                        if m:
                            best = max(best, tuple(int(x) for x in m.group(1).split(".")))
    out[path] = best
print(json.dumps(out))
"""
    helper = TARGET_DIR / "dist-stage" / "max_glibc.py"
    helper.parent.mkdir(parents=True, exist_ok=True)
    helper.write_text(script)
    text = run([tools.python, helper, *files], capture=True)
    return {k: tuple(v) for k, v in json.loads(text).items()}


def npm_pack(directory: Path, out: Path) -> Dict[str, Any]:
    text = run(["npm", "pack", "--json", "--ignore-scripts", "--no-update-notifier", "--pack-destination", out], cwd=directory, capture=True)
    info = json.loads(text)[0]
    return {"file": info["filename"], "size": info["size"], "unpackedSize": info["unpackedSize"], "files": len(info["files"])}


def root_package() -> Dict[str, Any]:
    return json.loads((ROOT / "package.json").read_text())


def common_npm_fields(root: Dict[str, Any]) -> Dict[str, Any]:
    return {k: root[k] for k in ("license", "repository", "engines") if k in root}


def stage_npm_main(root: Dict[str, Any], version: str, providers: List[Dict[str, Any]], stage: Path) -> Path:
    """The main package: the checkout's JavaScript, types and bin scripts; no native code.

    The optional providers among `providers` become optional peer dependencies, listed for
    node/binding.js; the base ones are in the platform package already."""
    providers = optional(providers)
    d = stage / "npm" / PACKAGE
    shutil.rmtree(d, ignore_errors=True)
    (d / "node" / "bin").mkdir(parents=True)
    node = ROOT / "node"
    for f in sorted(node.iterdir()):
        if f.is_file() and re.search(r"\.(js|mjs|d\.ts|d\.mts)$", f.name):
            shutil.copy2(f, d / "node" / f.name)
    for f in sorted((node / "bin").iterdir()):
        shutil.copy2(f, d / "node" / "bin" / f.name)
    shutil.copy2(node / "README.md", d / "README.md")
    shutil.copy2(ROOT / "LICENSE", d / "LICENSE")
    platform_pkg = f"{PACKAGE}-{NPM_PLATFORM}"
    pkg: Dict[str, Any] = {
        "name": PACKAGE,
        "version": version,
        "description": root["description"],
        "keywords": root.get("keywords", []),
        **common_npm_fields(root),
        "os": [NPM_OS],
        "cpu": [NPM_CPU],
        "main": root["main"],
        "types": root["types"],
        "exports": root["exports"],
        "bin": root["bin"],
        "files": ["node/", "LICENSE", "README.md"],
    }
    for key in ("dependencies", "peerDependencies", "peerDependenciesMeta"):
        if root.get(key):
            pkg[key] = dict(root[key])
    pkg["optionalDependencies"] = {platform_pkg: version}
    if providers:
        # Optional peers: installed only when the application asks for them, and resolvable from
        # this package under every layout (pnpm's too); the versions move together.
        pkg.setdefault("peerDependencies", {}).update({p["npm"]: version for p in providers})
        pkg.setdefault("peerDependenciesMeta", {}).update({p["npm"]: {"optional": True} for p in providers})
    # node/binding.js reads this list to find the installed provider packages' plugins/.
    pkg["sigstoreKmsPlugins"] = {"providers": {p["name"]: p["npm"] for p in providers}}
    (d / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    return d


def stage_npm_platform(
    name: str, version: str, root: Dict[str, Any], description: str, programs: Dict[str, Path], addon: Optional[Path], stage: Path, readme: str
) -> Path:
    """A platform package in napi-rs's layout: `NAME-linux-x64-gnu` with os/cpu/libc."""
    d = stage / "npm" / name
    shutil.rmtree(d, ignore_errors=True)
    (d / "plugins").mkdir(parents=True)
    files = ["plugins/", "LICENSE", "README.md"]
    pkg: Dict[str, Any] = {"name": name, "version": version, "description": description, **common_npm_fields(root)}
    pkg.update({"os": [NPM_OS], "cpu": [NPM_CPU], "libc": [NPM_LIBC]})
    if addon is not None:
        shutil.copy2(addon, d / ADDON_NAME)
        (d / ADDON_NAME).chmod(0o644)
        pkg["main"] = ADDON_NAME
        files.insert(0, ADDON_NAME)
    else:
        (d / "index.js").write_text(
            "'use strict';\n// The directory of this package's plugin programs, searched by sigstore-kms-plugins after PATH.\n"
            "module.exports = { pluginDir: require('node:path').join(__dirname, 'plugins') };\n"
        )
        pkg["main"] = "index.js"
        files.insert(0, "index.js")
    for program, path in programs.items():
        shutil.copy2(path, d / "plugins" / program)
        (d / "plugins" / program).chmod(0o755)
    pkg["files"] = files
    shutil.copy2(ROOT / "LICENSE", d / "LICENSE")
    (d / "README.md").write_text(readme)
    (d / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    return d


def stage_npm_provider_meta(provider: Dict[str, Any], version: str, root: Dict[str, Any], stage: Path) -> Path:
    """`sigstore-kms-plugins-NAME`: picks its platform package, exports where its programs are."""
    d = stage / "npm" / provider["npm"]
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    platform_pkg = f"{provider['npm']}-{NPM_PLATFORM}"
    (d / "index.js").write_text(
        "'use strict';\n"
        f"// {provider['npm']}: {', '.join(provider['programs'])}, plugin programs for sigstore-kms-plugins.\n"
        "// `pluginDir` is the directory holding them (in this machine's platform package), or null when\n"
        "// npm installed none for this platform; sigstore-kms-plugins searches it after PATH.\n"
        "let pluginDir = null;\n"
        "try {\n"
        f"  pluginDir = require({json.dumps(platform_pkg)}).pluginDir;\n"
        "} catch (err) {\n"
        "  if (!err || err.code !== 'MODULE_NOT_FOUND') throw err;\n"
        "}\n"
        f"module.exports = {{ pluginDir, programs: {json.dumps(provider['programs'])}, platformPackage: {json.dumps(platform_pkg)} }};\n"
    )
    readme = (
        f"# {provider['npm']}\n\n{provider['summary']}\n\n"
        f"The {describe_programs(provider)} for "
        "[sigstore-kms-plugins](https://www.npmjs.com/package/sigstore-kms-plugins): install both, and these "
        "key URIs work with no PATH change.\n\n"
        f"```sh\nnpm install sigstore-kms-plugins {provider['npm']}\n```\n"
    )
    (d / "README.md").write_text(readme)
    shutil.copy2(ROOT / "LICENSE", d / "LICENSE")
    pkg = {
        "name": provider["npm"],
        "version": version,
        "description": provider["summary"],
        **common_npm_fields(root),
        "os": [NPM_OS],
        "cpu": [NPM_CPU],
        "main": "index.js",
        "files": ["index.js", "LICENSE", "README.md"],
        "optionalDependencies": {platform_pkg: version},
    }
    (d / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    return d


def build_npm(
    tools: Tools, files: Dict[str, Path], providers: List[Dict[str, Any]], version: str, stage: Path, out: Path
) -> Dict[str, Any]:
    started = step("npm packages (main, platform, providers)")
    root = root_package()
    native = [files["addon"], *[files[prog] for p in providers for prog in p["programs"]], *[files[p] for p in BUNDLED_PROGRAMS]]
    too_new = {k: v for k, v in max_glibc(tools, native).items() if v > GLIBC}
    if too_new and os.environ.get("SKP_DIST_ZIG", "1") != "0":
        raise DistError(f"these need a glibc newer than {GLIBC}: {too_new}")
    result: Dict[str, Any] = {}
    result["main"] = npm_pack(stage_npm_main(root, version, providers, stage), out)
    platform_readme = (
        f"# {PACKAGE}-{NPM_PLATFORM}\n\nThe {NPM_PLATFORM} native addon of "
        f"[{PACKAGE}](https://www.npmjs.com/package/{PACKAGE}) and its bundled plugin programs "
        f"(`plugins/`: {', '.join(base_programs(providers))}). Installed by npm as an optional dependency of the "
        "main package; do not depend on it directly.\n"
    )
    platform_dir = stage_npm_platform(
        f"{PACKAGE}-{NPM_PLATFORM}",
        version,
        root,
        f"The {NPM_PLATFORM} native addon and bundled plugins of {PACKAGE}",
        {prog: files[prog] for prog in base_programs(providers)},
        files["addon"],
        stage,
        platform_readme,
    )
    result["platform"] = {NPM_PLATFORM: npm_pack(platform_dir, out)}
    result["providers"] = {}
    for p in optional(providers):
        meta = npm_pack(stage_npm_provider_meta(p, version, root, stage), out)
        readme = (
            f"# {p['npm']}-{NPM_PLATFORM}\n\nThe {NPM_PLATFORM} build of {', '.join(f'`{x}`' for x in p['programs'])} for "
            f"[{p['npm']}](https://www.npmjs.com/package/{p['npm']}); installed by npm as its optional dependency.\n"
        )
        plat = stage_npm_platform(
            f"{p['npm']}-{NPM_PLATFORM}", version, root, f"{p['summary']} ({NPM_PLATFORM})",
            {prog: files[prog] for prog in p["programs"]}, None, stage, readme,
        )
        result["providers"][p["name"]] = {"meta": meta, "platform": {NPM_PLATFORM: npm_pack(plat, out)}}
    done(started, "npm packages")
    return result


# --- main -------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def print_sizes(out: Path, manifest: Dict[str, Any]) -> None:
    rows = []
    for f in sorted(out.iterdir()):
        if f.suffix in (".whl", ".tgz") or f.name.endswith(".tar.gz"):
            rows.append((f.name, f.stat().st_size))
    print("\nartifact sizes (dist/):", file=sys.stderr)
    for name, size in rows:
        print(f"  {size / MB:8.2f} MB  {name}", file=sys.stderr)
    npm = manifest["npm"]
    installed = npm["main"]["unpackedSize"] + npm["platform"][NPM_PLATFORM]["unpackedSize"]
    print(f"  {installed / MB:8.2f} MB  unpacked: npm main + {NPM_PLATFORM} platform package (limit 25 MB)", file=sys.stderr)
    if "wheel" in manifest:
        print(f"  {manifest['wheel_size'] / MB:8.2f} MB  Python wheel (limit 8 MB)", file=sys.stderr)


def unpack(dist: Path, into: Path) -> None:
    """`--unpack DIR`: what `make test` tests instead of building again. The main platform
    package goes to DIR/package (the addon and its plugins/, for the Node suites), and every
    plugin program of every platform package to DIR/bin (for the provider end-to-end tests):
    the files users install, from the tarballs themselves."""
    import tarfile

    manifest_file = dist / "manifest.json"
    if not manifest_file.exists():
        raise DistError(f"{manifest_file} is missing: run `make dist` first")
    manifest = json.loads(manifest_file.read_text())
    shutil.rmtree(into, ignore_errors=True)
    (into / "bin").mkdir(parents=True)
    tarballs = [manifest["npm"]["platform"][NPM_PLATFORM]["file"]]
    tarballs += [v["platform"][NPM_PLATFORM]["file"] for v in manifest["npm"]["providers"].values()]
    for i, name in enumerate(tarballs):
        dest = into / "package" if i == 0 else into / "providers" / name[: -len(f"-{manifest['version']}.tgz")]
        dest.mkdir(parents=True)
        with tarfile.open(dist / name) as t:
            members = [m for m in t.getmembers() if m.isfile() or m.isdir()]
            for m in members:
                if not m.name.startswith("package/") or ".." in Path(m.name).parts:
                    raise DistError(f"{name}: unexpected member {m.name}")
                target = dest / m.name[len("package/"):]
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(t.extractfile(m).read())  # type: ignore[union-attr]
                target.chmod(m.mode & 0o755)
        for program in sorted((dest / "plugins").iterdir()):
            (into / "bin" / program.name).symlink_to(program)
    print(f"unpacked {len(tarballs)} platform packages into {into}: bin/ has {', '.join(sorted(p.name for p in (into / 'bin').iterdir()))}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    parser.add_argument("--providers", type=Path, default=PACKAGING / "providers.json", help="the provider table")
    parser.add_argument("--unpack", type=Path, metavar="DIR", help="build nothing: unpack dist/'s npm platform packages into DIR")
    args = parser.parse_args(argv)
    if args.unpack:
        unpack(args.out.resolve(), args.unpack.resolve())
        return 0
    total = time.monotonic()
    zig = os.environ.get("SKP_DIST_ZIG", "1") != "0"
    version = workspace_version()
    providers = load_providers(args.providers)
    out: Path = args.out.resolve()
    stage = TARGET_DIR / "dist-stage"
    sync_pyproject(load_providers(PACKAGING / "providers.json"), version)

    tools = Tools()
    tools.ensure()
    env = tools.build_env(zig)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    stage.mkdir(parents=True, exist_ok=True)

    files = build_native(tools, env, providers, stage)
    manifest: Dict[str, Any] = {"version": version, "target": TRIPLE, "glibc": ".".join(map(str, GLIBC)), "zig": zig}
    if os.environ.get("SKP_DIST_SKIP_PYTHON") != "1":
        wheel, sdist = build_python(tools, env, zig, out)
        check_wheel(tools, wheel)
        manifest.update({"wheel": wheel.name, "wheel_size": wheel.stat().st_size, "sdist": sdist.name})
    started = step("provider wheels")
    manifest["provider_wheels"] = {}
    for p in optional(providers):
        w = write_program_wheel(p, {prog: files[prog] for prog in p["programs"]}, version, out)
        check_wheel(tools, w)
        manifest["provider_wheels"][p["name"]] = w.name
    done(started, "provider wheels")
    manifest["base_programs"] = base_programs(providers)
    manifest["providers"] = [
        {k: p[k] for k in ("name", "plugins", "programs", "extras", "base", "python", "npm")} for p in providers
    ]
    manifest["npm"] = build_npm(tools, files, providers, version, stage, out)

    sums = "".join(f"{sha256(f)}  {f.name}\n" for f in sorted(out.iterdir()) if f.is_file())
    (out / "SHA256SUMS").write_text(sums)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print_sizes(out, manifest)
    print(f"\nmake dist: {time.monotonic() - total:.0f} s; artifacts in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DistError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
