"""Sigstore bundles signed with a KMS key, and verified against a public key.

Named after sigstore-python's verbs, for the case sigstore-python does not cover: a key of your
own (in a KMS or HSM, reached through its plugin) instead of an ephemeral key and a Fulcio
certificate, and verification of bundles that carry a public key hint::

    import pathlib
    from sigstore_kms_plugins import get_signer_verifier
    from sigstore_kms_plugins.sigstore import Bundle, sign_artifact, verify_artifact

    sv = get_signer_verifier("awskms:///alias/release")
    bundle = sign_artifact(sv, pathlib.Path("dist/app.tar.gz"))
    pathlib.Path("dist/app.tar.gz.sigstore.json").write_text(bundle.to_json())

    bundle = Bundle.from_json(pathlib.Path("dist/app.tar.gz.sigstore.json").read_text())
    verify_artifact(bundle, pathlib.Path("dist/app.tar.gz"), sv.public_key())  # or a PEM file's bytes

The bundles are the ones cosign writes for a key (``cosign sign-blob --bundle``,
``cosign attest-blob --new-bundle-format``): media type v0.3, the key hint
base64(SHA-256(SubjectPublicKeyInfo DER)), the digest algorithm the key implies (SHA2_256 for
P-256 and RSA, SHA2_384 for P-384, SHA2_512 for P-521 and for Ed25519, whose signature is over
the data itself). ``cosign verify-blob --key KEY --insecure-ignore-tlog --bundle`` and sigstore-js's
``@sigstore/verify`` verify them (P-384 with cosign: add ``--signature-digest-algorithm sha384``;
sigstore-js cannot verify Ed25519 message signatures), and bundles from cosign and sigstore-js
verify here.

**What is verified.** The signature, against the public key you give, and that the bundle names
that key (its hint) and, for a message signature, that the artifact's digest is the bundle's.
Transparency-log entries and RFC 3161 timestamps are read and kept (:attr:`Bundle.tlog_entries`)
but **not verified**: that needs a trust root, which this module does not take yet. Keyless
(certificate) bundles are refused; verify those with sigstore-python.

The parsing, the algorithm rules and the checks are the Rust crate ``sigstore-kms-bundle``, the
same code as the ``sigstore-kms sign --bundle`` / ``verify --bundle`` / ``attest`` commands and
the Node package's ``verifyBundle``; the plugin calls go through :class:`SignerVerifier`.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, BinaryIO, Dict, List, Literal, Optional, Tuple, Union, cast

from . import _native
from ._client import Message, SignerVerifier
from .errors import KmsPluginError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "Bundle",
    "BundleVerificationError",
    "PublicKeyLike",
    "sign_artifact",
    "sign_dsse",
    "verify_artifact",
    "verify_dsse",
    "IN_TOTO_PAYLOAD_TYPE",
    "MEDIA_TYPE",
]

#: The DSSE payload type of an in-toto statement.
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: The media type of the bundles written here (version 0.3, as cosign writes it).
MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"

#: A public key to verify with: PEM (``bytes`` or ``str``; ``PUBLIC KEY`` or ``RSA PUBLIC KEY``)
#: or a ``cryptography`` public key.
PublicKeyLike = Union[bytes, str, "PublicKeyTypes"]

Reason = Literal[
    "malformed",
    "wrong_content",
    "hint_mismatch",
    "digest_mismatch",
    "bad_signature",
    "subject_mismatch",
    "unsupported",
    "invalid_key",
]


class BundleVerificationError(KmsPluginError):
    """A bundle that does not verify, cannot be read, or could not be made; :attr:`reason` says
    why, ``str(error)`` says it in full.

    ==================== ==========================================================================
    ``reason``           when
    ==================== ==========================================================================
    ``malformed``        not a Sigstore bundle: not JSON, wrong field types, bad base64, unknown
                         media type, no signature, a DSSE envelope without exactly one signature
    ``wrong_content``    a DSSE bundle given to :func:`verify_artifact`, or the reverse
    ``hint_mismatch``    the bundle's key hint is not the given key's: it names another key
    ``digest_mismatch``  the artifact's digest is not the bundle's: not the artifact that was signed
    ``bad_signature``    the signature does not verify with the key (also: a plugin's signature that
                         does not verify against its own public key, so no bundle was made)
    ``subject_mismatch`` the artifact is not a subject of the DSSE envelope's in-toto statement
    ``unsupported``      a keyless (certificate) bundle, a key other than ECDSA P-256/P-384/P-521,
                         RSA and Ed25519, or a digest algorithm other than SHA-2
    ``invalid_key``      the public key given is not a PEM public key
    ==================== ==========================================================================
    """

    default_kind = "BundleVerification"

    reason: Reason
    """Why, as a stable word (see the table)."""

    def __init__(self, text: str, *, reason: str = "malformed", **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self.reason = cast(Reason, reason)


class Bundle:
    """A Sigstore bundle (``dev.sigstore.bundle.v1.Bundle``): a message signature or a DSSE
    envelope, with the material that names the key.

    Read with :meth:`from_json` (media types v0.1 to v0.3, as cosign, sigstore-go, sigstore-js
    and sigstore-python write them, omitted empty fields included); written with
    :meth:`to_json` as cosign writes it. Immutable; equal when the content is.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.NativeBundle) -> None:
        self._native = native

    @classmethod
    def from_json(cls, data: Union[str, bytes]) -> Bundle:
        """Reads a bundle.

        :raises BundleVerificationError: ``reason="malformed"``, saying what is wrong.
        """
        if not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"Bundle.from_json() takes the JSON as str or bytes, not {type(data).__name__}")
        return cls(_native.NativeBundle.from_json(data))

    def to_json(self) -> str:
        """The bundle as compact JSON, as cosign writes it (fields in ``.proto`` order, empty
        ones omitted)."""
        return self._native.to_json()

    @property
    def media_type(self) -> str:
        """The media type, e.g. ``application/vnd.dev.sigstore.bundle.v0.3+json``."""
        return self._native.media_type

    @property
    def content(self) -> Literal["message_signature", "dsse_envelope"]:
        """What the bundle signs: an artifact (``message_signature``) or a DSSE envelope."""
        return cast(Literal["message_signature", "dsse_envelope"], self._native.content)

    @property
    def key_hint(self) -> Optional[str]:
        """The public key hint (``""`` if the bundle names no key); ``None`` for a keyless
        (certificate) bundle."""
        return self._native.key_hint

    @property
    def certificates(self) -> List[bytes]:
        """The DER certificates of a keyless bundle, leaf first (empty for a key bundle)."""
        return self._native.certificates

    @property
    def signature(self) -> bytes:
        """The signature bytes (of the message signature, or of the envelope's one signature)."""
        return self._native.signature

    @property
    def message_digest(self) -> Optional[Tuple[str, bytes]]:
        """``(algorithm, digest)`` of a message signature, e.g. ``("SHA2_256", b"...")``; for
        identification only (verification hashes the artifact again)."""
        return self._native.message_digest

    @property
    def payload_type(self) -> Optional[str]:
        """The DSSE payload type (``None`` for a message signature)."""
        envelope = self._native.envelope
        return None if envelope is None else envelope[0]

    @property
    def payload(self) -> Optional[bytes]:
        """The DSSE payload, **not verified** (use :func:`verify_dsse`, which returns it)."""
        envelope = self._native.envelope
        return None if envelope is None else envelope[1]

    @property
    def tlog_entries(self) -> List[Dict[str, Any]]:
        """The transparency-log entries, as JSON objects. Not verified here."""
        import json

        return [json.loads(e) for e in self._native.tlog_entries]

    @property
    def rfc3161_timestamps(self) -> List[Dict[str, Any]]:
        """The RFC 3161 timestamps, as JSON objects. Not verified here."""
        import json

        return [json.loads(t) for t in self._native.rfc3161_timestamps]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bundle):
            return NotImplemented
        return self._native == other._native

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Bundle({self.content}, media_type={self.media_type!r}, key_hint={self.key_hint!r})"


def _key(public_key: PublicKeyLike) -> _native.BundleKey:
    if isinstance(public_key, _native.BundleKey):
        return public_key
    if isinstance(public_key, (bytes, bytearray, memoryview, str)):
        return _native.BundleKey(public_key)
    public_bytes = getattr(public_key, "public_bytes", None)
    if public_bytes is None:
        raise TypeError(
            "public_key must be a PEM public key (bytes or str) or a cryptography public key, "
            f"not {type(public_key).__name__}"
        )
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _native.BundleKey(public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def _bundle(bundle: Union[Bundle, str, bytes]) -> _native.NativeBundle:
    if isinstance(bundle, Bundle):
        return bundle._native
    if isinstance(bundle, (str, bytes)):
        return _native.NativeBundle.from_json(bundle)
    raise TypeError(f"bundle must be a Bundle or its JSON (str or bytes), not {type(bundle).__name__}")


# The public key of each signer, fetched once: keyed by the native signer-verifier (shared by a
# SignerVerifier and its .aio twin), which is kept alive by the entry so that its id cannot be
# reused. Bounded: the least recently used signers are forgotten (and fetched again if used).
_KEY_CACHE_SIZE = 256
_keys: "OrderedDict[object, _native.BundleKey]" = OrderedDict()
_keys_lock = threading.Lock()


def _signer_key(sv: SignerVerifier) -> _native.BundleKey:
    handle = getattr(sv, "_native", sv)
    with _keys_lock:
        key = _keys.get(handle)
        if key is not None:
            _keys.move_to_end(handle)
            return key
    # Outside the lock: the plugin call may take long; two threads racing both fetch once.
    key = _native.BundleKey(sv.public_key())
    with _keys_lock:
        _keys[handle] = key
        _keys.move_to_end(handle)
        while len(_keys) > _KEY_CACHE_SIZE:
            _keys.popitem(last=False)
    return key


def _check_signer(sv: object) -> SignerVerifier:
    if not isinstance(sv, SignerVerifier):
        hint = " (for an AsyncSignerVerifier, pass its .sync)" if hasattr(sv, "sync") else ""
        raise TypeError(
            f"sv must be a SignerVerifier from get_signer_verifier(), not {type(sv).__name__}{hint}"
        )
    return sv


class _Rewindable:
    """The artifact, readable twice (an Ed25519 key signs the data, and the signature is checked
    over it again): bytes and paths as they are, seekable files from their position, anything
    else spooled to a temporary file."""

    def __init__(self, data: Message) -> None:
        self._data = data
        self._spool: Optional[BinaryIO] = None
        self._start: Optional[int] = None
        if isinstance(data, (bytes, bytearray, memoryview, str, io.TextIOBase)) or hasattr(data, "__fspath__"):
            return  # used as they are (str and text files are refused by the reader, as usual)
        if not hasattr(data, "read"):
            return
        file = cast(BinaryIO, data)
        seekable = getattr(file, "seekable", None)
        if callable(seekable) and seekable():
            self._start = file.tell()
            return
        spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=8 << 20))
        while True:
            chunk = file.read(1 << 20)
            if not chunk:
                break
            spool.write(chunk)
        self._spool = spool

    def pass_(self) -> Message:
        """The artifact, from its start."""
        if self._spool is not None:
            self._spool.seek(0)
            return self._spool
        if self._start is not None:
            cast(BinaryIO, self._data).seek(self._start)
        return self._data

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


def sign_artifact(sv: SignerVerifier, data: Message) -> Bundle:
    """A message-signature bundle over ``data``, signed with ``sv``'s key.

    ``data`` is any message :meth:`SignerVerifier.sign_message` takes (``bytes``, a path, a
    binary file), hashed here and streamed. ECDSA and RSA keys sign the digest (SHA-256;
    SHA-384 for P-384, SHA-512 for P-521), which is all the plugin receives; Ed25519 keys sign the data itself
    (streamed to the plugin; a non-seekable stream is spooled to a temporary file first). The
    signature is verified against the public key before the bundle is returned. The public key
    is fetched once per signer: after the first bundle, a bundle costs one plugin call.

    :raises BundleVerificationError: ``reason="bad_signature"`` if the plugin's signature does
        not verify against its public key; ``"unsupported"`` for a key of another kind.
    :raises KmsPluginError: the plugin call failed (:class:`~sigstore_kms_plugins.PluginReturnedError`, ...).
    """
    signer = _check_signer(sv)
    key = _signer_key(signer)
    hash_name = key.signing_hash
    if hash_name is not None:
        digest = key.digest(data)
        return Bundle(key.message_bundle_for_digest(digest, signer.sign_digest(digest, hash_name)))
    artifact = _Rewindable(data)
    try:
        signature = signer.sign_message(artifact.pass_())
        return Bundle(key.message_bundle_for_data(artifact.pass_(), signature))
    finally:
        artifact.close()


def sign_dsse(sv: SignerVerifier, payload: bytes, payload_type: str) -> Bundle:
    """A DSSE bundle of ``payload`` (of type ``payload_type``, e.g. :data:`IN_TOTO_PAYLOAD_TYPE`),
    signed with ``sv``'s key over DSSE's pre-authentication encoding (PAE), and verified against
    the public key before it is returned.

    :raises BundleVerificationError: as :func:`sign_artifact`.
    :raises KmsPluginError: the plugin call failed.
    """
    signer = _check_signer(sv)
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
    if not isinstance(payload_type, str) or not payload_type:
        raise TypeError("payload_type must be a non-empty str, e.g. 'application/vnd.in-toto+json'")
    payload = bytes(payload)
    key = _signer_key(signer)
    pae = _native.dsse_pae(payload_type, payload)
    hash_name = key.signing_hash
    if hash_name is not None:
        signature = signer.sign_digest(key.digest(pae), hash_name)
    else:
        signature = signer.sign_message(pae)
    return Bundle(key.dsse_bundle(payload_type, payload, signature))


def verify_artifact(bundle: Union[Bundle, str, bytes], data: Message, public_key: PublicKeyLike) -> None:
    """Verifies a message-signature bundle over ``data`` with ``public_key``.

    Checks that the bundle names the key (its hint, when not empty), that ``data``'s digest is
    the bundle's ``messageDigest`` (computed with the algorithm the bundle names: sigstore-js
    writes SHA-256 whatever the curve), and the signature over ``data``. ``data`` is read once,
    streamed. Transparency-log entries and timestamps are not verified (no trust root).

    :raises BundleVerificationError: with the :attr:`~BundleVerificationError.reason`.
    """
    native = _bundle(bundle)
    if native.content != "message_signature":
        raise BundleVerificationError(
            "the bundle holds a DSSE envelope, not a message signature: verify it with verify_dsse()",
            reason="wrong_content",
        )
    _native.verify_bundle(native, _key(public_key), data)


def verify_dsse(
    bundle: Union[Bundle, str, bytes], public_key: PublicKeyLike, *, artifact: Optional[Message] = None
) -> Tuple[str, bytes]:
    """Verifies a DSSE bundle with ``public_key``; returns ``(payload_type, payload)``.

    With ``artifact``, the payload must also be an in-toto statement naming it as a subject (by
    its sha256, sha384 or sha512 digest), as ``cosign verify-blob-attestation`` checks.
    Transparency-log entries and timestamps are not verified (no trust root).

    :raises BundleVerificationError: with the :attr:`~BundleVerificationError.reason`.
    """
    native = _bundle(bundle)
    if native.content != "dsse_envelope":
        raise BundleVerificationError(
            "the bundle holds a message signature, not a DSSE envelope: verify it with verify_artifact()",
            reason="wrong_content",
        )
    result = _native.verify_bundle(native, _key(public_key), artifact)
    return result[0], result[1]
