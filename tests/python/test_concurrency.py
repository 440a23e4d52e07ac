"""The GIL is released, objects are shared between threads, asyncio never blocks, cancellation
and Ctrl-C kill the plugin."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import sigstore_kms_plugins as skp
from conftest import FIXTURE_PATH, live_children, run_with_heartbeat, sha256, wait_until


@pytest.fixture
def slow_sv(monkeypatch: pytest.MonkeyPatch) -> skp.SignerVerifier:
    """A plugin that answers after one second (the environment is passed to plugins)."""
    monkeypatch.setenv("FIXTURE_SLOW_SECONDS", "1")
    return skp.get_signer_verifier("slow://k", path=FIXTURE_PATH, stderr="capture")


def test_blocking_calls_release_the_gil(slow_sv: skp.SignerVerifier) -> None:
    sv = slow_sv
    counter = 0
    done = threading.Event()

    def count() -> None:
        nonlocal counter
        while not done.is_set():
            counter += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        started = time.monotonic()
        assert sv.default_algorithm() == "ecdsa-p256"
        assert time.monotonic() - started >= 0.9
    finally:
        done.set()
        t.join()
    # With the GIL held for a second, the counter would barely move.
    assert counter > 100_000, counter


def test_one_signer_verifier_shared_by_threads(fixture_sv: skp.SignerVerifier) -> None:
    messages = [f"message {i}".encode() for i in range(32)]
    with ThreadPoolExecutor(8) as pool:
        sigs = list(pool.map(fixture_sv.sign_message, messages))
    assert sigs == [sha256(m) for m in messages]


def test_awaitables_do_not_block_the_loop(slow_sv: skp.SignerVerifier) -> None:
    sv = slow_sv.aio

    async def calls() -> list[str]:
        return await asyncio.gather(*(sv.default_algorithm() for _ in range(8)))

    started = time.monotonic()
    result, ticks = run_with_heartbeat(calls)
    assert result == ["ecdsa-p256"] * 8
    elapsed = time.monotonic() - started
    assert elapsed < 4, f"8 one-second calls took {elapsed:.1f}s: they did not run concurrently"
    assert ticks > 40, ticks


def test_many_concurrent_awaitables(fixture_sv: skp.SignerVerifier) -> None:
    sv = fixture_sv.aio

    async def main() -> list[bytes]:
        return await asyncio.gather(*(sv.sign_message(f"m{i}".encode()) for i in range(64)))

    assert asyncio.run(main()) == [sha256(f"m{i}".encode()) for i in range(64)]
    assert wait_until(lambda: not live_children())


def test_cancellation_kills_the_plugin() -> None:
    sv = skp.get_async_signer_verifier("hang://k", path=FIXTURE_PATH, timeout=None, stderr="capture")

    async def main() -> None:
        task = asyncio.ensure_future(sv.default_algorithm())
        await asyncio.sleep(0.5)
        assert live_children(), "the plugin should be running"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert wait_until(lambda: not live_children(), 3), live_children()


def test_wait_for_timeout_kills_the_plugin() -> None:
    sv = skp.get_async_signer_verifier("hang://k", path=FIXTURE_PATH, timeout=None, stderr="capture")

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sv.sign_message(b"x" * 100), 0.3)

    asyncio.run(main())
    assert wait_until(lambda: not live_children(), 3), live_children()


def test_async_errors_are_the_same_exceptions() -> None:
    sv = skp.get_async_signer_verifier("errmsg://k", path=FIXTURE_PATH)

    async def main() -> None:
        with pytest.raises(skp.PluginReturnedError) as info:
            await sv.default_algorithm()
        assert info.value.message == "key not found: the KMS said no"

    asyncio.run(main())
    # A fresh event loop each time works (no state is tied to a loop).
    asyncio.run(main())


def test_ctrl_c_interrupts_a_blocking_call_and_kills_the_plugin() -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        # A terminal's Ctrl-C: Python's handler, even if our parent started us with SIGINT
        # ignored (as a non-interactive shell does for background jobs).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import sigstore_kms_plugins as skp
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from conftest import live_children, wait_until
        sv = skp.get_signer_verifier("hang://k", path={FIXTURE_PATH!r}, timeout=None)
        print("ready", flush=True)
        started = time.monotonic()
        try:
            sv.default_algorithm()
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - started, 1), flush=True)
            print("children gone:", wait_until(lambda: not live_children(), 3), flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert "interrupted after" in out
    assert "children gone: True" in out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_can_call_plugins(fixture_sv: skp.SignerVerifier) -> None:
    assert fixture_sv.default_algorithm() == "ecdsa-p256"  # the runtime exists in the parent
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            ok = fixture_sv.sign_message(b"child") == sha256(b"child")
            ok = ok and asyncio.run(fixture_sv.aio.default_algorithm()) == "ecdsa-p256"
        except BaseException:  # noqa: BLE001
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fixture_sv.default_algorithm() == "ecdsa-p256"


def test_exiting_right_after_an_awaited_call_does_not_abort() -> None:
    # Regression: the runtime thread that delivered the result could still be attached to
    # Python (inside call_soon_threadsafe) while the interpreter finalized; CPython then ended
    # that thread with pthread_exit and the unwind through Rust aborted the process (exit 134,
    # about half the runs). An atexit hook now waits for deliveries under way.
    script = textwrap.dedent(
        f"""
        import asyncio
        import sigstore_kms_plugins as skp
        sv = skp.get_signer_verifier("fixture://k", path={FIXTURE_PATH!r})
        print(asyncio.run(sv.aio.supported_algorithms()))
        """
    )
    statuses = []
    for _ in range(30):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        statuses.append(proc.returncode)
        assert proc.returncode != 0 or "ecdsa-p256" in proc.stdout
    assert statuses == [0] * len(statuses), f"exit statuses: {statuses}"
