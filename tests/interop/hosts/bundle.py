#!/usr/bin/env python3
"""Sigstore bundles through the Python package, for the interop harness (bundle_test.go).

    bundle.py sign-artifact URI ARTIFACT OUT
    bundle.py sign-dsse URI PAYLOAD-FILE PAYLOAD-TYPE OUT
    bundle.py verify JOBS.json

``verify`` reads a JSON array of ``{"bundle": FILE, "publicKey": PEM-FILE, "artifact": FILE or
null}`` and prints a JSON array with, for each, ``{"ok": true, ...}`` or ``{"ok": false,
"reason": ..., "message": ...}``; it exits 0 either way (one process for many checks). Any other
failure exits 1. Never shipped.
"""

from __future__ import annotations

import json
import pathlib
import sys

import sigstore_kms_plugins as skp
from sigstore_kms_plugins.sigstore import Bundle, BundleVerificationError, sign_artifact, sign_dsse, verify_artifact, verify_dsse


def verify(job: dict) -> dict:
    pem = pathlib.Path(job["publicKey"]).read_bytes()
    artifact = pathlib.Path(job["artifact"]) if job.get("artifact") else None
    try:
        bundle = Bundle.from_json(pathlib.Path(job["bundle"]).read_bytes())
        if bundle.content == "message_signature":
            if artifact is None:
                raise SystemExit("verify: a message-signature bundle needs its artifact")
            verify_artifact(bundle, artifact, pem)
            return {"ok": True}
        payload_type, _ = verify_dsse(bundle, pem, artifact=artifact)
        return {"ok": True, "payloadType": payload_type}
    except BundleVerificationError as e:
        return {"ok": False, "reason": e.reason, "message": str(e)}


def main(argv: list[str]) -> int:
    command, *args = argv[1:]
    if command == "sign-artifact":
        uri, artifact, out = args
        bundle = sign_artifact(skp.get_signer_verifier(uri), pathlib.Path(artifact))
        pathlib.Path(out).write_text(bundle.to_json())
        return 0
    if command == "sign-dsse":
        uri, payload, payload_type, out = args
        bundle = sign_dsse(skp.get_signer_verifier(uri), pathlib.Path(payload).read_bytes(), payload_type)
        pathlib.Path(out).write_text(bundle.to_json())
        return 0
    if command == "verify":
        (jobs_file,) = args
        results = [verify(job) for job in json.loads(pathlib.Path(jobs_file).read_text())]
        print(json.dumps(results))
        return 0
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
