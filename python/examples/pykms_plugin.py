#!/usr/bin/env python3
"""sigstore-kms-pykms: a complete Sigstore KMS plugin written with the Python SDK.

Keys are ECDSA P-256 or P-384 keys in local PEM files (the key reference is the file's path),
signed with the ``cryptography`` package. Install it as a program named ``sigstore-kms-pykms``
on ``PATH`` (``chmod +x``), then use the key URI ``pykms:///path/to/key.pem`` with cosign,
``sigstore-kms`` or :func:`sigstore_kms_plugins.get_signer_verifier`.

This is an example: a key in a file is only as safe as the file system it sits on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Dict, List

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sigstore_kms_plugins.plugin import CallContext, Handler, HandlerError, HashFunc, MessageOptions, run

CURVES: Dict[str, ec.EllipticCurve] = {"ecdsa-p256": ec.SECP256R1(), "ecdsa-p384": ec.SECP384R1()}
HASHES: Dict[HashFunc, hashes.HashAlgorithm] = {
    HashFunc.SHA256: hashes.SHA256(),
    HashFunc.SHA384: hashes.SHA384(),
    HashFunc.SHA512: hashes.SHA512(),
}


class PyKms(Handler):
    """ECDSA keys in PEM files."""

    def default_algorithm(self, ctx: CallContext) -> str:
        return "ecdsa-p256"

    def supported_algorithms(self, ctx: CallContext) -> List[str]:
        return list(CURVES)

    def create_key(self, ctx: CallContext, algorithm: str) -> bytes:
        curve = CURVES.get(algorithm or self.default_algorithm(ctx))
        if curve is None:
            raise HandlerError(f"unsupported algorithm {algorithm!r}: expected one of {', '.join(CURVES)}")
        path = Path(ctx.key_resource_id)
        pem = ec.generate_private_key(curve).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # an existing key is answered as it is, whatever the algorithm
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
        return self.public_key(ctx)

    def public_key(self, ctx: CallContext) -> bytes:
        return self._key(ctx).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        algorithm, digest = self._digest(ctx, message, opts)
        return self._key(ctx).sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))

    def verify_signature(
        self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions
    ) -> None:
        algorithm, digest = self._digest(ctx, message, opts)
        try:
            self._key(ctx).public_key().verify(signature, digest, ec.ECDSA(utils.Prehashed(algorithm)))
        except InvalidSignature:
            raise HandlerError("invalid signature") from None

    @staticmethod
    def _key(ctx: CallContext) -> ec.EllipticCurvePrivateKey:
        try:
            pem = Path(ctx.key_resource_id).read_bytes()
        except FileNotFoundError:
            raise HandlerError(f"no key file {ctx.key_resource_id}: create the key first") from None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise HandlerError(f"{ctx.key_resource_id} is not an ECDSA key")
        return key

    @staticmethod
    def _digest(ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> tuple[hashes.HashAlgorithm, bytes]:
        hash_func = opts.hash_func or ctx.hash_func or HashFunc.SHA256
        algorithm = HASHES.get(hash_func)
        if algorithm is None:
            raise HandlerError(f"unsupported hash function {hash_func.go_name}")
        if opts.digest:
            return algorithm, opts.digest
        h = hashes.Hash(algorithm)
        for chunk in iter(lambda: message.read(1 << 20), b""):
            h.update(chunk)
        return algorithm, h.finalize()


def main() -> None:
    run(PyKms())


if __name__ == "__main__":
    main()


__all__ = ["PyKms", "main"]
