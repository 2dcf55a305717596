"""Audit entries: every state change of the server, appended to the Merkle log
(docs/spec/audit-log-v1.md).

An entry says what happened, when, by whom and to what, with ids and counts only: never
an answer, a name, a token or a key. Entries are canonical msgpack; the leaf hash is
SHA-256(0x00 ‖ entry) (RFC 9162). The ``audit`` table holds them with dense indexes from 0.
"""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from .store import SqliteStore

__all__ = [
    "AuditEntry",
    "Kind",
    "append",
    "decode_entry",
    "encode_entry",
    "leaf_hash",
    "log_key_use",
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
    actor: str  # "admin", "device:<id>", "system"
    subject: str = ""  # an id: device, bundle, record, form
    detail: dict[str, str | int | bool] = msgspec.field(default_factory=dict)


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(AuditEntry)


def encode_entry(e: AuditEntry) -> bytes:
    return _enc.encode(e)


def decode_entry(data: bytes) -> AuditEntry:
    return _dec.decode(data)


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def append(conn: sqlite3.Connection, entry: AuditEntry) -> int:
    """Append ``entry`` inside the caller's transaction; return its index."""
    raw = encode_entry(entry)
    # Indexes are dense from 0, so the next is MAX + 1: one B-tree step, where COUNT(*)
    # would read the whole table on every append.
    (n,) = conn.execute("SELECT COALESCE(MAX(idx), -1) + 1 FROM audit").fetchone()
    conn.execute(
        "INSERT INTO audit (idx, entry, leaf_hash) VALUES (?, ?, ?)", (n, raw, leaf_hash(raw))
    )
    return int(n)


def log_key_use(
    store: SqliteStore,
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
