"""Audit entries: every state change of the server, appended to the Merkle log
(docs/spec/audit-log-v1.md §3, §14).

An entry says what happened, when, by whom and to what, with ids, counts and hashes only:
never an answer, a name, a token or a key. Entries are canonical msgpack; the leaf hash is
SHA-256(0x00 ‖ entry) (RFC 9162). The ``audit`` table holds them with dense indexes from 0.

Who acted (``actor``) is always named by the caller, never defaulted (audit-log-v1.md §14.1):
``device:<uuid>``, ``system``, ``token:<label>``, ``cli:<user>`` or ``enroll-token:<label>``.

The writer also keeps a chained MAC per row (§14.3), its private check that the tail after
the last signed checkpoint was written by a holder of the project key:
``mac_i = HMAC-SHA256(K, mac_{i-1} ‖ i ‖ leaf_hash_i)`` with ``K`` derived from the
project's store key (:func:`mac_key`). :func:`append` takes ``K`` from the writer
connection (the store sets it when the project opens it); a store opened without the
key cannot append.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import StoreError

if TYPE_CHECKING:
    from ..store import Store

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


# -- the MAC chain (§14.3) ---------------------------------------------------------------

MAC_KEY_LABEL = b"sealsync/v1 audit mac\x00"
MAC_FROM_LABEL = b"sealsync/v1 audit mac from\x00"
#: The ``meta`` key that says from which index every row carries a MAC.
MAC_FROM_KEY = "audit_mac_from"
_ZERO = bytes(32)


def mac_key(store_key: bytes) -> bytes:
    """K: HKDF-SHA256 over the project's store key, info ``"sealsync/v1 audit mac\\x00"``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MAC_KEY_LABEL).derive(
        store_key
    )


def chain_mac(key: bytes, prev: bytes | None, index: int, leaf: bytes) -> bytes:
    """``HMAC-SHA256(K, prev ‖ index as 8 bytes big-endian ‖ leaf hash)``; ``prev`` is the
    MAC of the row before, 32 zero bytes for the first row or one that has none."""
    return hmac.new(key, (prev or _ZERO) + index.to_bytes(8, "big") + leaf, "sha256").digest()


def mac_from_marker(key: bytes, index: int) -> bytes:
    """The ``meta`` value that says rows from ``index`` on carry a MAC: the index as 8
    bytes big-endian, then ``HMAC-SHA256(K, "sealsync/v1 audit mac from\\x00" ‖ index)``."""
    n = index.to_bytes(8, "big")
    return n + hmac.new(key, MAC_FROM_LABEL + n, "sha256").digest()


def read_mac_from(key: bytes, value: object) -> int | None:
    """The index a marker names, or None if it is not one made with ``key``."""
    if not isinstance(value, bytes) or len(value) != 40:
        return None
    index = int.from_bytes(value[:8], "big")
    return index if hmac.compare_digest(mac_from_marker(key, index), value) else None


def append(conn: sqlite3.Connection, entry: AuditEntry) -> int:
    """Append ``entry`` inside the caller's transaction; return its index."""
    key: bytes | None = getattr(conn, "audit_mac_key", None)
    if key is None:
        raise StoreError(
            "this store was opened without the project key: it cannot write to the audit log",
            hint="open the project (with its passphrase or key file) to make changes",
        )
    raw = encode_entry(entry)
    leaf = leaf_hash(raw)
    # Indexes are dense from 0, so the next is the last + 1: one B-tree step, where
    # COUNT(*) would read the whole table on every append.
    last = conn.execute("SELECT idx, mac FROM audit ORDER BY idx DESC LIMIT 1").fetchone()
    n, prev = (0, None) if last is None else (int(last[0]) + 1, last[1])
    conn.execute(
        "INSERT INTO audit (idx, entry, leaf_hash, mac) VALUES (?, ?, ?, ?)",
        (n, raw, leaf, chain_mac(key, prev, n, leaf)),
    )
    return n


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
    at = int(now.timestamp() * 1000)
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

    def tx(conn: sqlite3.Connection) -> None:
        for entry in entries:
            append(conn, entry)

    store.write_sync(tx)
