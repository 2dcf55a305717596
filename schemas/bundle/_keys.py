"""Key types for bundles (docs/spec/bundle-v1.md §3).

The project's X25519 key receives bundles (:class:`RecipientKey`, public half
:class:`RecipientPublicKey`); each device signs with its own Ed25519 key
(:class:`DeviceKey`). Key ids are derived, never chosen: the first 16 bytes of
SHA-256 over a label and the raw public key. ``repr`` never shows private material.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["DeviceKey", "RecipientKey", "RecipientPublicKey", "recipient_key_id"]

KEY_ID_LABEL = b"sealsync/v1 recipient key id\x00"


def _raw_public(key: X25519PublicKey | Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def recipient_key_id(public: bytes) -> bytes:
    """16-byte key id of a raw 32-byte X25519 public key."""
    if len(public) != 32:
        raise ValueError("an X25519 public key is 32 bytes")
    return hashlib.sha256(KEY_ID_LABEL + public).digest()[:16]


@dataclass(frozen=True)
class RecipientPublicKey:
    """The public half of a project key: what a collector seals to."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValueError("an X25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return recipient_key_id(self.raw)

    def x25519(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.raw)


@dataclass(frozen=True, repr=False)
class RecipientKey:
    """A project's X25519 private key: opens bundles sealed to its public half."""

    private: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> RecipientKey:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> RecipientKey:
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def public(self) -> RecipientPublicKey:
        return RecipientPublicKey(_raw_public(self.private.public_key()))

    def __repr__(self) -> str:
        return f"RecipientKey(key_id={self.public().key_id.hex()})"


@dataclass(frozen=True, repr=False)
class DeviceKey:
    """A device's identity for signing bundles: its id and Ed25519 private key."""

    device_id: uuid.UUID
    private: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, device_id: uuid.UUID | None = None) -> DeviceKey:
        return cls(device_id or uuid.uuid4(), Ed25519PrivateKey.generate())

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def public_bytes(self) -> bytes:
        return _raw_public(self.public)

    def __repr__(self) -> str:
        return f"DeviceKey(device_id={self.device_id})"
