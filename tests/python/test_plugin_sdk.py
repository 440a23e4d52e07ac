"""Plugins written with the Python SDK (sigstore_kms_plugins.plugin), driven by real hosts: this
package's host API (the Rust core's client) and the Rust CLI `sigstore-kms`."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import sigstore_kms_plugins as skp
from sigstore_kms_plugins import plugin
from conftest import REPO, SYSTEM_PATH, VENV_BIN, PatternReader

Api = Callable[..., Any]

PYKMS = REPO / "python" / "examples" / "pykms_plugin.py"

TEST_PLUGIN = '''
import os, subprocess, sys
from sigstore_kms_plugins.plugin import Handler, HandlerError, run

class Test(Handler):
    def default_algorithm(self, ctx):
        ref = ctx.key_resource_id
        if ref == "print":
            print("junk on stdout from print()")
            sys.stdout.write("unflushed junk")
            sys.__stdout__.write("junk through sys.__stdout__")
            os.write(1, b"junk on fd 1\\n")
            subprocess.run(["echo", "junk from a subprocess"], check=True)
            return "printed"
        if ref == "raise":
            raise RuntimeError("kaboom")
        if ref == "handlererror":
            raise HandlerError("key not found <&>")
        if ref == "exit":
            sys.exit(3)
        if ref == "ctx":
            return repr((ctx.hash_func.name, ctx.key_version, ctx.remote_verification, ctx.deadline is not None))
        return "ok"

    def sign_message(self, ctx, message, opts):
        if ctx.key_resource_id == "count":
            n = 0
            for chunk in iter(lambda: message.read(1 << 16), b""):
                n += len(chunk)
            return str(n).encode()
        if opts.digest is not None:
            return b"digest:" + opts.digest
        return message.read()

if __name__ == "__main__":
    run(Test())
'''


def install(directory: Path, name: str, source: str) -> None:
    """Writes an executable plugin whose interpreter is the one running the tests."""
    body = "\n".join(line for line in source.splitlines() if not line.startswith("#!"))
    path = directory / f"sigstore-kms-{name}"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("plugins")
    install(d, "pykms", PYKMS.read_text())
    install(d, "pysdk", TEST_PLUGIN)
    return f"{d}:{VENV_BIN}:{SYSTEM_PATH}"


@pytest.fixture
def py_api(api: Api, plugin_path: str) -> Api:
    return lambda uri, **kw: api(uri, path=plugin_path, **kw)


def test_python_plugin_from_the_python_host(py_api: Api, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    sv = py_api(f"pykms://{key}")
    assert sv.default_algorithm() == "ecdsa-p256"
    assert sv.supported_algorithms() == ["ecdsa-p256", "ecdsa-p384"]
    pem = sv.create_key("ecdsa-p256")
    assert key.stat().st_mode & 0o777 == 0o600
    assert sv.public_key() == pem == sv.create_key("ecdsa-p384")
    data = b"release artifact\n" * 1000
    (tmp_path / "artifact").write_bytes(data)
    for message in (data, tmp_path / "artifact", io.BytesIO(data)):
        signature = sv.sign_message(message)
        public = skp.load_public_key(pem)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        sv.verify_signature(signature, data)
    with pytest.raises(skp.PluginReturnedError) as info:
        sv.verify_signature(signature, data + b"tampered")
    assert info.value.message == "invalid signature"
    digest = skp.HashFunc.SHA256.new(data).digest()
    public.verify(sv.sign_digest(digest), data, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(skp.PluginReturnedError, match="no key file"):
        py_api(f"pykms://{tmp_path / 'absent.pem'}").public_key()


def run_cli(plugin_path: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=plugin_path)
    return subprocess.run(
        [str(VENV_BIN / "sigstore-kms"), *args], env=env, capture_output=True, text=True, check=check, timeout=120
    )


def test_python_plugin_from_the_rust_cli(plugin_path: str, tmp_path: Path) -> None:
    key = f"pykms://{tmp_path / 'key.pem'}"
    listed = run_cli(plugin_path, "list").stdout
    assert "pykms" in listed and "pysdk" in listed and "localkms" in listed
    pem = run_cli(plugin_path, "generate-key", "--key", key, "--algorithm", "ecdsa-p384").stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "pub.pem").write_text(pem)
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"hello from the rust cli\n")
    signature = run_cli(plugin_path, "sign", "--key", key, str(artifact)).stdout.strip()
    (tmp_path / "artifact.sig").write_text(signature)
    base64.b64decode(signature, validate=True)
    sig = str(tmp_path / "artifact.sig")
    run_cli(plugin_path, "verify", "--key", key, "--signature", sig, str(artifact))
    run_cli(plugin_path, "verify", "--public-key", str(tmp_path / "pub.pem"), "--signature", sig, str(artifact))
    artifact.write_bytes(b"tampered\n")
    assert run_cli(plugin_path, "verify", "--key", key, "--signature", sig, str(artifact), check=False).returncode == 1
    # The CLI's conformance check passes against the Python plugin.
    check = run_cli(plugin_path, "check", "--key", f"pykms://{tmp_path / 'check.pem'}", check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_stray_output_goes_to_stderr(plugin_path: str) -> None:
    sv = skp.get_signer_verifier("pysdk://print", path=plugin_path, stderr="capture", stdout_limit=1000)
    assert sv.default_algorithm() == "printed"
    out = run_plugin(plugin_path, "pysdk", "v1", request("defaultAlgorithm", "print"))
    assert out.stdout == b'{"defaultAlgorithm":{"defaultAlgorithm":"printed"}}'
    for junk in (b"junk on stdout from print()", b"unflushed junk", b"sys.__stdout__", b"junk on fd 1", b"subprocess"):
        assert junk in out.stderr


def test_exceptions_become_error_messages(py_api: Api) -> None:
    with pytest.raises(skp.PluginReturnedError) as info:
        py_api("pysdk://raise").default_algorithm()
    assert info.value.message == "RuntimeError: kaboom"
    assert info.value.stderr_tail is not None and "Traceback" in info.value.stderr_tail
    with pytest.raises(skp.PluginReturnedError) as info:
        py_api("pysdk://handlererror").default_algorithm()
    assert info.value.message == "key not found <&>"
    assert "Traceback" not in (info.value.stderr_tail or "")
    with pytest.raises(skp.PluginReturnedError, match="SystemExit: 3"):
        py_api("pysdk://exit").default_algorithm()
    with pytest.raises(skp.PluginReturnedError, match="createKey is not supported"):
        py_api("pysdk://k").create_key("x")


def test_context_reaches_the_plugin(py_api: Api) -> None:
    got = py_api("pysdk://ctx", hash_func="sha512", key_version="3", remote_verification=True).default_algorithm()
    assert got == "('SHA512', '3', True, True)"


def test_messages_stream_through_a_python_plugin(py_api: Api) -> None:
    n = 48 * 1024 * 1024 + 1
    assert py_api("pysdk://count").sign_message(PatternReader(n)) == str(n).encode()
    assert py_api("pysdk://k").sign_digest(b"\x07" * 32) == b"digest:" + b"\x07" * 32


def request(method: str, key_ref: str = "k", body: str = "{}") -> str:
    return json.dumps(
        {
            "initOptions": {"protocolVersion": "v1", "keyResourceID": key_ref, "hashFunc": 5},
            "methodName": method,
            method: json.loads(body),
        },
        separators=(",", ":"),
    )


def run_plugin(plugin_path: str, name: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    program = plugin_path.split(":")[0] + f"/sigstore-kms-{name}"
    return subprocess.run([program, *args], input=stdin, capture_output=True, timeout=60, check=False)


def test_bad_invocations_are_answered(plugin_path: str) -> None:
    out = run_plugin(plugin_path, "pysdk", "v2", request("defaultAlgorithm"))
    assert out.stdout.startswith(b'{"errorMessage":"unsupported protocol version \\"v2\\"')
    out = run_plugin(plugin_path, "pysdk")
    assert b"expected at least 3 arguments" in out.stdout and out.returncode == 0
    out = run_plugin(plugin_path, "pysdk", "v1", request("signMessage", body='{"signOptions":{"messageOptions":{}}}'), stdin=b"abc")
    assert out.stdout == b'{"signMessage":{"signature":"YWJj"}}'
    out = run_plugin(plugin_path, "pysdk", "v1", "not json")
    assert out.stdout.startswith(b'{"errorMessage":"cannot decode the request')
    out = run_plugin(plugin_path, "pysdk", "v1", request("nosuchMethod"))
    assert out.stdout == b'{"errorMessage":"unsupported method: nosuchMethod"}'


class Recorder(plugin.Handler):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def default_algorithm(self, ctx: plugin.CallContext) -> str:
        self.seen.append(ctx)
        return "rec"

    def sign_message(self, ctx: plugin.CallContext, message: Any, opts: plugin.MessageOptions) -> bytes:
        self.seen.append((ctx, opts))
        return message.read()


def test_serve_in_process() -> None:
    handler = Recorder()
    out = io.BytesIO()
    assert plugin.serve(handler, ["prog", "v1", request("defaultAlgorithm", "kr")], stdin=io.BytesIO(), stdout=out) == 0
    assert out.getvalue() == b'{"defaultAlgorithm":{"defaultAlgorithm":"rec"}}'
    assert handler.seen[0].key_resource_id == "kr"
    out = io.BytesIO()
    req = request("signMessage", body='{"signOptions":{"messageOptions":{"digest":"AAE=","hashFunc":6}}}')
    plugin.serve(handler, [b"prog", b"v1", req.encode()], stdin=io.BytesIO(b"payload"), stdout=out)
    assert out.getvalue() == b'{"signMessage":{"signature":"cGF5bG9hZA=="}}'
    ctx, opts = handler.seen[1]
    assert opts == plugin.MessageOptions(b"\x00\x01", skp.HashFunc.SHA384)
    with pytest.raises(TypeError, match="not a KMS handler"):
        plugin.serve(object(), ["p", "v1", "{}"], stdin=io.BytesIO(), stdout=io.BytesIO())  # type: ignore[arg-type]
