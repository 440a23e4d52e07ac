#!/usr/bin/env python3
"""The Python side of ``make bench`` (bench/run.py runs it with the .venv interpreter, in which
the package is installed from a release build). Every subcommand prints JSON lines.

``py_bench.py percall PATH-DIR URI``
    Serves lines ``MODE METHOD N MSG-BYTES`` on stdin, answering ``{"us": [...]}`` (per-call
    microseconds). MODE is ``main`` (blocking call on the main thread: the Ctrl-C-aware path),
    ``thread`` (blocking call from a long-lived worker thread), ``asyncio`` (awaited, one event
    loop kept for the process), ``subprocess`` (no binding: ``subprocess.run`` of the plugin by
    hand, the request built with a format string, the answer parsed with ``json`` and
    ``base64``) or ``asyncio-subprocess`` (the same with ``asyncio.create_subprocess_exec``).
``py_bench.py stream PATH-DIR URI MODE FILE REPS``
    ``sign_message`` of FILE, REPS times; MODE ``path`` (a ``pathlib.Path``), ``file`` (an open
    binary file) or ``asyncio`` (awaited, by path). ``{"s": [...], "rss_kib": .., "hwm_kib": ..}``
``py_bench.py concurrency PATH-DIR URI CALLS ROUNDS MSG-BYTES``
    Per round, CALLS ``sign_message`` calls one after another, then CALLS at once from CALLS
    threads, and the same with asyncio (``asyncio.gather``). Counts this process's open fds
    and child processes before and after.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

import sigstore_kms_plugins as skp

METHODS = ("defaultAlgorithm", "publicKey", "signMessage")


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fd_list() -> Dict[str, str]:
    """This process's open fds and what they point to (the listing's own fd left out)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the directory listing's own fd, closed by now
    return out


def child_count() -> int:
    me = str(os.getpid())
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            n += 1
    return n


def blocking_calls(sv: skp.SignerVerifier, msg: bytes) -> Dict[str, Callable[[], object]]:
    def default_algorithm() -> object:
        a = sv.default_algorithm()
        assert a == "ecdsa-p256", a
        return a

    return {
        "defaultAlgorithm": default_algorithm,
        "publicKey": sv.public_key,
        "signMessage": lambda: sv.sign_message(msg),
    }


def by_hand(program: str, key_ref: str, msg: bytes) -> Dict[str, Callable[[], object]]:
    """What a host without the binding does: subprocess.run, json, base64."""
    init = (
        '{"initOptions":{"protocolVersion":"v1","keyResourceID":%s,"hashFunc":5,'
        '"rpcOptions":{"keyVersion":"","remoteVerification":false}},' % json.dumps(key_ref)
    )
    rpc = '{"keyVersion":"","remoteVerification":false}'

    def call(method: str, args: str, data: object) -> dict:
        request = init + '"methodName":"%s","%s":%s}' % (method, method, args)
        kw: dict = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
        out = subprocess.run([program, "v1", request], stdout=subprocess.PIPE, check=True, **kw).stdout
        resp = json.loads(out)
        if resp.get("errorMessage"):
            raise RuntimeError(resp["errorMessage"])
        return resp[method]

    return {
        "defaultAlgorithm": lambda: call("defaultAlgorithm", "{}", None)["defaultAlgorithm"],
        "publicKey": lambda: base64.b64decode(
            call("publicKey", '{"publicKeyOptions":{"rpcOptions":%s}}' % rpc, None)["publicKeyPEM"]
        ),
        "signMessage": lambda: base64.b64decode(
            call("signMessage", '{"signOptions":{"rpcOptions":%s,"messageOptions":{"digest":null}}}' % rpc, msg)["signature"]
        ),
    }


async def by_hand_asyncio(program: str, key_ref: str, method: str, n: int, msg: bytes) -> List[float]:
    """What an asyncio host without the binding does: asyncio.create_subprocess_exec."""
    init = (
        '{"initOptions":{"protocolVersion":"v1","keyResourceID":%s,"hashFunc":5,'
        '"rpcOptions":{"keyVersion":"","remoteVerification":false}},' % json.dumps(key_ref)
    )
    rpc = '{"keyVersion":"","remoteVerification":false}'
    args = {
        "defaultAlgorithm": "{}",
        "publicKey": '{"publicKeyOptions":{"rpcOptions":%s}}' % rpc,
        "signMessage": '{"signOptions":{"rpcOptions":%s,"messageOptions":{"digest":null}}}' % rpc,
    }[method]
    data = msg if method == "signMessage" else None
    us = []
    for _ in range(n):
        t = time.perf_counter()
        request = init + '"methodName":"%s","%s":%s}' % (method, method, args)
        proc = await asyncio.create_subprocess_exec(
            program, "v1", request,
            stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate(data)
        resp = json.loads(out)[method]
        if method != "defaultAlgorithm":
            base64.b64decode(resp["publicKeyPEM" if method == "publicKey" else "signature"])
        us.append((time.perf_counter() - t) * 1e6)
    return us


def timed(fn: Callable[[], object], n: int) -> List[float]:
    us = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        us.append((time.perf_counter() - t) * 1e6)
    return us


def percall(path: str, uri: str) -> None:
    sv = skp.get_signer_verifier(uri, path=path)
    aio = sv.aio
    loop = asyncio.new_event_loop()
    program = str(sv.program_path)
    pool = concurrent.futures.ThreadPoolExecutor(1)

    async def awaited(method: str, n: int, msg: bytes) -> List[float]:
        call = {
            "defaultAlgorithm": aio.default_algorithm,
            "publicKey": aio.public_key,
            "signMessage": lambda: aio.sign_message(msg),
        }[method]
        us = []
        for _ in range(n):
            t = time.perf_counter()
            await call()
            us.append((time.perf_counter() - t) * 1e6)
        return us

    for line in sys.stdin:
        fields = line.split()
        if len(fields) != 4:
            continue
        mode, method, n, size = fields[0], fields[1], int(fields[2]), int(fields[3])
        msg = b"x" * size
        if mode == "main":
            us = timed(blocking_calls(sv, msg)[method], n)
        elif mode == "thread":
            # A long-lived worker thread, as in a thread pool. (A thread created for the block
            # measured slower on a 2-vCPU VM for every call it makes, not just the first; see
            # bench/RESULTS.md.)
            us = pool.submit(timed, blocking_calls(sv, msg)[method], n).result()
        elif mode == "asyncio":
            us = loop.run_until_complete(awaited(method, n, msg))
        elif mode == "subprocess":
            us = timed(by_hand(program, sv.key_ref, msg)[method], n)
        elif mode == "asyncio-subprocess":
            us = loop.run_until_complete(by_hand_asyncio(program, sv.key_ref, method, n, msg))
        else:
            raise SystemExit(f"unknown mode {mode}")
        print(json.dumps({"us": [round(x, 1) for x in us]}), flush=True)


def stream(path: str, uri: str, mode: str, file: str, reps: int) -> None:
    sv = skp.get_signer_verifier(uri, path=path, timeout=None)
    rss = status_kib("VmRSS")
    secs = []
    for _ in range(reps):
        t = time.perf_counter()
        if mode == "path":
            sig = sv.sign_message(Path(file))
        elif mode == "file":
            with open(file, "rb") as f:
                sig = sv.sign_message(f)
        elif mode == "asyncio":
            sig = asyncio.run(sv.aio.sign_message(Path(file)))
        else:
            raise SystemExit(f"unknown mode {mode}")
        secs.append(time.perf_counter() - t)
        assert sig
    print(json.dumps({"s": secs, "rss_kib": rss, "hwm_kib": status_kib("VmHWM")}))


def concurrency(path: str, uri: str, calls: int, rounds: int, size: int) -> None:
    sv = skp.get_signer_verifier(uri, path=path)
    msg = b"x" * size
    sv.sign_message(msg)
    result: Dict[str, object] = {}

    def threads_round() -> float:
        errors: List[BaseException] = []

        def one() -> None:
            try:
                assert sv.sign_message(msg)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        ts = [threading.Thread(target=one) for _ in range(calls)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        elapsed = time.perf_counter() - t
        if errors:
            raise errors[0]
        return elapsed

    async def gather_round() -> float:
        t = time.perf_counter()
        sigs = await asyncio.gather(*(sv.aio.sign_message(msg) for _ in range(calls)))
        assert all(sigs)
        return time.perf_counter() - t

    async def serial_async() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            await sv.aio.sign_message(msg)
        return time.perf_counter() - t

    # Warm up both paths (the runtime and its threads start on first use), with a throwaway
    # event loop: the fds of the loop below are not the binding's.
    asyncio.run(gather_round())
    threads_round()
    fds0, kids0 = fd_list(), child_count()
    loop = asyncio.new_event_loop()
    serial, threaded, aserial, gathered = [], [], [], []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            sv.sign_message(msg)
        serial.append(time.perf_counter() - t)
        threaded.append(threads_round())
        aserial.append(loop.run_until_complete(serial_async()))
        gathered.append(loop.run_until_complete(gather_round()))
    loop.close()
    fds1 = fd_list()
    result = {
        "serial_s": serial,
        "threads_s": threaded,
        "asyncio_serial_s": aserial,
        "asyncio_gather_s": gathered,
        "fds": [len(fds0), len(fds1)],
        "children": [kids0, child_count()],
    }
    if fds0 != fds1:
        result["fd_diff"] = {"before": fds0, "after": fds1}
    print(json.dumps(result))


def main() -> None:
    a = sys.argv
    if len(a) < 4:
        raise SystemExit(__doc__)
    if a[1] == "percall":
        percall(a[2], a[3])
    elif a[1] == "stream":
        stream(a[2], a[3], a[4], a[5], int(a[6]))
    elif a[1] == "concurrency":
        concurrency(a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
    # Leave without interpreter finalization: a runtime thread still returning from
    # loop.call_soon_threadsafe() while Python finalizes aborts the process (see bench/RESULTS.md).
    sys.stdout.flush()
    os._exit(0)
