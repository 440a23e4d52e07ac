"""Public keys as ``cryptography`` objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Tuple, Union

from . import _native

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = ["load_public_key", "public_key_der"]


def public_key_der(pem: Union[bytes, str]) -> Tuple[bytes, str]:
    """The DER SubjectPublicKeyInfo of a PEM public key, and its type (``"ecdsa-p256"``,
    ``"ed25519"``, ``"rsa"``, ...).

    Reads what Go's ``cryptoutils.UnmarshalPEMToPublicKey`` reads: a ``PUBLIC KEY`` block or an
    ``RSA PUBLIC KEY`` (PKCS#1) block, with any text before it ignored. :class:`ValueError` if it
    is not a public key.
    """
    der, key_type = _native.public_key_der(pem)
    return der, key_type


def load_public_key(pem: Union[bytes, str]) -> PublicKeyTypes:
    """A plugin's public key PEM as a ``cryptography`` public key, to verify signatures locally::

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        key = load_public_key(sv.public_key())
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature

    Needs the ``cryptography`` package (``pip install 'sigstore-kms-plugins[cryptography]'``).
    """
    try:
        from cryptography.hazmat.primitives.serialization import load_der_public_key
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "load_public_key needs the 'cryptography' package: pip install 'sigstore-kms-plugins[cryptography]'"
        ) from e
    der, _ = public_key_der(pem)
    return load_der_public_key(der)
