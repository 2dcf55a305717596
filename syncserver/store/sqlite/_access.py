"""SQLite: who may act: devices and their certificates, one-time enrollment tokens,
role-scoped admin tokens. Ids are stored as their 16 bytes."""

from __future__ import annotations

import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from .._access import AdminToken, Device, EnrollHow, EnrollToken, Role

if TYPE_CHECKING:
    from .._access import AdminTokensRepo, DevicesRepo, EnrollTokensRepo

__all__ = ["SqliteAdminTokens", "SqliteDevices", "SqliteEnrollTokens"]

_DEVICE = (
    "SELECT device_id, serial, label, public_key, certificate, not_before_ms, not_after_ms,"
    " enrolled_ms, enrolled_how, revoked_ms, revoke_reason, last_seq, last_bundle"
    " FROM devices"
)


def _device(r: Any) -> Device:
    return Device(
        device_id=uuid.UUID(bytes=r[0]),
        serial=r[1],
        label=r[2],
        public_key=r[3],
        certificate=r[4],
        not_before_ms=r[5],
        not_after_ms=r[6],
        enrolled_ms=r[7],
        enrolled_how=EnrollHow(r[8]),
        revoked_ms=r[9],
        revoke_reason=r[10],
        last_seq=r[11],
        last_bundle=r[12],
    )


class SqliteDevices:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def get(self, device_id: uuid.UUID) -> Device | None:
        r = self._c.execute(_DEVICE + " WHERE device_id = ?", (device_id.bytes,)).fetchone()
        return None if r is None else _device(r)

    def get_locked(self, device_id: uuid.UUID) -> Device | None:
        # The writer is alone (BEGIN IMMEDIATE): nothing else can change the row meanwhile.
        return self.get(device_id)

    def by_key(self, public_key: bytes) -> Device | None:
        r = self._c.execute(_DEVICE + " WHERE public_key = ?", (public_key,)).fetchone()
        return None if r is None else _device(r)

    def all(self) -> list[Device]:
        return [_device(r) for r in self._c.execute(_DEVICE + " ORDER BY serial")]

    def next_serial(self) -> int:
        # MAX + 1: correct only because SQLite has one writer and the caller enrolls in
        # the same write transaction. A backend with concurrent writers uses a sequence.
        (serial,) = self._c.execute("SELECT COALESCE(MAX(serial), 0) + 1 FROM devices").fetchone()
        return int(serial)

    def add(self, device: Device) -> bool:
        d = device
        cur = self._c.execute(
            "INSERT INTO devices (device_id, serial, label, public_key, certificate,"
            " not_before_ms, not_after_ms, enrolled_ms, enrolled_how, revoked_ms,"
            " revoke_reason, last_seq, last_bundle)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (public_key) DO NOTHING",
            (
                d.device_id.bytes,
                d.serial,
                d.label,
                d.public_key,
                d.certificate,
                d.not_before_ms,
                d.not_after_ms,
                d.enrolled_ms,
                str(d.enrolled_how),
                d.revoked_ms,
                d.revoke_reason,
                d.last_seq,
                d.last_bundle,
            ),
        )
        return cur.rowcount == 1

    def revoke(self, device_id: uuid.UUID, at_ms: int, reason: str) -> bool:
        cur = self._c.execute(
            "UPDATE devices SET revoked_ms = ?, revoke_reason = ?"
            " WHERE device_id = ? AND revoked_ms IS NULL",
            (at_ms, reason, device_id.bytes),
        )
        return cur.rowcount == 1

    def advance_chain(self, device_id: uuid.UUID, last_seq: int, last_bundle: bytes) -> bool:
        cur = self._c.execute(
            "UPDATE devices SET last_seq = ?, last_bundle = ? WHERE device_id = ? AND last_seq < ?",
            (last_seq, last_bundle, device_id.bytes, last_seq),
        )
        return cur.rowcount == 1


_ENROLL_TOKEN = (
    "SELECT token_hash, label, created_ms, expires_ms, used_ms, device_id FROM enroll_tokens"
)


def _enroll_token(r: Any) -> EnrollToken:
    return EnrollToken(
        token_hash=r[0],
        label=r[1],
        created_ms=r[2],
        expires_ms=r[3],
        used_ms=r[4],
        device_id=None if r[5] is None else uuid.UUID(bytes=r[5]),
    )


class SqliteEnrollTokens:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def get(self, token_hash: bytes) -> EnrollToken | None:
        r = self._c.execute(_ENROLL_TOKEN + " WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if r is None else _enroll_token(r)

    def all(self) -> list[EnrollToken]:
        return [
            _enroll_token(r)
            for r in self._c.execute(_ENROLL_TOKEN + " ORDER BY created_ms, label, rowid")
        ]

    def add(self, token: EnrollToken) -> None:
        t = token
        self._c.execute(
            "INSERT INTO enroll_tokens (token_hash, label, created_ms, expires_ms, used_ms,"
            " device_id) VALUES (?, ?, ?, ?, ?, ?)",
            (
                t.token_hash,
                t.label,
                t.created_ms,
                t.expires_ms,
                t.used_ms,
                None if t.device_id is None else t.device_id.bytes,
            ),
        )

    def use(self, token_hash: bytes, device_id: uuid.UUID, at_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE enroll_tokens SET used_ms = ?, device_id = ?"
            " WHERE token_hash = ? AND used_ms IS NULL",
            (at_ms, device_id.bytes, token_hash),
        )
        return cur.rowcount == 1


_ADMIN_TOKEN = "SELECT token_hash, role, label, created_ms, revoked_ms FROM admin_tokens"


def _admin_token(r: Any) -> AdminToken:
    return AdminToken(
        token_hash=r[0], role=Role(r[1]), label=r[2], created_ms=r[3], revoked_ms=r[4]
    )


class SqliteAdminTokens:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def live_by_hash(self, token_hash: bytes) -> AdminToken | None:
        r = self._c.execute(
            _ADMIN_TOKEN + " WHERE token_hash = ? AND revoked_ms IS NULL", (token_hash,)
        ).fetchone()
        return None if r is None else _admin_token(r)

    def live_by_label(self, label: str) -> AdminToken | None:
        r = self._c.execute(
            _ADMIN_TOKEN + " WHERE label = ? AND revoked_ms IS NULL", (label,)
        ).fetchone()
        return None if r is None else _admin_token(r)

    def all(self) -> list[AdminToken]:
        rows = self._c.execute(_ADMIN_TOKEN + " ORDER BY created_ms, rowid")
        return [_admin_token(r) for r in rows]

    def add(self, token: AdminToken) -> bool:
        # One live token per label: the partial unique index of migration 5.
        t = token
        cur = self._c.execute(
            "INSERT INTO admin_tokens (token_hash, role, label, created_ms, revoked_ms)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (label) WHERE revoked_ms IS NULL DO NOTHING",
            (t.token_hash, str(t.role), t.label, t.created_ms, t.revoked_ms),
        )
        return cur.rowcount == 1

    def revoke(self, token_hash: bytes, at_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE admin_tokens SET revoked_ms = ? WHERE token_hash = ? AND revoked_ms IS NULL",
            (at_ms, token_hash),
        )
        return cur.rowcount == 1


if TYPE_CHECKING:  # mypy checks that these classes implement the interface

    def _implements(
        c: sqlite3.Connection,
    ) -> tuple[DevicesRepo, EnrollTokensRepo, AdminTokensRepo]:
        return SqliteDevices(c), SqliteEnrollTokens(c), SqliteAdminTokens(c)
