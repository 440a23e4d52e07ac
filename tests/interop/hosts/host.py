#!/usr/bin/env python3
"""The Python host of the interop tests: ``host.py SCENARIO.json``.

Runs a scenario (see tests/interop/go/internal/scenario) through the Python binding's
blocking API (``sigstore_kms_plugins.get_signer_verifier``) and prints
``{"host": "python", "results": [...]}``. Never shipped.
"""

from __future__ import annotations

import base64
import json
import pathlib
import sys
from typing import Any, Dict, List, Optional

import sigstore_kms_plugins as skp
from sigstore_kms_plugins.errors import KmsPluginError


def b64(text: Optional[str]) -> bytes:
    return base64.b64decode(text or "", validate=True)


def spki_der(pem: Any) -> str:
    """The base64 DER inside the first PEM block (the SubjectPublicKeyInfo)."""
    text = pem.decode() if isinstance(pem, (bytes, bytearray)) else str(pem)
    lines = text.strip().splitlines()
    begin = next(i for i, l in enumerate(lines) if l.startswith("-----BEGIN "))
    end = next(i for i, l in enumerate(lines) if l.startswith("-----END ") and i > begin)
    der = base64.b64decode("".join(lines[begin + 1 : end]))
    return base64.b64encode(der).decode()


def message(op: Dict[str, Any]) -> Any:
    if op.get("messageFile"):
        return pathlib.Path(op["messageFile"])
    return b64(op.get("message"))


def signature_from(results: List[Dict[str, Any]], op: Dict[str, Any]) -> bytes:
    j = op.get("signatureFrom")
    if j is None:
        return b64(op.get("signature"))
    if j >= len(results) or not results[j]["ok"]:
        raise ValueError(f"signatureFrom {j}: no such successful op")
    return b64(results[j]["value"])


def run(sv: Any, op: Dict[str, Any], results: List[Dict[str, Any]]) -> Any:
    name = op["op"]
    if name == "defaultAlgorithm":
        return sv.default_algorithm()
    if name == "supportedAlgorithms":
        return list(sv.supported_algorithms())
    if name == "createKey":
        return spki_der(sv.create_key(op.get("algorithm", "")))
    if name == "publicKey":
        return spki_der(sv.public_key())
    if name == "signMessage":
        return base64.b64encode(sv.sign_message(message(op))).decode()
    if name == "signDigest":
        return base64.b64encode(sv.sign_digest(b64(op.get("digest")), op.get("hashFunc", 0))).decode()
    if name == "verifySignature":
        sv.verify_signature(signature_from(results, op), message(op))
        return None
    if name == "verifyDigest":
        sv.verify_digest(signature_from(results, op), b64(op.get("digest")), op.get("hashFunc", 0))
        return None
    raise ValueError(f"unknown op {name!r}")


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: host.py SCENARIO.json", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        sc = json.load(f)
    timeout = sc.get("timeoutSeconds") or None
    sv = skp.get_signer_verifier(
        sc["key"],
        hash_func=sc["hashFunc"],
        key_version=sc.get("keyVersion") or None,
        remote_verification=bool(sc.get("remoteVerification")),
        timeout=timeout,
    )
    results: List[Dict[str, Any]] = []
    for op in sc["ops"]:
        try:
            results.append({"op": op["op"], "ok": True, "value": run(sv, op, results)})
        except KmsPluginError as e:
            error: Dict[str, Any] = {"kind": e.kind, "text": str(e)}
            if e.message is not None:
                error["pluginMessage"] = e.message
            results.append({"op": op["op"], "ok": False, "error": error})
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            results.append({"op": op["op"], "ok": False, "error": {"kind": "Other", "text": f"{type(e).__name__}: {e}"}})
    json.dump({"host": "python", "results": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
