"""Typed use of the host API (checked with `mypy --strict` by python/scripts/test.sh).

Signs a file with a key held by any plugin and verifies the signature locally with
`cryptography`, blocking and with asyncio.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import List

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import sigstore_kms_plugins as skp
from sigstore_kms_plugins.errors import KmsPluginError, PluginNotFoundError, PluginReturnedError


def sign_and_verify(uri: str, artifact: Path) -> bytes:
    sv: skp.SignerVerifier = skp.get_signer_verifier(uri, hash_func=skp.HashFunc.SHA256, timeout=60, stderr="capture")
    algorithm: str = sv.default_algorithm()
    algorithms: List[str] = sv.supported_algorithms()
    assert algorithm in algorithms
    pem: bytes = sv.create_key(algorithm)
    signature: bytes = sv.sign_message(artifact)
    with artifact.open("rb") as f:
        sv.verify_signature(signature, f)
    key = skp.load_public_key(pem)
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, artifact.read_bytes(), ec.ECDSA(hashes.SHA256()))
    digest = skp.HashFunc.SHA256.new(artifact.read_bytes()).digest()
    sv.verify_digest(sv.sign_digest(digest), digest)
    return signature


async def sign_many(uri: str, artifacts: List[Path]) -> List[bytes]:
    sv: skp.AsyncSignerVerifier = skp.get_async_signer_verifier(uri)
    return list(await asyncio.gather(*(sv.sign_message(a) for a in artifacts)))


def main(argv: List[str]) -> int:
    uri, *files = argv[1:]
    try:
        for info in skp.list_plugins():
            print(info.name, info.path, "usable" if info.usable else "not usable", file=sys.stderr)
        sign_and_verify(uri, Path(files[0]))
        print(len(asyncio.run(sign_many(uri, [Path(f) for f in files]))), "signatures")
    except PluginNotFoundError as e:
        print(f"install the plugin first: {e}", file=sys.stderr)
        return 1
    except PluginReturnedError as e:
        print(f"the KMS said: {e.message}", file=sys.stderr)
        return 1
    except KmsPluginError as e:
        print(f"{e.kind}: {e}", file=sys.stderr)
        if e.stderr_tail:
            print(e.stderr_tail, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
