#!/usr/bin/env python3
"""An interop test plugin written with the Python SDK (``sigstore_kms_plugins.plugin``).

Key URIs ``pysdk://PATH``: PATH is an ECDSA P-256/P-384 key file, an unencrypted PKCS#8 PEM
shared with the Go (``sigstore-kms-gokms``), Rust (``sigstore-kms-localkms``) and JavaScript
(``sigstore-kms-jssdk``) plugins of the interop tests. The hash rules are those of Go's example
plugin and of our localkms: the call's ``hashFunc``, else the client's, else SHA-256; a non-empty
digest is signed as it is (its length checked) and stdin is not read. Never shipped; needs the
``cryptography`` package.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, BinaryIO, List, Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sigstore_kms_plugins.plugin import CallContext, Handler, HandlerError, MessageOptions, run

ALGORITHMS = {"ecdsa-p256": ec.SECP256R1, "ecdsa-p384": ec.SECP384R1}
DEFAULT = "ecdsa-p256"
HASHES = {4: hashes.SHA224, 5: hashes.SHA256, 6: hashes.SHA384, 7: hashes.SHA512}
BY_LENGTH = {28: hashes.SHA224, 32: hashes.SHA256, 48: hashes.SHA384, 64: hashes.SHA512}
INVALID = "invalid signature when validating ASN.1 encoded signature"


def load(path: str) -> ec.EllipticCurvePrivateKey:
    if not path:
        raise HandlerError("empty key reference: expected a key file path")
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise HandlerError(f"the key is a {type(key).__name__}, this plugin only handles ECDSA")
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def digest_of(ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> tuple:
    """The digest to sign and its hash algorithm."""
    explicit = opts.hash_func is not None and int(opts.hash_func) != 0
    number = int(opts.hash_func) if explicit else int(ctx.hash_func)
    if number == 0:
        number = 5
    if number not in HASHES:
        raise HandlerError(f"hash function {number} is not supported")
    algorithm = HASHES[number]()
    if opts.digest:
        digest = bytes(opts.digest)
        if explicit:
            if len(digest) != algorithm.digest_size:
                raise HandlerError(f"digest has {len(digest)} bytes, {algorithm.name} needs {algorithm.digest_size}")
        elif len(digest) not in BY_LENGTH:
            raise HandlerError(f"digest has {len(digest)} bytes, not the length of a SHA-2 digest")
        else:
            algorithm = BY_LENGTH[len(digest)]()
        return digest, algorithm
    h = hashes.Hash(algorithm)
    while True:
        chunk = message.read(1 << 16)
        if not chunk:
            break
        h.update(chunk)
    return h.finalize(), algorithm


class PySdkKms(Handler):
    def default_algorithm(self, ctx: CallContext) -> str:
        return DEFAULT

    def supported_algorithms(self, ctx: CallContext) -> List[str]:
        return list(ALGORITHMS)

    def create_key(self, ctx: CallContext, algorithm: str) -> bytes:
        algorithm = algorithm or DEFAULT
        if algorithm not in ALGORITHMS:
            raise HandlerError(f"algorithm {algorithm} not supported (supported: {list(ALGORITHMS)})")
        path = ctx.key_resource_id
        if os.path.exists(path):
            return public_pem(load(path))
        key = ec.generate_private_key(ALGORITHMS[algorithm]())
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(prefix=".pysdk-", dir=os.path.dirname(os.path.abspath(path)))
        try:
            os.write(fd, data)
            os.close(fd)
            try:
                os.link(tmp, path)  # never replaces a key that appeared meanwhile
            except FileExistsError:
                return public_pem(load(path))
        finally:
            os.unlink(tmp)
        return public_pem(key)

    def public_key(self, ctx: CallContext) -> bytes:
        return public_pem(load(ctx.key_resource_id))

    def sign_message(self, ctx: CallContext, message: BinaryIO, opts: MessageOptions) -> bytes:
        key = load(ctx.key_resource_id)
        digest, algorithm = digest_of(ctx, message, opts)
        return key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))

    def verify_signature(
        self, ctx: CallContext, signature: bytes, message: BinaryIO, opts: MessageOptions
    ) -> Optional[Any]:
        key = load(ctx.key_resource_id)
        digest, algorithm = digest_of(ctx, message, opts)
        try:
            key.public_key().verify(signature, digest, ec.ECDSA(utils.Prehashed(algorithm)))
        except InvalidSignature:
            raise HandlerError(INVALID) from None
        return None


if __name__ == "__main__":
    run(PySdkKms())
