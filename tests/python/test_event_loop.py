"""Awaited calls on the running asyncio loop's reactor (python/src/reactor.rs, the core's Reactor).

A call on a plugin program with no message or an in-memory one (bytes, bytearray, memoryview,
other buffers) is driven by the loop (the plugin's pipes and pidfd in the reactor's epoll, behind
the one descriptor the loop watches); a message read from a path or a file object runs on a core
worker thread, its result coming back through the same descriptor. Both must give the same results
and the same errors, and neither may leave a process or a descriptor behind."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import sigstore_kms_plugins as skp
from conftest import FIXTURE_PATH, FIXTURE_PUB, live_children, run_with_heartbeat, sha256, wait_until

DATA = b"hello\n" * 1000
BIG = 8 << 20  # far more than a pipe holds: stdin is watched and written in turns

# How a message is given, and which path the awaited call takes with it.
MESSAGE_KINDS: dict[str, Callable[[bytes, Path], Any]] = {
    "bytes": lambda data, tmp: data,  # event loop, used in place
    "bytearray": lambda data, tmp: bytearray(data),  # event loop, copied
    "memoryview": lambda data, tmp: memoryview(data),  # event loop, copied
    "path": lambda data, tmp: _write(tmp / "msg.bin", data),  # a core worker thread
    "bytesio": lambda data, tmp: io.BytesIO(data),  # a core worker thread
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    """`wait_until` for a coroutine: the loop keeps running while it waits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def aio(uri: str, **options: Any) -> skp.AsyncSignerVerifier:
    options.setdefault("path", FIXTURE_PATH)
    options.setdefault("stderr", "capture")
    return skp.get_async_signer_verifier(uri, **options)


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """A call's result or its exception, comparable between the two APIs."""
    try:
        return ("ok", call())
    except Exception as e:  # noqa: BLE001
        fields = {k: getattr(e, k, None) for k in ("kind", "method", "plugin", "message", "stderr_tail")}
        return (type(e).__name__, (str(e), fields))


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_message_methods_match_the_blocking_api(kind: str, tmp_path: Path) -> None:
    make = MESSAGE_KINDS[kind]
    sv = aio("fixture://k")
    sync = sv.sync

    async def main() -> list[tuple[str, Any]]:
        sig = await sv.sign_message(make(DATA, tmp_path))
        assert sig == sha256(DATA)
        results = [("ok", sig)]
        await sv.verify_signature(sig, make(DATA, tmp_path))
        results.append(await aoutcome(sv.verify_signature(sig, make(b"tampered", tmp_path))))
        results.append(await aoutcome(sv.sign_message(make(b"", tmp_path))))
        for name in ("errmsg-result", "bad-base64", "garbage", "sigkill", "exit-noanswer", "ignore-stdin"):
            results.append(await aoutcome(aio(f"{name}://k").sign_message(make(DATA, tmp_path))))
        return results

    want = [("ok", sync.sign_message(DATA))]
    want.append(outcome(lambda: sync.verify_signature(want[0][1], b"tampered")))
    want.append(outcome(lambda: sync.sign_message(b"")))
    for name in ("errmsg-result", "bad-base64", "garbage", "sigkill", "exit-noanswer", "ignore-stdin"):
        want.append(outcome(lambda: aio(f"{name}://k").sync.sign_message(DATA)))
    assert asyncio.run(main()) == want
    assert want[1][0] == "PluginReturnedError"
    assert wait_until(lambda: not live_children())


async def aoutcome(awaitable: Any) -> tuple[str, Any]:
    try:
        return ("ok", await awaitable)
    except Exception as e:  # noqa: BLE001
        fields = {k: getattr(e, k, None) for k in ("kind", "method", "plugin", "message", "stderr_tail")}
        return (type(e).__name__, (str(e), fields))


def test_methods_without_a_message_match_the_blocking_api() -> None:
    sv = aio("fixture://k")
    digest = sha256(b"abc")

    def calls(s: Any) -> list[Any]:
        return [
            s.default_algorithm,
            s.supported_algorithms,
            s.public_key,
            lambda: s.create_key("ed25519"),
            lambda: s.sign_digest(digest),
            lambda: s.verify_digest(b"digest:" + digest, digest),
            lambda: s.verify_digest(b"digest:nope", digest),
        ]

    async def main() -> list[tuple[str, Any]]:
        return [await aoutcome(c()) for c in calls(sv)]

    got = asyncio.run(main())
    assert got == [outcome(c) for c in calls(sv.sync)]
    assert got[2] == ("ok", FIXTURE_PUB)
    assert got[-1][0] == "PluginReturnedError"
    for name in ("errmsg", "garbage", "logline", "sigkill", "noshebang", "exit1", "huge-answer"):
        async def one() -> tuple[str, Any]:
            return await aoutcome(aio(f"{name}://k").default_algorithm())  # noqa: B023

        assert asyncio.run(one()) == outcome(aio(f"{name}://k").sync.default_algorithm), name


def test_noshebang_keeps_the_os_error_as_cause() -> None:
    async def main() -> None:
        with pytest.raises(skp.PluginExecutionError) as info:
            await aio("noshebang://k").sign_message(b"x")
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == 8  # ENOEXEC

    asyncio.run(main())


def test_in_memory_messages_use_no_thread_and_files_use_the_runtime(tmp_path: Path) -> None:
    # In a fresh process: the core's worker threads (named sigstore-kms-rt) start only when a
    # call needs it.
    msg = tmp_path / "msg.bin"
    msg.write_bytes(DATA)
    script = textwrap.dedent(
        f"""
        import asyncio, os
        import sigstore_kms_plugins as skp
        sv = skp.get_async_signer_verifier("fixture://k", path={FIXTURE_PATH!r})
        def threads():
            return sorted(open(f"/proc/self/task/{{t}}/comm").read().strip() for t in os.listdir("/proc/self/task"))
        async def main():
            await sv.default_algorithm()
            await sv.sign_message(b"abc")
            await sv.sign_message(bytearray(b"abc"))
            await sv.verify_digest(await sv.sign_digest(bytes(32)), bytes(32))
            print(len(threads()), "sigstore-kms-rt" in threads())
            await sv.sign_message(__import__("pathlib").Path({str(msg)!r}))
            print("sigstore-kms-rt" in threads())
        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["1", "False", "True"], out


@pytest.mark.parametrize("message", ["none", "bytes", "big-bytes", "path"])
def test_cancelling_kills_the_plugin_and_leaves_no_descriptor(message: str, tmp_path: Path) -> None:
    sv = aio("hang://k", timeout=None)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * BIG)

    def call() -> Any:
        if message == "none":
            return sv.default_algorithm()
        if message == "bytes":
            return sv.sign_message(b"x" * 100)
        if message == "big-bytes":
            return sv.sign_message(b"x" * BIG)  # the plugin never reads: stdin stays watched
        return sv.sign_message(big)

    async def main() -> None:
        await aio("fixture://k").sign_message(big)  # starts a worker thread (whatever it keeps stays)
        await aio("fixture://k").default_algorithm()  # makes this loop's reactor (as above)
        fds = open_fds()
        task = asyncio.ensure_future(call())
        assert await until(lambda: len(live_children()) == 1)
        await asyncio.sleep(0.2)
        [pid] = live_children()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if message != "path":
            # Killed and reaped before the cancellation was delivered.
            assert not os.path.exists(f"/proc/{pid}"), f"{pid} is still there"
        assert wait_until(lambda: not live_children(), 3), live_children()
        # The loop watches nothing of the call any more and its descriptors are closed.
        assert wait_until(lambda: open_fds() <= fds, 3), (open_fds(), fds)

    asyncio.run(main())


@pytest.mark.parametrize("message", ["none", "bytes", "big-bytes"])
def test_wait_for_expiring_kills_the_plugin(message: str) -> None:
    sv = aio("hang://k", timeout=None)

    async def main() -> None:
        call = {
            "none": sv.default_algorithm,
            "bytes": lambda: sv.sign_message(b"x" * 100),
            "big-bytes": lambda: sv.sign_message(b"x" * BIG),
        }[message]
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(call(), 0.3)
        assert time.monotonic() - started < 3

    asyncio.run(main())
    assert not live_children()


def test_many_concurrent_calls_leave_no_descriptor_and_no_process() -> None:
    sv = aio("fixture://k")

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(sv.sign_message(f"m{i}".encode()) for i in range(32)),
            *(sv.default_algorithm() for _ in range(16)),
            *(sv.verify_signature(sha256(f"v{i}".encode()), f"v{i}".encode()) for i in range(16)),
        )

    asyncio.run(main())  # warm-up
    fds = open_fds()
    got = asyncio.run(main())
    assert got[:32] == [sha256(f"m{i}".encode()) for i in range(32)]
    assert got[32:48] == ["ecdsa-p256"] * 16
    assert got[48:] == [None] * 16
    assert not live_children()
    assert open_fds() == fds


def test_many_concurrent_failing_and_cancelled_calls_leave_nothing() -> None:
    hang = aio("hang://k", timeout=0.5)
    garbage = aio("garbage://k")
    fixture = aio("fixture://k")

    async def main() -> list[Any]:
        calls = [hang.sign_message(b"x" * (i * 10_000)) for i in range(8)]
        calls += [garbage.default_algorithm() for _ in range(8)]
        calls += [fixture.sign_message(bytes(i * 100_000)) for i in range(16)]
        cancelled = [asyncio.ensure_future(hang.default_algorithm()) for _ in range(8)]
        gathered = asyncio.gather(*calls, return_exceptions=True)
        await asyncio.sleep(0.1)
        for t in cancelled:
            t.cancel()
        return await gathered

    asyncio.run(main())  # warm-up
    fds = open_fds()
    got = asyncio.run(main())
    assert all(isinstance(r, skp.PluginTimeoutError) for r in got[:8])
    assert all(isinstance(r, skp.PluginResponseError) for r in got[8:16])
    assert got[16:] == [sha256(bytes(i * 100_000)) for i in range(16)]
    assert wait_until(lambda: not live_children(), 3)
    assert open_fds() == fds


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_a_message_larger_than_the_pipe(kind: str, tmp_path: Path) -> None:
    data = os.urandom(BIG)
    message = MESSAGE_KINDS[kind](data, tmp_path)
    sv = aio("fixture://stdin-count")
    plain = aio("fixture://k")

    async def main() -> tuple[bytes, bytes]:
        return await sv.sign_message(message), await plain.sign_message(message)

    count, sig = asyncio.run(main())
    assert count == str(BIG).encode()
    assert sig == sha256(data)


def test_a_large_message_does_not_block_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # The slow fixture reads stdin to its end, then sleeps.
    monkeypatch.setenv("FIXTURE_SLOW_SECONDS", "0.5")
    sv = aio("slow://k")

    async def calls() -> list[Any]:
        return await asyncio.gather(*(sv.sign_message(b"y" * BIG) for _ in range(4)), return_exceptions=True)

    started = time.monotonic()
    got, ticks = run_with_heartbeat(calls)
    # It answers a defaultAlgorithm object to any method, once it read its stdin to the end.
    assert all(isinstance(r, skp.PluginResponseError) for r in got), got
    assert 0.5 < time.monotonic() - started < 5
    assert ticks > 20, ticks


@pytest.mark.parametrize("message", ["none", "bytes", "big-bytes"])
def test_the_timeout_option(message: str) -> None:
    sv = aio("hang://k", timeout=0.3)
    call = {
        "none": sv.default_algorithm,
        "bytes": lambda: sv.sign_message(b"x"),
        "big-bytes": lambda: sv.sign_message(b"x" * BIG),
    }[message]

    async def main() -> None:
        started = time.monotonic()
        with pytest.raises(skp.PluginTimeoutError) as info:
            await call()
        assert 0.25 < time.monotonic() - started < 3
        assert "timed out after 0.300s" in str(info.value)

    asyncio.run(main())
    assert not live_children()


def test_a_timeout_does_not_fire_for_a_call_that_ended() -> None:
    # 1 s: ample for the fixture (a Python script) even on a loaded machine.
    sv = aio("fixture://k", timeout=1.0)

    async def main() -> None:
        assert await sv.default_algorithm() == "ecdsa-p256"
        await asyncio.sleep(1.3)  # a stale timer would have nothing to do, and must not fail

    asyncio.run(main())


def test_two_event_loops_in_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each slow call sleeps 1 s: eight of them one after another would take 8 s, so finishing
    # them all within 4 s shows both loops ran them at the same time, even on a loaded machine
    # (where the 32 Python fixture calls next to them cost seconds of CPU of their own).
    monkeypatch.setenv("FIXTURE_SLOW_SECONDS", "1")
    slow = aio("slow://k")
    fixture = aio("fixture://k")
    barrier = threading.Barrier(2)
    results: dict[int, Any] = {}
    slow_done: dict[int, float] = {}

    def run(n: int) -> None:
        async def slow_calls() -> list[Any]:
            answers = await asyncio.gather(*(slow.default_algorithm() for _ in range(4)))
            slow_done[n] = time.monotonic()
            return answers

        async def main() -> list[Any]:
            barrier.wait()
            answers = await asyncio.gather(
                slow_calls(), *(fixture.sign_message(f"{n}-{i}".encode()) for i in range(16))
            )
            return [*answers[0], *answers[1:]]

        try:
            results[n] = asyncio.run(main())
        except BaseException as e:  # noqa: BLE001
            results[n] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(slow_done) == 2, results
    assert max(slow_done.values()) - started < 4.0, {n: t - started for n, t in slow_done.items()}
    for n in range(2):
        assert results[n] == ["ecdsa-p256"] * 4 + [sha256(f"{n}-{i}".encode()) for i in range(16)], results[n]
    assert not live_children()


def test_a_future_left_on_a_closed_loop_is_collected_and_its_plugin_killed() -> None:
    sv = aio("hang://k", timeout=None)
    loop = asyncio.new_event_loop()

    async def start() -> Any:
        return sv._native.default_algorithm_async()

    future = loop.run_until_complete(start())
    assert wait_until(lambda: len(live_children()) == 1)
    loop.close()
    del future, loop
    gc.collect()
    assert wait_until(lambda: not live_children(), 3), live_children()


def test_without_a_running_loop_it_raises_as_before() -> None:
    sv = aio("fixture://k")
    with pytest.raises(RuntimeError, match="no running event loop"):
        sv._native.default_algorithm_async()
    with pytest.raises(RuntimeError, match="no running event loop"):
        sv._native.sign_message_async(b"x")
    assert not live_children()
