"""The cleartext bundle header and its X25519 recipient stanzas (docs/spec/bundle-v1.md §4).

Layout (all integers big-endian, every field fixed-size, so there is exactly one
encoding of any header)::

    version line   19  b"sealsync/bundle/v1\\n"
    bundle id      16  UUIDv7
    project id     16
    payload nonce  16  salt for the payload key
    stanza count    1  1..8
    stanzas     97 each, key ids strictly ascending:
        type        1  0x01 = X25519
        key id     16  recipient_key_id(recipient public key)
        ephemeral  32  ephemeral X25519 public key
        wrapped    48  ChaCha20-Poly1305(file key) with its 16-byte tag
    header MAC     32  HMAC-SHA256 over everything above
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import BundleInvalid, BundleReason
from ..ids import Rng
from ._keys import RecipientKey, RecipientPublicKey, _raw_public

__all__ = ["BundleHeader", "Stanza", "read_header"]

VERSION_LINE = b"sealsync/bundle/v1\n"
STANZA_X25519 = 0x01
MAX_STANZAS = 8
STANZA_SIZE = 1 + 16 + 32 + 48
PREFIX_SIZE = len(VERSION_LINE) + 16 + 16 + 16 + 1
MAC_SIZE = 32
FILE_KEY_SIZE = 32

LABEL_X25519 = b"sealsync/bundle/v1 X25519"
LABEL_HEADER = b"sealsync/bundle/v1 header"
LABEL_PAYLOAD = b"sealsync/bundle/v1 payload"
ZERO_NONCE = bytes(12)


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


@dataclass(frozen=True)
class Stanza:
    key_id: bytes
    ephemeral: bytes
    wrapped: bytes

    def encode(self) -> bytes:
        return bytes([STANZA_X25519]) + self.key_id + self.ephemeral + self.wrapped


@dataclass(frozen=True)
class BundleHeader:
    """A parsed header. ``raw`` is its exact bytes, MAC included."""

    bundle_id: uuid.UUID
    project_id: uuid.UUID
    payload_nonce: bytes
    stanzas: tuple[Stanza, ...]
    mac: bytes
    raw: bytes

    @property
    def recipient_key_ids(self) -> tuple[bytes, ...]:
        return tuple(s.key_id for s in self.stanzas)

    def sha256(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    def unwrap(self, key: RecipientKey) -> bytes:
        """The file key, from this recipient's stanza; checks the header MAC."""
        pub = _raw_public(key.private.public_key())
        kid = key.public().key_id
        stanza = next((s for s in self.stanzas if s.key_id == kid), None)
        if stanza is None:
            raise BundleInvalid(BundleReason.WRONG_RECIPIENT)
        try:
            shared = key.private.exchange(X25519PublicKey.from_public_bytes(stanza.ephemeral))
        except ValueError:  # all-zero shared secret: a low-order ephemeral point
            raise BundleInvalid(BundleReason.STANZA_INVALID, "low-order share") from None
        if shared == bytes(32):  # pragma: no cover - cryptography refuses this already
            raise BundleInvalid(BundleReason.STANZA_INVALID, "low-order share")
        wrap_key = hkdf(shared, stanza.ephemeral + pub, LABEL_X25519)
        try:
            file_key = ChaCha20Poly1305(wrap_key).decrypt(
                ZERO_NONCE, stanza.wrapped, _stanza_aad(self.raw[:PREFIX_SIZE], kid)
            )
        except InvalidTag:
            raise BundleInvalid(BundleReason.STANZA_INVALID, "wrapped key") from None
        header_key = hkdf(file_key, b"", LABEL_HEADER)
        want = hmac.new(header_key, self.raw[:-MAC_SIZE], hashlib.sha256).digest()
        if not hmac.compare_digest(want, self.mac):
            raise BundleInvalid(BundleReason.HEADER_MAC)
        return file_key


def _stanza_aad(prefix: bytes, key_id: bytes) -> bytes:
    return prefix + bytes([STANZA_X25519]) + key_id


def build_header(
    *,
    bundle_id: uuid.UUID,
    project_id: uuid.UUID,
    recipients: Sequence[RecipientPublicKey],
    file_key: bytes,
    rng: Rng,
) -> BundleHeader:
    """Wrap ``file_key`` to every recipient and MAC the result."""
    if not 1 <= len(recipients) <= MAX_STANZAS:
        raise ValueError(f"a bundle has 1 to {MAX_STANZAS} recipients")
    ordered = sorted(recipients, key=lambda r: r.key_id)
    if len({r.key_id for r in ordered}) != len(ordered):
        raise ValueError("a recipient is listed twice")
    payload_nonce = rng(16)
    prefix = (
        VERSION_LINE + bundle_id.bytes + project_id.bytes + payload_nonce + bytes([len(ordered)])
    )
    stanzas = []
    for r in ordered:
        eph = X25519PrivateKey.from_private_bytes(rng(32))
        eph_pub = _raw_public(eph.public_key())
        shared = eph.exchange(r.x25519())
        wrap_key = hkdf(shared, eph_pub + r.raw, LABEL_X25519)
        wrapped = ChaCha20Poly1305(wrap_key).encrypt(
            ZERO_NONCE, file_key, _stanza_aad(prefix, r.key_id)
        )
        stanzas.append(Stanza(r.key_id, eph_pub, wrapped))
    body = prefix + b"".join(s.encode() for s in stanzas)
    mac = hmac.new(hkdf(file_key, b"", LABEL_HEADER), body, hashlib.sha256).digest()
    return BundleHeader(
        bundle_id=bundle_id,
        project_id=project_id,
        payload_nonce=payload_nonce,
        stanzas=tuple(stanzas),
        mac=mac,
        raw=body + mac,
    )


def read_exact(src: BinaryIO, n: int) -> bytes:
    """Read exactly ``n`` bytes unless the stream ends first (then fewer)."""
    parts: list[bytes] = []
    left = n
    while left > 0:
        b = src.read(left)
        if not b:
            break
        parts.append(b)
        left -= len(b)
    return b"".join(parts)


def read_header(src: BinaryIO) -> BundleHeader:
    """Read and parse a header from the start of ``src``; no key needed.

    Checks everything that can be checked without a key: the version line, the stanza
    count and types, canonical (strictly ascending) key ids, the UUIDv7 bundle id.
    Raises :class:`~schemas.errors.BundleInvalid` on any fault.
    """
    first = read_exact(src, len(VERSION_LINE))
    if first != VERSION_LINE:
        if len(first) < len(VERSION_LINE):
            raise BundleInvalid(BundleReason.MALFORMED_HEADER, "short version line")
        if first.startswith(b"sealsync/bundle/"):
            raise BundleInvalid(BundleReason.UNSUPPORTED_VERSION)
        raise BundleInvalid(BundleReason.MALFORMED_HEADER, "version line")
    rest = read_exact(src, PREFIX_SIZE - len(VERSION_LINE))
    if len(rest) != PREFIX_SIZE - len(VERSION_LINE):
        raise BundleInvalid(BundleReason.MALFORMED_HEADER, "short header")
    prefix = first + rest
    count = prefix[-1]
    if count == 0:
        raise BundleInvalid(BundleReason.MALFORMED_HEADER, "no stanzas")
    if count > MAX_STANZAS:
        raise BundleInvalid(BundleReason.OVERSIZED_HEADER, f"{count} stanzas")
    body = read_exact(src, count * STANZA_SIZE + MAC_SIZE)
    if len(body) != count * STANZA_SIZE + MAC_SIZE:
        raise BundleInvalid(BundleReason.MALFORMED_HEADER, "short stanzas")
    stanzas = []
    for i in range(count):
        s = body[i * STANZA_SIZE : (i + 1) * STANZA_SIZE]
        if s[0] != STANZA_X25519:
            raise BundleInvalid(BundleReason.MALFORMED_HEADER, f"stanza type {s[0]}")
        stanzas.append(Stanza(s[1:17], s[17:49], s[49:97]))
    ids = [s.key_id for s in stanzas]
    if any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
        raise BundleInvalid(BundleReason.NON_CANONICAL_HEADER, "key ids not ascending")
    bundle_id = uuid.UUID(bytes=prefix[19:35])
    if bundle_id.version != 7 or bundle_id.variant != uuid.RFC_4122:
        raise BundleInvalid(BundleReason.NON_CANONICAL_HEADER, "bundle id not a UUIDv7")
    return BundleHeader(
        bundle_id=bundle_id,
        project_id=uuid.UUID(bytes=prefix[35:51]),
        payload_nonce=prefix[51:67],
        stanzas=tuple(stanzas),
        mac=body[-MAC_SIZE:],
        raw=prefix + body,
    )
