#!/usr/bin/env python3
"""Benchmark of the Python binding (not a test: run it by hand on a quiet machine).

1. Per-call overhead: ``SignerVerifier.default_algorithm()`` (blocking, and awaited) against a
   minimal C plugin that answers at once, versus a bare Rust program spawning and waiting for
   the same plugin N times (bench/spawn_baseline.rs, shared with the Node benchmark), measured
   in the same run, in alternating
   rounds. Goal: ratio <= 1.10.
2. Streaming: ``sign_message`` of a 1 GiB file (as a path and as an open file) with the bundled
   localkms plugin (the native Rust binary, ECDSA P-256 over SHA-256), versus
   ``cat FILE | sigstore-kms-localkms v1 REQUEST`` with the same plugin; and the growth of this
   process's peak RSS while signing. Goals: throughput ratio close to 1, RSS growth < 64 MiB.

Needs: the package installed in this interpreter from a release build (``pip install .``),
``cc`` and ``rustc`` on PATH, cargo (to build the native localkms plugin), ~1.1 GiB of free
space in the temporary directory. Usage::

    python bench/python_overhead.py [--calls 100] [--rounds 30] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sigstore_kms_plugins as skp
from sigstore_kms_plugins import _native

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
REQUEST = (
    '{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5,'
    '"rpcOptions":{"keyVersion":"","remoteVerification":false}},'
    '"methodName":"defaultAlgorithm","defaultAlgorithm":{}}'
)


def run(*cmd: str, **kw: object) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout  # type: ignore[call-overload, no-any-return]


def build(work: Path) -> tuple[Path, Path, Path]:
    plugins = work / "bin"
    plugins.mkdir()
    minimal = plugins / "sigstore-kms-minimal"
    run("cc", "-O2", "-o", str(minimal), str(BENCH / "minimal_plugin.c"))
    baseline = work / "spawn_baseline"
    run("rustc", "-O", "--edition", "2021", "-o", str(baseline), str(BENCH / "spawn_baseline.rs"))
    print("building the native sigstore-kms-localkms (cargo build --release) ...", flush=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "-p", "sigstore-kms-localkms", "--bin", "sigstore-kms-localkms"],
        cwd=REPO,
        check=True,
    )
    localkms = plugins / "sigstore-kms-localkms"
    shutil.copy2(target / "release" / "sigstore-kms-localkms", localkms)
    return plugins, baseline, minimal


def overhead(plugins: Path, baseline: Path, minimal: Path, calls: int, rounds: int) -> None:
    sv = skp.get_signer_verifier("minimal://k", path=str(plugins))
    aio = sv.aio

    async def awaited(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await aio.default_algorithm()
        return (time.perf_counter() - started) * 1e6 / n

    def blocking(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            sv.default_algorithm()
        return (time.perf_counter() - started) * 1e6 / n

    def in_thread(n: int) -> float:
        # Off the main thread Python cannot deliver Ctrl-C, so the plain blocking path is used.
        out: list[float] = []
        t = threading.Thread(target=lambda: out.append(blocking(n)))
        t.start()
        t.join()
        return out[0]

    def bare(n: int) -> float:
        times = json.loads(run(str(baseline), str(minimal), REQUEST, str(n)))["us"]
        return float(statistics.fmean(times))

    for warm in (blocking, bare):
        warm(max(calls // 10, 10))
    asyncio.run(awaited(max(calls // 10, 10)))
    py, py_thread, py_async, rust = [], [], [], []
    ratios, thread_ratios, async_ratios = [], [], []
    for r in range(rounds):
        # Short rounds in alternating order, each Python round paired with the baseline round
        # next to it: load from other processes drifts slowly and hits both sides of a pair.
        if r % 2:
            rust.append(bare(calls))
            py.append(blocking(calls))
            py_thread.append(in_thread(calls))
            py_async.append(asyncio.run(awaited(calls)))
        else:
            py_async.append(asyncio.run(awaited(calls)))
            py_thread.append(in_thread(calls))
            py.append(blocking(calls))
            rust.append(bare(calls))
        ratios.append(py[-1] / rust[-1])
        thread_ratios.append(py_thread[-1] / rust[-1])
        async_ratios.append(py_async[-1] / rust[-1])
    p, t, a, b = (statistics.median(x) for x in (py, py_thread, py_async, rust))
    print(f"per call ({rounds} paired rounds x {calls} calls; medians):")
    print(f"  bare Rust spawn+wait (spawn_baseline)  {b:8.1f} us")
    print(f"  SignerVerifier.default_algorithm()     {p:8.1f} us   ratio {statistics.median(ratios):.3f}  (goal <= 1.10)")
    print(f"    ... from a non-main thread           {t:8.1f} us   ratio {statistics.median(thread_ratios):.3f}")
    print(f"  await AsyncSignerVerifier.default_...  {a:8.1f} us   ratio {statistics.median(async_ratios):.3f}")


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def streaming(plugins: Path, work: Path, size_mib: int) -> None:
    data = work / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(data, "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)
    key = work / "key.pem"
    sv = skp.get_signer_verifier(f"localkms://{key}", path=str(plugins), timeout=None)
    sv.create_key("ecdsa-p256")
    request = (
        '{"initOptions":{"protocolVersion":"v1","keyResourceID":"%s","hashFunc":5,'
        '"rpcOptions":{"keyVersion":"","remoteVerification":false}},"methodName":"signMessage",'
        '"signMessage":{"signOptions":{"rpcOptions":{"keyVersion":"","remoteVerification":false},'
        '"messageOptions":{"digest":null}}}}' % key
    )
    plugin = plugins / "sigstore-kms-localkms"

    def shell() -> float:
        started = time.perf_counter()
        out = subprocess.run(
            ["sh", "-c", 'cat "$1" | "$2" v1 "$3"', "sh", str(data), str(plugin), request],
            check=True,
            capture_output=True,
        ).stdout
        assert out.startswith(b'{"signMessage"'), out[:200]
        return time.perf_counter() - started

    def by_path() -> float:
        started = time.perf_counter()
        sv.sign_message(data)
        return time.perf_counter() - started

    def by_file() -> float:
        started = time.perf_counter()
        with open(data, "rb") as f:
            sv.sign_message(f)
        return time.perf_counter() - started

    shell()  # warm the page cache
    rss_before = maxrss_mib()
    times = {"cat | plugin": [], "sign_message(path)": [], "sign_message(file)": []}
    for _ in range(3):
        times["cat | plugin"].append(shell())
        times["sign_message(path)"].append(by_path())
        times["sign_message(file)"].append(by_file())
    growth = maxrss_mib() - rss_before
    base = min(times["cat | plugin"])
    print(f"sign_message of {size_mib} MiB (best of 3), ECDSA P-256 / SHA-256 in the native localkms plugin:")
    for name, ts in times.items():
        best = min(ts)
        print(f"  {name:20s} {best:6.2f} s  {size_mib / best:7.0f} MiB/s   throughput ratio vs cat|plugin {base / best:.3f}")
    print(f"  peak RSS of this process grew by {growth:.1f} MiB while signing (goal < 64 MiB)")
    # The bound the goal refers to: what signing added on top of what the process had before.
    verdict = "OK" if growth < 64 else "OVER"
    print(f"  RSS growth {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    print(f"sigstore-kms-plugins {skp.__version__}, {_native.BUILD_PROFILE} build, Python {sys.version.split()[0]}")
    if _native.BUILD_PROFILE != "release":
        print("warning: the extension is a debug build; install a release build first (pip install .)")
    with tempfile.TemporaryDirectory(prefix="skp-bench-") as tmp:
        work = Path(tmp)
        plugins, baseline, minimal = build(work)
        overhead(plugins, baseline, minimal, args.calls, args.rounds)
        streaming(plugins, work, args.size_mib)


if __name__ == "__main__":
    main()
