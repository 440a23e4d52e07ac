"""Value types shared by the host API and the handler (plugin/provider) API."""

from __future__ import annotations

import datetime
import enum
import hashlib
from dataclasses import dataclass
from typing import Optional, Protocol, Union

from . import _native

__all__ = ["HashFunc", "HashFuncLike", "CallContext", "MessageOptions", "Hasher"]


class Hasher(Protocol):
    """What :meth:`HashFunc.new` returns: a :mod:`hashlib` object."""

    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


class HashFunc(enum.IntEnum):
    """A hash function, numbered as Go's ``crypto.Hash`` (the number is what the protocol sends).

    Anywhere a hash function is taken, a name (``"sha256"``, ``"SHA-256"``, ``"sha3-256"``,
    ``"none"``; case and ``-``/``_`` are ignored), Go's number (``5``) or a member
    (``HashFunc.SHA256``) is accepted.
    """

    NONE = 0
    MD4 = 1
    MD5 = 2
    SHA1 = 3
    SHA224 = 4
    SHA256 = 5
    SHA384 = 6
    SHA512 = 7
    MD5SHA1 = 8
    RIPEMD160 = 9
    SHA3_224 = 10
    SHA3_256 = 11
    SHA3_384 = 12
    SHA3_512 = 13
    SHA512_224 = 14
    SHA512_256 = 15
    BLAKE2S_256 = 16
    BLAKE2B_256 = 17
    BLAKE2B_384 = 18
    BLAKE2B_512 = 19

    @classmethod
    def parse(cls, value: HashFuncLike) -> HashFunc:
        """The member for a name, Go number or member (:class:`ValueError` if unknown)."""
        return cls(_native.parse_hash_func(value))

    @property
    def canonical_name(self) -> str:
        """Our lower-case name, e.g. ``"sha256"``, ``"sha3-256"``, ``"none"``."""
        return _native.hash_func_info(self.value)[0]

    @property
    def go_name(self) -> str:
        """Go's spelling, e.g. ``"SHA-256"``."""
        return _native.hash_func_info(self.value)[1]

    @property
    def digest_size(self) -> Optional[int]:
        """The digest length in bytes; ``None`` for :attr:`NONE`."""
        return _native.hash_func_info(self.value)[2]

    def new(self, data: bytes = b"") -> Hasher:
        """A :mod:`hashlib` object for this hash function (:class:`ValueError` if hashlib lacks it)."""
        if self is HashFunc.BLAKE2S_256:
            return hashlib.blake2s(data, digest_size=32)
        if self in (HashFunc.BLAKE2B_256, HashFunc.BLAKE2B_384, HashFunc.BLAKE2B_512):
            return hashlib.blake2b(data, digest_size=self.digest_size or 64)
        if self in (HashFunc.NONE, HashFunc.MD5SHA1):
            raise ValueError(f"{self.go_name} is not a hash hashlib can compute")
        return hashlib.new(self.canonical_name.replace("-", "_"), data)


#: A hash function as the API takes it: a name, Go's ``crypto.Hash`` number, or a member.
HashFuncLike = Union[HashFunc, int, str]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass(frozen=True)
class CallContext:
    """What a handler knows about the call it serves."""

    key_resource_id: str
    """The key reference: the part of the key URI after ``NAME://``."""
    hash_func: HashFunc
    """The hash function the host's signer-verifier was created with."""
    key_version: str = ""
    """The requested key version; ``""`` for the default."""
    remote_verification: bool = False
    """Whether the caller asked the KMS to verify signatures itself."""
    deadline: Optional[datetime.datetime] = None
    """When the caller stops waiting (UTC), if it said."""

    def time_remaining(self) -> Optional[float]:
        """Seconds left until :attr:`deadline` (negative once passed), ``None`` without one."""
        if self.deadline is None:
            return None
        return (self.deadline - datetime.datetime.now(datetime.timezone.utc)).total_seconds()

    @classmethod
    def _from_native(cls, t: tuple[str, int, str, bool, Optional[tuple[int, int]]]) -> CallContext:
        key_resource_id, hash_number, key_version, remote, deadline = t
        when = None
        if deadline is not None:
            when = _EPOCH + datetime.timedelta(seconds=deadline[0], microseconds=deadline[1])
        return cls(key_resource_id, HashFunc(hash_number), key_version, remote, when)


@dataclass(frozen=True)
class MessageOptions:
    """How ``sign_message``/``verify_signature`` should treat the message."""

    digest: Optional[bytes] = None
    """A precomputed digest to sign or verify instead of the message (Go's ``CryptoSigner``
    path: the message stream is then empty)."""
    hash_func: Optional[HashFunc] = None
    """The hash function of :attr:`digest` (or to hash the message with), if given."""

    @classmethod
    def _from_native(cls, t: tuple[Optional[bytes], Optional[int]]) -> MessageOptions:
        digest, hash_number = t
        return cls(digest, None if hash_number is None else HashFunc(hash_number))
