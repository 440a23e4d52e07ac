"""A securesystemslib ``Signer`` for keys held by Sigstore KMS plugins: python-tuf, in-toto and
every other tool built on securesystemslib can sign with any KMS or HSM a plugin reaches.

::

    from securesystemslib.signer import Signer
    from sigstore_kms_plugins.securesystemslib import PluginSigner, register

    uri, public_key = PluginSigner.import_("awskms:///alias/tuf-root")   # once: store both
    register("awskms", replace=True)      # awskms is also securesystemslib's own scheme
    signer = Signer.from_priv_key_uri(uri, public_key)
    metadata.sign(signer)                 # python-tuf; in-toto: metablock.create_signature(signer)

Key URIs are the plugins' own, ``NAME://REF`` (``localkms:///keys/root.pem``); securesystemslib
picks the signer by the part before the first ``:``, so :func:`register` maps ``NAME`` to
:class:`PluginSigner`. Key types and schemes are securesystemslib's:

=================  =================================================================
key                keytype / scheme
=================  =================================================================
ECDSA P-256        ``ecdsa`` / ``ecdsa-sha2-nistp256``
ECDSA P-384        ``ecdsa`` / ``ecdsa-sha2-nistp384``
ECDSA P-521        ``ecdsa`` / ``ecdsa-sha2-nistp521``
RSA                ``rsa`` / ``rsa-pkcs1v15-sha256`` or ``rsassa-pss-sha256`` (SHA-384 and
                   SHA-512 variants too): by default, as the key signs (see :meth:`PluginSigner.import_`)
Ed25519            ``ed25519`` / ``ed25519``
=================  =================================================================

ECDSA and RSA payloads are hashed here and only the digest goes to the plugin (as
securesystemslib's AWS, GCP and Azure signers do); Ed25519 payloads are sent whole. Every
signature is checked against the public key before it is returned.

Needs ``pip install 'sigstore-kms-plugins[securesystemslib]'`` (securesystemslib 1.x, Python >= 3.10).
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Optional, Tuple

from ._client import SignerVerifier, get_signer_verifier
from .errors import KmsPluginError
from .keys import load_public_key

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from securesystemslib.exceptions import KeyMismatchError, UnverifiedSignatureError
    from securesystemslib.signer import SIGNER_FOR_URI_SCHEME, Key, SecretsHandler, Signature, Signer, SSlibKey
except ImportError:  # pragma: no cover - depends on the environment (the cause is chained)
    raise ImportError(
        "sigstore_kms_plugins.securesystemslib needs securesystemslib 1.x with cryptography: "
        "pip install 'sigstore-kms-plugins[securesystemslib]' (Python >= 3.10)"
    )

__all__ = [
    "PluginSigner",
    "PluginKeyMismatchError",
    "PluginSignatureError",
    "register",
    "unregister",
    "ECDSA_SCHEMES",
    "RSA_SCHEMES",
]

#: securesystemslib's ECDSA schemes, by curve name.
ECDSA_SCHEMES: Dict[str, str] = {
    "secp256r1": "ecdsa-sha2-nistp256",
    "secp384r1": "ecdsa-sha2-nistp384",
    "secp521r1": "ecdsa-sha2-nistp521",
}
#: securesystemslib's RSA schemes, in the order :meth:`PluginSigner.import_` tries them.
RSA_SCHEMES: Tuple[str, ...] = (
    "rsa-pkcs1v15-sha256",
    "rsassa-pss-sha256",
    "rsa-pkcs1v15-sha384",
    "rsassa-pss-sha384",
    "rsa-pkcs1v15-sha512",
    "rsassa-pss-sha512",
)

_PROBE = b"sigstore-kms-plugins securesystemslib scheme probe"


class PluginKeyMismatchError(KmsPluginError, KeyMismatchError):
    """The plugin's key is not the public key the signer was loaded with (also a
    securesystemslib :class:`~securesystemslib.exceptions.KeyMismatchError`, a ``ValueError``)."""

    default_kind = "KeyMismatch"


class PluginSignatureError(KmsPluginError, UnverifiedSignatureError):
    """A signature the plugin made does not verify against the public key (the plugin signs with
    another key or another scheme); it was not returned."""

    default_kind = "BadSignature"


def _hash(name: str) -> hashes.HashAlgorithm:
    return {"sha224": hashes.SHA224(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[
        name
    ]


def _keytype_and_scheme(key: Any, scheme: Optional[str]) -> Tuple[str, str]:
    """securesystemslib's keytype and scheme for a ``cryptography`` public key (the RSA scheme
    must be given)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        natural = ECDSA_SCHEMES.get(key.curve.name)
        if natural is None:
            raise ValueError(f"EC curve {key.curve.name} has no securesystemslib scheme (P-256, P-384, P-521 do)")
        if scheme not in (None, natural):
            raise ValueError(f"scheme {scheme!r} does not fit a {key.curve.name} key: use {natural!r}")
        return "ecdsa", natural
    if isinstance(key, ed25519.Ed25519PublicKey):
        if scheme not in (None, "ed25519"):
            raise ValueError(f"scheme {scheme!r} does not fit an Ed25519 key: use 'ed25519'")
        return "ed25519", "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        if scheme is None or scheme not in RSA_SCHEMES:
            raise ValueError(f"scheme {scheme!r} does not fit an RSA key: use one of {', '.join(RSA_SCHEMES)}")
        return "rsa", scheme
    raise ValueError(f"a {type(key).__name__} key has no securesystemslib scheme (ECDSA, RSA and Ed25519 do)")


def _crypto_key(key: SSlibKey) -> Any:
    """The ``cryptography`` key of an ``SSlibKey`` (Ed25519: raw hex; others: PEM)."""
    public = key.keyval.get("public")
    if not isinstance(public, str):
        raise ValueError("keyval has no 'public' string")
    if key.keytype == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    return load_public_key(public)


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


class PluginSigner(Signer):
    """Signs with the key a Sigstore KMS plugin holds (key URI ``NAME://REF``).

    Make one with :meth:`import_` (the first time: it returns the URI and the
    :class:`~securesystemslib.signer.SSlibKey` to store) and then
    ``Signer.from_priv_key_uri(uri, public_key)`` (after :func:`register`) or
    :meth:`from_priv_key_uri`. :meth:`sign` costs one plugin call.
    """

    def __init__(self, sv: SignerVerifier, public_key: SSlibKey) -> None:
        if not isinstance(sv, SignerVerifier):
            raise TypeError(f"sv must be a SignerVerifier, not {type(sv).__name__}")
        if not isinstance(public_key, SSlibKey):
            raise TypeError(f"public_key must be an SSlibKey, not {type(public_key).__name__}")
        self._sv = sv
        self._public_key = public_key
        if public_key.keytype == "ed25519":
            self._hash: Optional[str] = None
        else:
            self._hash = public_key.get_hash_algorithm_name()

    @property
    def public_key(self) -> SSlibKey:
        """The public key, as given."""
        return self._public_key

    @property
    def signer_verifier(self) -> SignerVerifier:
        """The plugin's signer-verifier."""
        return self._sv

    @classmethod
    def from_priv_key_uri(
        cls,
        priv_key_uri: str,
        public_key: Key,
        secrets_handler: Optional[SecretsHandler] = None,
    ) -> PluginSigner:
        """The signer for ``priv_key_uri`` (``NAME://REF``), checked against ``public_key``.

        The plugin is looked up on ``PATH`` and asked for its public key (one call): a key that is
        not ``public_key`` is refused, as securesystemslib's own signers refuse one. The options of
        :func:`register` (timeout, search path, ...) apply. ``secrets_handler`` is not used: a
        plugin gets its credentials from its own environment.

        :raises PluginKeyMismatchError: the plugin holds another key.
        :raises ValueError: ``public_key`` is not an ``SSlibKey`` of a supported type and scheme.
        :raises KmsPluginError: the plugin could not be found or called.
        """
        del secrets_handler
        if not isinstance(public_key, SSlibKey):
            raise ValueError(f"expected an SSlibKey for {priv_key_uri}, got {type(public_key).__name__}")
        try:
            expected = _crypto_key(public_key)
            _, scheme = _keytype_and_scheme(expected, public_key.scheme if public_key.keytype == "rsa" else None)
        except ValueError as e:
            raise ValueError(f"{priv_key_uri}: public key {public_key.keytype}/{public_key.scheme}: {e}") from e
        if public_key.scheme != scheme or public_key.keytype not in ("ecdsa", "ed25519", "rsa", scheme):
            raise ValueError(
                f"{priv_key_uri}: public key {public_key.keytype}/{public_key.scheme} does not fit its key "
                f"(scheme {scheme})"
            )
        sv = get_signer_verifier(priv_key_uri, **_options_for(priv_key_uri))
        if _spki(load_public_key(sv.public_key())) != _spki(expected):
            raise PluginKeyMismatchError(
                f"the key {priv_key_uri} holds is not the public key {public_key.keyid[:16]}... the signer was "
                "loaded with: re-import it (PluginSigner.import_) or fix the key URI",
                plugin=priv_key_uri.partition(":")[0],
                program_path=sv.program_path,
            )
        return cls(sv, public_key)

    @classmethod
    def import_(cls, uri: str, scheme: Optional[str] = None, **options: Any) -> Tuple[str, SSlibKey]:
        """Reads the public key of ``uri`` (``NAME://REF``); returns ``(uri, SSlibKey)`` to store.

        The key type decides the keytype and scheme (see the module docs). For RSA keys the
        scheme is found out, unless given, by signing a probe and checking it with PKCS#1 v1.5
        and PSS (SHA-256): ``rsa-pkcs1v15-sha256`` or ``rsassa-pss-sha256``, as the key signs. A
        given RSA scheme is checked the same way. ``options`` go to
        :func:`~sigstore_kms_plugins.get_signer_verifier` (``timeout``, ``path``, ...).

        :raises ValueError: the key type has no securesystemslib scheme, or ``scheme`` does not
            fit the key.
        :raises PluginSignatureError: the RSA probe verifies with no (or not the given) scheme.
        :raises KmsPluginError: the plugin could not be found or called.
        """
        sv = get_signer_verifier(uri, **options)
        key = load_public_key(sv.public_key())
        if isinstance(key, rsa.RSAPublicKey):
            scheme = _rsa_scheme(sv, key, scheme, uri)
        try:
            _, scheme = _keytype_and_scheme(key, scheme)
        except ValueError as e:
            raise ValueError(f"{uri}: {e}") from e
        return uri, SSlibKey.from_crypto(key, scheme=scheme)

    def sign(self, payload: bytes) -> Signature:
        """Signs ``payload`` (one plugin call) and checks the signature against the public key.

        :raises PluginSignatureError: the plugin's signature does not verify.
        :raises KmsPluginError: the plugin call failed.
        """
        data = bytes(payload)
        if self._hash is None:
            raw = self._sv.sign_message(data)
        else:
            raw = self._sv.sign_digest(hashlib.new(self._hash, data).digest(), self._hash)
        signature = Signature(self._public_key.keyid, raw.hex())
        try:
            self._public_key.verify_signature(signature, data)
        except UnverifiedSignatureError as e:
            raise PluginSignatureError(
                f"the signature {self._sv.key_ref!r} made does not verify against the public key "
                f"({self._public_key.keytype}/{self._public_key.scheme}): the plugin signs with another key or scheme",
                program_path=self._sv.program_path,
            ) from e
        return signature


def _rsa_scheme(sv: SignerVerifier, key: rsa.RSAPublicKey, scheme: Optional[str], uri: str) -> str:
    if scheme is not None and scheme not in RSA_SCHEMES:
        raise ValueError(f"{uri}: scheme {scheme!r} does not fit an RSA key: use one of {', '.join(RSA_SCHEMES)}")
    hash_name = scheme.rsplit("-", 1)[1] if scheme else "sha256"
    digest = hashlib.new(hash_name, _PROBE).digest()
    signature = sv.sign_digest(digest, hash_name)
    algorithm = _hash(hash_name)
    paddings = {
        f"rsa-pkcs1v15-{hash_name}": padding.PKCS1v15(),
        f"rsassa-pss-{hash_name}": padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO),
    }
    found = []
    for name, pad in paddings.items():
        try:
            key.verify(signature, _PROBE, pad, algorithm)
            found.append(name)
        except InvalidSignature:
            pass
    if scheme is not None and scheme in found:
        return scheme
    if scheme is None and found:
        return found[0]
    raise PluginSignatureError(
        f"{uri}: a probe signature over a {hash_name.upper()} digest verifies with "
        f"{'no RSA scheme' if not found else ', '.join(found)}"
        f"{'' if scheme is None else f', not {scheme!r}'}: the plugin's key does not sign as securesystemslib expects",
        program_path=sv.program_path,
    )


# The options get_signer_verifier is called with, per registered scheme; the signers register()
# replaced, put back by unregister().
_registered: Dict[str, Dict[str, Any]] = {}
_replaced: Dict[str, type] = {}


def _options_for(uri: str) -> Dict[str, Any]:
    return dict(_registered.get(uri.partition(":")[0], {}))


def register(*schemes: str, replace: bool = False, **options: Any) -> None:
    """Maps each plugin name in ``schemes`` (``"localkms"``, ``"mykms"``) to :class:`PluginSigner`
    in securesystemslib's ``SIGNER_FOR_URI_SCHEME``, so that ``Signer.from_priv_key_uri(uri,
    public_key)`` signs through the plugin in any tool built on securesystemslib.

    A scheme securesystemslib (or anyone else) already maps to another signer is refused unless
    ``replace=True``: ``awskms``, ``gcpkms``, ``azurekms``, ``hv``, ``file2``, ... are
    securesystemslib's built-in signers, whose own key URIs (``awskms:KEY-ID``) would then stop
    reaching them (until :func:`unregister`). ``options`` go to
    :func:`~sigstore_kms_plugins.get_signer_verifier` for those schemes (``timeout``, ``path``,
    ``stderr``, ...).

    :raises ValueError: an empty or invalid name, or a taken scheme without ``replace=True``.
    """
    if not schemes:
        raise ValueError("register() needs at least one plugin name, e.g. register('localkms')")
    for scheme in schemes:
        if not isinstance(scheme, str) or not scheme or any(c in scheme for c in ":/\\ \t\n\x00"):
            raise ValueError(f"{scheme!r} is not a plugin name (the NAME of NAME://REF key URIs)")
        current = SIGNER_FOR_URI_SCHEME.get(scheme)
        if current is not None and current is not PluginSigner and not replace:
            origin = "a built-in securesystemslib" if current.__module__.startswith("securesystemslib") else "another"
            raise ValueError(
                f"{scheme!r} is {origin} signer scheme ({current.__module__}.{current.__qualname__}); "
                "pass replace=True to map it to PluginSigner (its own key URIs would then stop working)"
            )
    for scheme in schemes:
        current = SIGNER_FOR_URI_SCHEME.get(scheme)
        if current is not None and current is not PluginSigner:
            _replaced[scheme] = current
        SIGNER_FOR_URI_SCHEME[scheme] = PluginSigner
        _registered[scheme] = dict(options)


def unregister(*schemes: str) -> None:
    """Undoes :func:`register` for ``schemes``: the signer it replaced, if any, is mapped again."""
    for scheme in schemes:
        if SIGNER_FOR_URI_SCHEME.get(scheme) is PluginSigner:
            previous = _replaced.pop(scheme, None)
            if previous is None:
                del SIGNER_FOR_URI_SCHEME[scheme]
            else:
                SIGNER_FOR_URI_SCHEME[scheme] = previous
        _registered.pop(scheme, None)
