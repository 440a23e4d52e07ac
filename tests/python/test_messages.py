"""Every kind of message sign_message/verify_signature take, through both APIs."""

from __future__ import annotations

import array
import io
import os
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

import sigstore_kms_plugins as skp
from conftest import sha256

Api = Callable[..., Any]
DATA = b"hello\n" * 1000


def test_bytes_like(api: Api) -> None:
    sv = api("fixture://k")
    want = sha256(DATA)
    assert sv.sign_message(DATA) == want
    assert sv.sign_message(bytearray(DATA)) == want
    assert sv.sign_message(memoryview(DATA)) == want
    assert sv.sign_message(memoryview(b"xx" + DATA)[2:]) == want
    assert sv.sign_message(array.array("B", DATA)) == want
    assert sv.sign_message(b"") == sha256(b"")


def test_str_is_refused(api: Api) -> None:
    with pytest.raises(TypeError, match="not str"):
        api("fixture://k").sign_message("hello")
    with pytest.raises(TypeError):
        api("fixture://k").sign_message(42)


def test_paths(api: Api, tmp_path: Path) -> None:
    p = tmp_path / "msg.bin"
    p.write_bytes(DATA)
    sv = api("fixture://k")
    assert sv.sign_message(p) == sha256(DATA)
    sv.verify_signature(sha256(DATA), p)

    class MyPath:
        def __fspath__(self) -> str:
            return str(p)

    assert sv.sign_message(MyPath()) == sha256(DATA)
    with pytest.raises(FileNotFoundError) as info:
        sv.sign_message(tmp_path / "missing")
    assert info.value.filename == str(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        sv.sign_message(tmp_path)


def test_binary_files_are_read_from_their_position(api: Api, tmp_path: Path) -> None:
    p = tmp_path / "msg.bin"
    p.write_bytes(b"HEAD" + DATA)
    sv = api("fixture://k")
    with open(p, "rb") as f:
        assert f.read(4) == b"HEAD"  # the buffered reader has read ahead; its position is 4
        assert sv.sign_message(f) == sha256(DATA)
        assert f.tell() == 4 + len(DATA)  # as if the message had been read through it
        assert f.read() == b""
    with open(p, "rb", buffering=0) as raw:
        raw.seek(4)
        assert sv.sign_message(raw) == sha256(DATA)


def test_text_files_are_refused(api: Api, tmp_path: Path) -> None:
    p = tmp_path / "msg.txt"
    p.write_text("hello")
    with open(p) as f, pytest.raises(TypeError, match="binary mode"):
        api("fixture://k").sign_message(f)


def test_in_memory_and_custom_readers(api: Api) -> None:
    sv = api("fixture://k")
    buf = io.BytesIO(b"xx" + DATA)
    buf.read(2)
    assert sv.sign_message(buf) == sha256(DATA)

    class OnlyRead:
        def __init__(self) -> None:
            self.chunks = [DATA[:10], bytearray(DATA[10:100]), memoryview(DATA[100:]), b""]

        def read(self, size: int) -> Any:
            return self.chunks.pop(0)

    assert sv.sign_message(OnlyRead()) == sha256(DATA)


@pytest.mark.parametrize("buffering", [0, -1])
def test_pipes(api: Api, buffering: int) -> None:
    r, w = os.pipe()

    def writer() -> None:
        with open(w, "wb") as f:
            for _ in range(100):
                f.write(DATA)

    t = threading.Thread(target=writer)
    t.start()
    with open(r, "rb", buffering=buffering) as f:
        assert api("fixture://k").sign_message(f) == sha256(DATA * 100)
    t.join()


def test_exceptions_of_the_reader_propagate(api: Api) -> None:
    class Broken:
        def read(self, size: int) -> bytes:
            raise ConnectionResetError("the network went away")

    with pytest.raises(ConnectionResetError, match="the network went away"):
        api("fixture://k").sign_message(Broken())

    class WrongType:
        def read(self, size: int) -> str:
            return "text"

    with pytest.raises(TypeError, match="binary mode"):
        api("fixture://k").sign_message(WrongType())


def test_write_only_file_is_an_error(api: Api, tmp_path: Path) -> None:
    with open(tmp_path / "w.bin", "wb") as f, pytest.raises((skp.KmsPluginError, OSError)):
        api("fixture://k").sign_message(f)
