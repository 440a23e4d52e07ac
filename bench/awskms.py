#!/usr/bin/env python3
"""The ``awskms`` section of ``make bench``: a signature with an AWS KMS key, three ways.

Against the same local-kms server (the AWS KMS emulator the provider tests use), a 1 KiB message,
ECDSA P-256 key ``alias/bench``:

* **plugin**: ``sign_message`` through ``sigstore-kms-awskms`` from Python (our package's blocking
  API): one plugin process per signature, which loads the AWS configuration, asks ``DescribeKey``
  for the signing algorithm and sends the digest to ``Sign``;
* **boto3 (warm)**: the same ``Sign`` call in-process with a boto3 client made once (the digest
  computed with hashlib): the floor of any client; also ``DescribeKey`` + ``Sign``, the two calls
  the plugin makes;
* **cosign**: ``cosign sign-blob`` with its built-in AWS provider, one process per signature, as a
  user runs it.

Plus the plugin's own start-up cost: ``defaultAlgorithm`` (no configuration, no network) and
``publicKey`` (configuration + one request) through the plugin, against the C minimal plugin's
``defaultAlgorithm`` through the same host and a warm boto3 ``GetPublicKey``.

Blocks of every contender in rotating order, round after round; the ratios are the medians over
rounds of (block median / baseline block median). local-kms listens on every interface, so the
measurement runs in a private network namespace with only loopback (``unshare -rn``), with static
test credentials and the instance metadata disabled, as the tests do.

``run.py`` calls ``prepare`` (with the network: release build, local-kms, cosign, boto3) and
``run`` (which re-enters this file as ``--inner`` under ``unshare -rn``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CALLS = int(os.environ.get("BENCH_AWS_CALLS", "10"))
ROUNDS = int(os.environ.get("BENCH_AWS_ROUNDS", "15"))
COSIGN_VERSION = os.environ.get("INTEROP_COSIGN_VERSION", "v3.1.3")
SECRET = "sigstoreKmsPluginsBenchSecretKey0123456789"


def log(msg: str) -> None:
    print(f"[bench awskms] {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("INTEROP_CACHE_DIR", str(Path(base) / "sigstore-kms-plugins")))


def prepare(work: Path, venv_python: Path, cargo_target: Path) -> Dict[str, str]:
    """Everything the measurement needs, installed with the network."""
    log("cargo build --release -p sigstore-kms-awskms")
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "sigstore-kms-awskms"], cwd=REPO, check=True)
    bins = work / "aws-bin"
    bins.mkdir(exist_ok=True)
    shutil.copy2(cargo_target / "release" / "sigstore-kms-awskms", bins / "sigstore-kms-awskms")
    cache = cache_dir()
    (cache / "bin").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "INTEROP_CACHE_DIR": str(cache), "GOTOOLCHAIN": "local"}
    log("local-kms (tests/providers/setup/awskms.sh)")
    local_kms = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; step() { echo "$*" >&2; }; source tests/providers/setup/awskms.sh; echo "$LOCAL_KMS_BIN"'],
        cwd=REPO, env=env, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    cosign = os.environ.get("INTEROP_COSIGN_BIN") or str(cache / "bin" / f"cosign-{COSIGN_VERSION}" / "cosign")
    if not Path(cosign).exists():
        log(f"go install cosign {COSIGN_VERSION} (once; cached)")
        tmp = Path(tempfile.mkdtemp(dir=cache / "bin", prefix=".cosign-build-"))
        major = COSIGN_VERSION.split(".")[0]
        subprocess.run(["go", "install", f"github.com/sigstore/cosign/{major}/cmd/cosign@{COSIGN_VERSION}"],
                       cwd=tmp, env={**env, "GOBIN": str(tmp)}, check=True)
        Path(cosign).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "cosign").rename(cosign)
        shutil.rmtree(tmp, ignore_errors=True)
    if subprocess.run([str(venv_python), "-c", "import boto3"], capture_output=True).returncode != 0:
        log("pip install boto3 (into .venv)")
        subprocess.run([str(venv_python), "-m", "pip", "install", "--quiet", "boto3>=1.34,<2"], check=True)
    return {"bins": str(bins), "local_kms": local_kms, "cosign": cosign, "python": str(venv_python)}


def run(prep: Dict[str, str], minimal_dir: Path) -> Dict[str, Any]:
    """The measurement, in a private network namespace."""
    config = {**prep, "minimal_dir": str(minimal_dir)}
    log(f"measuring in a private network namespace ({ROUNDS} rounds of {CALLS} calls)")
    out = subprocess.run(
        ["unshare", "-rn", prep["python"], str(Path(__file__).resolve()), "--inner", json.dumps(config)],
        capture_output=True, text=True,
    )
    sys.stderr.write(out.stderr[-4000:])
    if out.returncode != 0:
        raise RuntimeError(f"the AWS KMS measurement failed (exit {out.returncode}); its output is above")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----- inside the namespace ---------------------------------------------------------------------


def start_local_kms(binary: str, data: Path) -> "tuple[subprocess.Popen[str], str]":
    env = {**os.environ, "PORT": "0", "KMS_REGION": "eu-west-2", "KMS_DATA_PATH": str(data), "KMS_SEED_PATH": str(data / "none.yaml")}
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        m = re.search(r"started on 0\.0\.0\.0:(\d+)", line)
        if m:
            # Keep draining its log, or it blocks once the pipe is full.
            import threading

            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
            return proc, f"http://127.0.0.1:{m.group(1)}"
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("local-kms did not start")


def inner(config: Dict[str, str]) -> Dict[str, Any]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with tempfile.TemporaryDirectory(prefix="skp-bench-aws-") as tmp:
        work = Path(tmp)
        (work / "aws").mkdir()
        for f in ("config", "credentials"):
            (work / "aws" / f).write_text("")
        proc, url = start_local_kms(config["local_kms"], work / "data")
        try:
            os.environ.update({
                "AWS_ENDPOINT_URL_KMS": url, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_REGION": "eu-west-2", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(work / "aws" / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(work / "aws" / "credentials"),
                "PATH": os.pathsep.join([config["bins"], config["minimal_dir"], os.environ.get("PATH", "")]),
            })
            for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "HTTPS_PROXY", "HTTP_PROXY"):
                os.environ.pop(k, None)
            return measure(config, work)
        finally:
            proc.kill()
            proc.wait()


def measure(config: Dict[str, str], work: Path) -> Dict[str, Any]:
    import boto3  # type: ignore[import-not-found]
    import sigstore_kms_plugins as skp

    msg = bytes(range(256)) * 4  # 1 KiB
    blob = work / "blob.bin"
    blob.write_bytes(msg)
    sv = skp.get_signer_verifier("awskms:///alias/bench", timeout=60.0)
    sv.create_key("ECC_NIST_P256")
    minimal = skp.get_signer_verifier("minimal://bench", timeout=60.0)
    kms = boto3.client("kms", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL_KMS"])
    kms.describe_key(KeyId="alias/bench")  # warm: connection open, credentials resolved

    def boto_sign() -> None:
        digest = hashlib.sha256(msg).digest()
        kms.sign(KeyId="alias/bench", Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")

    def boto_describe_sign() -> None:
        alg = kms.describe_key(KeyId="alias/bench")["KeyMetadata"]["SigningAlgorithms"][0]
        kms.sign(KeyId="alias/bench", Message=hashlib.sha256(msg).digest(), MessageType="DIGEST", SigningAlgorithm=alg)

    cosign_home = work / "home"
    cosign_home.mkdir()
    cosign_env = {**os.environ, "HOME": str(cosign_home), "TUF_ROOT": str(work / "tuf")}

    def cosign_sign() -> None:
        subprocess.run(
            [config["cosign"], "sign-blob", "--yes", "--key", "awskms:///alias/bench", "--tlog-upload=false",
             "--use-signing-config=false", "--new-bundle-format=false", "--output-signature", str(work / "c.sig"), str(blob)],
            env=cosign_env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    # Every signature is checked once, so that nothing below measures a failing call.
    sig = sv.sign_message(msg)
    sv.verify_signature(sig, msg)
    cosign_sign()
    c_sig = __import__("base64").b64decode((work / "c.sig").read_text())
    sv.verify_signature(c_sig, msg)

    contenders: Dict[str, Callable[[], Any]] = {
        "plugin_sign": lambda: sv.sign_message(msg),
        "boto3_sign": boto_sign,
        "boto3_describe_sign": boto_describe_sign,
        "cosign_sign_blob": cosign_sign,
        "plugin_default_algorithm": sv.default_algorithm,
        "minimal_default_algorithm": minimal.default_algorithm,
        "plugin_public_key": sv.public_key,
        "boto3_get_public_key": lambda: kms.get_public_key(KeyId="alias/bench"),
    }
    blocks: Dict[str, List[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(ROUNDS):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            times = []
            for _ in range(CALLS):
                t0 = time.perf_counter()
                contenders[name]()
                times.append(time.perf_counter() - t0)
            blocks[name].append(statistics.median(times))
    med = {k: statistics.median(v) for k, v in blocks.items()}

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(blocks[a], blocks[b]))

    return {
        "median_s": med,
        "ratios": {
            "plugin_sign / boto3_sign": ratio("plugin_sign", "boto3_sign"),
            "plugin_sign / boto3_describe_sign": ratio("plugin_sign", "boto3_describe_sign"),
            "plugin_sign / cosign_sign_blob": ratio("plugin_sign", "cosign_sign_blob"),
            "plugin_default_algorithm / minimal_default_algorithm": ratio("plugin_default_algorithm", "minimal_default_algorithm"),
            "plugin_public_key / boto3_get_public_key": ratio("plugin_public_key", "boto3_get_public_key"),
        },
        "startup_s": {
            # The plugin program's own start (loading, runtime, argument parsing) above the
            # smallest possible plugin, through the same host.
            "process": med["plugin_default_algorithm"] - med["minimal_default_algorithm"],
            # Loading the configuration (region, credential chain, client), connecting, and one
            # GetPublicKey request: publicKey above the process start.
            "configuration_connection_request": med["plugin_public_key"] - med["plugin_default_algorithm"],
        },
        "calls": CALLS,
        "rounds": ROUNDS,
    }


def report(r: Dict[str, Any], goal: Callable[[bool, str], None]) -> List[str]:
    med, ratios, st = r["median_s"], r["ratios"], r["startup_s"]
    ms = lambda s: f"{s * 1e3:,.2f} ms"  # noqa: E731
    lines = [
        f"### AWS KMS: a 1 KiB signature, local-kms in a private network namespace ({r['rounds']} rounds x {r['calls']} calls, medians)\n",
        "| contender | per signature | plugin / contender |",
        "|---|---:|---:|",
        f"| plugin `sigstore-kms-awskms` from Python (`sign_message`) | {ms(med['plugin_sign'])} | 1.000x |",
        f"| boto3, warm client, `Sign` only | {ms(med['boto3_sign'])} | {ratios['plugin_sign / boto3_sign']:.2f}x |",
        f"| boto3, warm client, `DescribeKey` + `Sign` (the plugin's two calls) | {ms(med['boto3_describe_sign'])} | {ratios['plugin_sign / boto3_describe_sign']:.2f}x |",
        f"| `cosign sign-blob` (built-in AWS provider) | {ms(med['cosign_sign_blob'])} | {ratios['plugin_sign / cosign_sign_blob']:.3f}x |",
        "",
        "| plugin start-up | |",
        "|---|---:|",
        f"| `defaultAlgorithm` through the plugin (no configuration, no network) | {ms(med['plugin_default_algorithm'])} |",
        f"| the same through the C minimal plugin | {ms(med['minimal_default_algorithm'])} |",
        f"| = the plugin program's own start | {ms(st['process'])} |",
        f"| `publicKey` through the plugin | {ms(med['plugin_public_key'])} |",
        f"| = configuration, connection and one `GetPublicKey` in the plugin | {ms(st['configuration_connection_request'])} |",
        f"| boto3 warm `GetPublicKey` (the request alone, from Python) | {ms(med['boto3_get_public_key'])} |",
        "",
    ]
    goal(ratios["plugin_sign / cosign_sign_blob"] < 1.0,
         f"awskms: a signature through the plugin costs less than cosign's built-in path "
         f"({ratios['plugin_sign / cosign_sign_blob']:.3f}x of cosign sign-blob)")
    return lines


def standalone() -> int:
    """``python3 bench/awskms.py``: this section alone, with the package already in ``.venv``
    (``make bench`` builds it; ``BENCH_SECTIONS=awskms make bench`` runs this section in the
    whole report)."""
    venv_python = REPO / ".venv" / "bin" / "python"
    if not venv_python.exists():
        print("no .venv: run make test-python or make bench first", file=sys.stderr)
        return 2
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    with tempfile.TemporaryDirectory(prefix="skp-bench-") as tmp:
        work = Path(tmp)
        (work / "bin").mkdir()
        subprocess.run(["cc", "-O2", "-o", str(work / "bin" / "sigstore-kms-minimal"), str(BENCH / "minimal_plugin.c")], check=True)
        r = run(prepare(work, venv_python, target), work / "bin")
    goals: List[str] = []
    lines = report(r, lambda ok, text: goals.append(("met: " if ok else "**MISSED**: ") + text))
    print("\n".join(lines + [f"- {g}" for g in goals]))
    print(json.dumps(r, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--inner":
        print(json.dumps(inner(json.loads(sys.argv[2]))))
    elif len(sys.argv) == 1:
        sys.exit(standalone())
    else:
        print(__doc__)
        sys.exit(2)
