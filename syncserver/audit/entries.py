"""Audit entries: every state change of the server, appended to the Merkle log
(docs/spec/audit-log-v1.md §3, §14).

An entry says what happened, when, by whom and to what, with ids, counts and hashes only:
never an answer, a name, a token or a key. Entries are canonical msgpack; the leaf hash is
SHA-256(0x00 ‖ entry) (RFC 9162). The store keeps them (``tx.audit``) with dense indexes
from 0, in commit order.

Who acted (``actor``) is always named by the caller, never defaulted (audit-log-v1.md §14.1):
``device:<uuid>``, ``system``, ``token:<label>``, ``cli:<user>`` or ``enroll-token:<label>``.

The writer also keeps a chained MAC per row (§14.3), its private check that the tail after
the last signed checkpoint was written by a holder of the project key:
``mac_i = HMAC-SHA256(K, mac_{i-1} ‖ i ‖ leaf_hash_i)`` with ``K`` derived from the
project's store key (:func:`mac_key`). The store computes it as it appends, with the
``K`` it was opened with (:func:`syncserver.store.chain_mac`); a store opened without
the key cannot append.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._time import ms
from ..store import MAC_FROM_KEY, chain_mac, mac_from_marker, read_mac_from

if TYPE_CHECKING:
    from ..store import Store, Tx

__all__ = [
    "AuditEntry",
    "Kind",
    "MAC_FROM_KEY",
    "append",
    "chain_mac",
    "decode_entry",
    "encode_entry",
    "leaf_hash",
    "log_key_use",
    "mac_from_marker",
    "mac_key",
    "read_mac_from",
    "token_digest",
]

Kind = Literal[
    "init",
    "token",
    "enroll",
    "revoke",
    "form_publish",
    "upload",
    "accept",
    "reject",
    "quarantine",
    "release",
    "supersede",
    "conflict",
    "review",
    "export",
    "key_use",
    "link",
    "unlink",
    "candidate",
]


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Kind
    at_ms: int
    actor: str  # device:<id>, system, token:<label>, cli:<user>, enroll-token:<label>
    subject: str = ""  # an id: device, bundle, record, form; or a token's label
    detail: dict[str, str | int | bool] = msgspec.field(default_factory=dict)


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(AuditEntry)


def encode_entry(e: AuditEntry) -> bytes:
    return _enc.encode(e)


def decode_entry(data: bytes) -> AuditEntry:
    return _dec.decode(data)


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


TOKEN_LABEL = b"sealsync/v1 audit token\x00"


def token_digest(stored_hash: bytes) -> str:
    """What an entry says about a token (audit-log-v1.md §14.2): the hex SHA-256 of
    ``"sealsync/v1 audit token\\x00" ‖`` the hash the store keeps, so the log never holds
    the value the server compares a presented token against."""
    return hashlib.sha256(TOKEN_LABEL + stored_hash).hexdigest()


# -- the MAC chain (§14.3; the chain itself is the store's: chain_mac, mac_from_marker,
# read_mac_from and MAC_FROM_KEY come from syncserver.store) -----------------------------

MAC_KEY_LABEL = b"sealsync/v1 audit mac\x00"


def mac_key(store_key: bytes) -> bytes:
    """K: HKDF-SHA256 over the project's store key, info ``"sealsync/v1 audit mac\\x00"``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MAC_KEY_LABEL).derive(
        store_key
    )


def append(tx: Tx, entry: AuditEntry) -> int:
    """Append ``entry`` inside the caller's transaction; return its index. Raises
    :class:`~syncserver.errors.StoreError` if the store was opened without the key."""
    raw = encode_entry(entry)
    return tx.audit.append(raw, leaf_hash(raw))


def log_key_use(
    store: Store,
    subjects: Iterable[str],
    *,
    purpose: str,
    actor: str,
    now: datetime.datetime,
    **detail: str | int | bool,
) -> None:
    """One durable ``key_use`` entry per subject: somebody had the project key decrypt
    something, and says why (``purpose``)."""
    at = ms(now)
    entries = [
        AuditEntry(
            kind="key_use",
            at_ms=at,
            actor=actor,
            subject=subject,
            detail={"purpose": purpose, **detail},
        )
        for subject in subjects
    ]

    def write(tx: Tx) -> None:
        for entry in entries:
            append(tx, entry)

    store.write_sync(write)
