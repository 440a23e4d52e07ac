"""The Go-generated golden vectors in tests/vectors, shared with the Rust and Node suites.

* Every request vector decodes (through the Python SDK's codec) back to its fields, and a
  Python handler served by `plugin.serve` sees exactly those fields.
* The Go handler's own answers (the `handler_*` response vectors) are what the SDK writes, byte
  for byte, both from `encode_response` and end to end through `serve`.
* Every response vector is read as the host must read it.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, BinaryIO, Dict, List, Optional, Tuple

import pytest

from sigstore_kms_plugins import HashFunc, plugin, protocol
from sigstore_kms_plugins.plugin import CallContext, MessageOptions
from conftest import VECTORS


def load(kind: str) -> List[Tuple[str, Dict[str, Any]]]:
    files = sorted((VECTORS / kind).glob("*.json"))
    return [(f.stem, json.loads(f.read_text())) for f in files]


REQUESTS = load("requests")
RESPONSES = load("responses")


def test_vectors_are_there() -> None:
    assert len(REQUESTS) >= 20 and len(RESPONSES) >= 60


def b64(value: Optional[str]) -> Optional[bytes]:
    return None if value is None else base64.b64decode(value)


def rpc(fields: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    return None if fields is None else dict(fields)


@pytest.mark.parametrize(("name", "vector"), REQUESTS, ids=[n for n, _ in REQUESTS])
def test_requests_decode_to_their_fields(name: str, vector: Dict[str, Any]) -> None:
    f = vector["fields"]
    req = protocol.decode_request(vector["expected"])
    raw = req.raw
    method = f["method"]
    assert req.method == raw["methodName"] == method
    init = raw["initOptions"]
    assert init["protocolVersion"] == "v1"
    assert init["keyResourceID"] == f["keyResourceID"]
    assert init["hashFunc"] == f["hashFunc"]
    assert init["ctxDeadline"] == f["initCtxDeadline"]
    assert init["rpcOptions"] == rpc(f["initRpcOptions"])
    body = raw[method]
    if method == "createKey":
        assert body == f["createKey"]
        assert req.algorithm == f["createKey"]["algorithm"]
    if method == "publicKey":
        assert body["publicKeyOptions"]["rpcOptions"] == f["rpcOptions"]
    if method in ("signMessage", "verifySignature"):
        options = body["signOptions" if method == "signMessage" else "verifyOptions"]
        assert options["rpcOptions"] == f["rpcOptions"]
        mo = f["messageOptions"]
        # Go cannot tell an absent digest from null on the way in: both are "no digest".
        assert options["messageOptions"] == {"digest": b64(mo.get("digest")), "hashFunc": mo.get("hashFunc")}
        want_hash = None if mo.get("hashFunc") is None else HashFunc(mo["hashFunc"])
        assert req.message_options == MessageOptions(b64(mo.get("digest")), want_hash)
    if method == "verifySignature":
        assert body["signature"] == b64(f["signature"])
        assert req.signature == (b64(f["signature"]) or b"")
    # The context a handler gets (method-level RPC options first, then the init ones).
    ctx = req.context
    assert ctx.key_resource_id == f["keyResourceID"]
    assert ctx.hash_func == f["hashFunc"]
    method_rpc = f.get("rpcOptions") or {}
    init_rpc = f["initRpcOptions"] or {}
    assert ctx.key_version == (method_rpc.get("keyVersion") or init_rpc.get("keyVersion") or "")
    assert ctx.remote_verification == bool(method_rpc.get("remoteVerification") or init_rpc.get("remoteVerification"))
    want_deadline = (
        (f.get("createKey") or {}).get("ctxDeadline")
        or method_rpc.get("ctxDeadline")
        or f["initCtxDeadline"]
        or init_rpc.get("ctxDeadline")
    )
    assert (ctx.deadline is None) == (want_deadline is None)
    if ctx.deadline is not None:
        assert ctx.deadline.strftime("%Y-%m-%dT%H:%M:%S") == want_deadline[:19]


class Seen(plugin.Handler):
    """Records what it is called with; answers fixed results."""

    def __init__(self) -> None:
        self.calls: List[Tuple[Any, ...]] = []

    def default_algorithm(self, ctx: CallContext) -> str:
        self.calls.append(("defaultAlgorithm", ctx))
        return "ecdsa-p256-sha256"

    def supported_algorithms(self, ctx: CallContext) -> List[str]:
        self.calls.append(("supportedAlgorithms", ctx))
        return ["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]

    def create_key(self, ctx: CallContext, algorithm: str) -> bytes:
        self.calls.append(("createKey", ctx, algorithm))
        return HANDLER_PEM

    def public_key(self, ctx: CallContext) -> bytes:
        self.calls.append(("publicKey", ctx))
        return HANDLER_PEM

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        self.calls.append(("signMessage", ctx, message.read(), opts))
        return b"sig"

    def verify_signature(self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions) -> None:
        self.calls.append(("verifySignature", ctx, signature, message.read(), opts))


HANDLER_PEM = base64.b64decode(dict(RESPONSES)["handler_create_key"]["expect"]["ok"]["publicKeyPEM"])


@pytest.mark.parametrize(("name", "vector"), REQUESTS, ids=[n for n, _ in REQUESTS])
def test_a_served_handler_sees_the_request(name: str, vector: Dict[str, Any]) -> None:
    handler = Seen()
    out = io.BytesIO()
    assert plugin.serve(handler, ["p", "v1", vector["expected"]], stdin=io.BytesIO(b"the message"), stdout=out) == 0
    want = protocol.decode_request(vector["expected"])
    call = handler.calls[0]
    assert call[0] == want.method
    assert call[1] == want.context
    if want.method == "createKey":
        assert call[2] == want.algorithm
    if want.method == "signMessage":
        assert call[2:] == (b"the message", want.message_options)
    if want.method == "verifySignature":
        assert call[2:] == (want.signature, b"the message", want.message_options)
    assert b"errorMessage" not in out.getvalue()


HANDLER_VECTORS = [(n, v) for n, v in RESPONSES if n.startswith("handler_")]


def result_of(vector: Dict[str, Any]) -> protocol.Result:
    ok = vector["expect"]["ok"]
    method = vector["method"]
    if method == "defaultAlgorithm":
        return str(ok["defaultAlgorithm"])
    if method == "supportedAlgorithms":
        return list(ok["supportedAlgorithms"])
    if method in ("createKey", "publicKey"):
        return base64.b64decode(ok["publicKeyPEM"])
    if method == "signMessage":
        return base64.b64decode(ok["signature"])
    return None


@pytest.mark.parametrize(("name", "vector"), HANDLER_VECTORS, ids=[n for n, _ in HANDLER_VECTORS])
def test_handler_answers_are_byte_for_byte_go(name: str, vector: Dict[str, Any]) -> None:
    stdout = vector["stdout"].encode()
    if name == "handler_supported_algorithms_nil":
        # Go writes a nil slice as null; a Python list is never nil, so we write [] (which every
        # host, Go's included, reads as the same empty list).
        assert protocol.decode_response("supportedAlgorithms", stdout) == ("ok", [])
        stdout = stdout.replace(b"null", b"[]")
    outcome, value = protocol.decode_response(vector["method"], stdout)
    if outcome == "PluginReturned":
        assert isinstance(value, str)
        assert protocol.encode_error(value) == stdout
    else:
        assert protocol.encode_response(vector["method"], result_of(vector)) == stdout


class Answers(plugin.Handler):
    """Answers what the Go example handler answered in the handler_* vectors."""

    def default_algorithm(self, ctx: CallContext) -> str:
        return "ecdsa-p256-sha256"

    def supported_algorithms(self, ctx: CallContext) -> List[str]:
        return ["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]

    def create_key(self, ctx: CallContext, algorithm: str) -> bytes:
        return HANDLER_PEM

    def public_key(self, ctx: CallContext) -> bytes:
        return base64.b64decode(dict(RESPONSES)["handler_public_key"]["expect"]["ok"]["publicKeyPEM"])

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        if ctx.key_resource_id == "empty":
            return b""
        if ctx.key_resource_id == "unsupported":
            raise plugin.HandlerError("unsupported method: signMessage")
        return base64.b64decode(dict(RESPONSES)["handler_sign_message"]["expect"]["ok"]["signature"])

    def verify_signature(self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions) -> None:
        if signature != b"\x00":
            raise plugin.HandlerError("invalid signature when validating ASN.1 encoded signature")


SERVED = {
    "handler_default_algorithm": ("defaultAlgorithm", "k", "{}"),
    "handler_supported_algorithms": ("supportedAlgorithms", "k", "{}"),
    "handler_create_key": ("createKey", "k", '{"algorithm":"ecdsa-p256-sha256"}'),
    "handler_public_key": ("publicKey", "k", '{"publicKeyOptions":{"rpcOptions":{}}}'),
    "handler_sign_message": ("signMessage", "k", '{"signOptions":{"messageOptions":{"digest":null}}}'),
    "handler_empty_signature": ("signMessage", "empty", '{"signOptions":{"messageOptions":{"digest":null}}}'),
    "handler_verify_signature": ("verifySignature", "k", '{"signature":"AA==","verifyOptions":{}}'),
    "handler_verify_signature_error": ("verifySignature", "k", '{"signature":"AQ==","verifyOptions":{}}'),
    "handler_unsupported_method": ("signMessage", "unsupported", '{"signOptions":{"messageOptions":{}}}'),
}


@pytest.mark.parametrize("name", sorted(SERVED))
def test_served_answers_are_byte_for_byte_go(name: str) -> None:
    method, key_ref, body = SERVED[name]
    req = (
        f'{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"{key_ref}","hashFunc":5}},'
        f'"methodName":"{method}","{method}":{body}}}'
    )
    out = io.BytesIO()
    plugin.serve(Answers(), ["p", "v1", req], stdin=io.BytesIO(b"m"), stdout=out)
    assert out.getvalue() == dict(RESPONSES)[name]["stdout"].encode()


def stdout_of(vector: Dict[str, Any]) -> bytes:
    if "stdout" in vector:
        return str(vector["stdout"]).encode()
    return base64.b64decode(vector["stdoutBase64"])


@pytest.mark.parametrize(("name", "vector"), RESPONSES, ids=[n for n, _ in RESPONSES])
def test_responses_are_read_as_the_host_must(name: str, vector: Dict[str, Any]) -> None:
    outcome, value = protocol.decode_response(vector["method"], stdout_of(vector))
    expect = vector["expect"]
    if "ok" in expect:
        assert outcome == "ok", value
        ok = expect["ok"]
        if vector["method"] in ("createKey", "publicKey"):
            assert value == base64.b64decode(ok["publicKeyPEM"])
        elif vector["method"] == "signMessage":
            assert value == base64.b64decode(ok["signature"])
        elif vector["method"] == "verifySignature":
            assert value is None
        else:
            assert value == ok[vector["method"]]
    else:
        assert outcome == expect["error"], value
        assert value


def test_go_string_escapes() -> None:
    """Go's json.Marshal escapes: HTML-safe <, >, &, U+2028/9; short escapes; \\u00xx controls."""
    text = "<a>&b\u2028\u2029\b\f\n\r\t\x01\x1f\x7f\"\\é€😀"
    want = (
        '{"errorMessage":"\\u003ca\\u003e\\u0026b\\u2028\\u2029\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\"\\\\é€😀"}'
    ).encode()
    assert protocol.encode_error(text) == want
    assert protocol.encode_response("supportedAlgorithms", []) == b'{"supportedAlgorithms":{"supportedAlgorithms":[]}}'
    assert protocol.encode_response("verifySignature", None) == b'{"verifySignature":{}}'
    with pytest.raises(ValueError, match="unknown method"):
        protocol.encode_response("nope", None)
    with pytest.raises(TypeError):
        protocol.encode_response("supportedAlgorithms", "abc")


def test_requests_are_decoded_with_go_rules() -> None:
    # Case-insensitive keys (Kelvin sign folds to k), unknown fields ignored, duplicates merged.
    req = protocol.decode_request(
        '{"INITOPTIONS":{"\u212aeyResourceID":"kelvin","hashfunc":6,"extra":1},'
        '"methodName":"createKey","createKey":{"algorithm":"a"},"createKey":{"ctxDeadline":null}}'
    )
    assert req.context.key_resource_id == "kelvin"
    assert req.context.hash_func is HashFunc.SHA384
    assert req.algorithm == "a"
    with pytest.raises(ValueError, match="cannot decode"):
        protocol.decode_request('{"methodName":1}')


def normalize(value: Any) -> Any:
    """`None` and absent mean the same on the way in; compare without that difference."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "vector"), REQUESTS, ids=[n for n, _ in REQUESTS])
def test_requests_in_the_vectors_shape_both_ways(name: str, vector: Dict[str, Any]) -> None:
    # The same shape the Node codec's encodeRequest/decodeRequest use (tests/node/vectors.test.js).
    assert protocol.encode_request(vector["fields"]) == vector["expected"]
    assert normalize(protocol.decode_request(vector["expected"]).fields) == normalize(vector["fields"])


@pytest.mark.parametrize(("name", "vector"), RESPONSES, ids=[n for n, _ in RESPONSES])
def test_responses_in_the_vectors_shape(name: str, vector: Dict[str, Any]) -> None:
    got = protocol.decode_response_fields(vector["method"], stdout_of(vector))
    expect = vector["expect"]
    if "ok" in expect:
        assert got == {"ok": expect["ok"]}
        if name.startswith("handler_") and name != "handler_supported_algorithms_nil":
            assert protocol.encode_response(vector["method"], expect["ok"]) == stdout_of(vector)
    else:
        assert got["error"] == expect["error"] and got["message"]


def test_responses_nested_as_deep_as_go_accepts() -> None:
    def answer(levels: int) -> bytes:
        return ('{"debug":' + "[" * (levels - 1) + "]" * (levels - 1) + ',"signMessage":{"signature":"AQID"}}').encode()

    assert protocol.decode_response("signMessage", answer(10_000)) == ("ok", b"\x01\x02\x03")
    outcome, reason = protocol.decode_response("signMessage", answer(10_001))
    assert outcome == "InvalidResponse" and "nested more than 10000 levels" in str(reason)
    with pytest.raises(ValueError, match="fields"):
        protocol.encode_request({"method": "nope"})
