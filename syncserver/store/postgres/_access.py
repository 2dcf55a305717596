"""PostgreSQL: who may act: devices and their certificates, one-time enrollment tokens,
role-scoped admin tokens. Ids are stored as their 16 bytes (``bytea``).

Several servers may run these at once on one database. What each write guarantees
against another server's transaction (``READ COMMITTED``, as the store runs writes):

- a device's serial comes from the sequence ``device_serials``: unique across servers,
  never handed out twice, increasing in the order allocated (not in commit order), with
  gaps where a transaction rolled back;
- a device key is enrolled once (``devices.public_key`` is unique): :meth:`PgDevices.add`
  inserts ``ON CONFLICT (public_key) DO NOTHING``, so a second enrollment of one key
  waits for the first to commit and then answers False instead of breaking the unique
  index;
- an enrollment token is used once: :meth:`PgEnrollTokens.use` updates it only where it
  is unused; a second server's update waits for the first's row lock, sees the used row
  and changes nothing;
- one live admin token per label (the partial unique index ``admin_tokens_live_label``):
  :meth:`PgAdminTokens.add` inserts ``ON CONFLICT (label) WHERE revoked_ms IS NULL DO
  NOTHING`` and answers False when another live token holds the label, committed or
  committing;
- revocations (devices and admin tokens) and the bundle chain change a row only where
  it still is what the caller expects (live; behind the new sequence number), so that
  two servers doing it at once change it once.

Lists are ordered as SQLite orders them; where SQLite breaks a tie by ``rowid`` (the
order rows were made), these tables have an identity column ``made`` (a copy from SQLite
keeps the order by adding the rows in the order ``all()`` lists them).

Locks these writes take, and in which order, for whoever combines them: enrolling takes
the enrollment token's row (``use``), then the audit log's head (the entry); revoking
takes the device's or the admin token's row, then the head; the merge of a bundle takes
its device's row (``get_locked``) before the head. The head always comes last, so these
never wait for each other in a cycle.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import psycopg

from .._access import AdminToken, Device, EnrollHow, EnrollToken, Role

if TYPE_CHECKING:
    from .._access import AdminTokensRepo, DevicesRepo, EnrollTokensRepo

__all__ = ["PgAdminTokens", "PgDevices", "PgEnrollTokens"]


def _b(v: Any) -> bytes | None:
    """A ``bytea`` as bytes (psycopg may hand out a memoryview), None as None."""
    return None if v is None else bytes(v)


_DEVICE = (
    "SELECT device_id, serial, label, public_key, certificate, not_before_ms, not_after_ms,"
    " enrolled_ms, enrolled_how, revoked_ms, revoke_reason, last_seq, last_bundle"
    " FROM devices"
)


def _device(r: Any) -> Device:
    return Device(
        device_id=uuid.UUID(bytes=bytes(r[0])),
        serial=r[1],
        label=r[2],
        public_key=bytes(r[3]),
        certificate=bytes(r[4]),
        not_before_ms=r[5],
        not_after_ms=r[6],
        enrolled_ms=r[7],
        enrolled_how=EnrollHow(r[8]),
        revoked_ms=r[9],
        revoke_reason=r[10],
        last_seq=r[11],
        last_bundle=_b(r[12]),
    )


class PgDevices:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def get(self, device_id: uuid.UUID) -> Device | None:
        r = self._c.execute(_DEVICE + " WHERE device_id = %s", (device_id.bytes,)).fetchone()
        return None if r is None else _device(r)

    def get_locked(self, device_id: uuid.UUID) -> Device | None:
        """The device, its row locked (``FOR UPDATE``) until this transaction ends: a
        second server's ``get_locked`` of it waits, then reads what the first wrote."""
        r = self._c.execute(
            _DEVICE + " WHERE device_id = %s FOR UPDATE", (device_id.bytes,)
        ).fetchone()
        return None if r is None else _device(r)

    def by_key(self, public_key: bytes) -> Device | None:
        r = self._c.execute(_DEVICE + " WHERE public_key = %s", (public_key,)).fetchone()
        return None if r is None else _device(r)

    def all(self) -> list[Device]:
        return [_device(r) for r in self._c.execute(_DEVICE + " ORDER BY serial")]

    def next_serial(self) -> int:
        """From the sequence ``device_serials``: unique across servers without a lock;
        a serial taken by a transaction that rolls back is not given again (a gap). Only
        in a write transaction (PostgreSQL refuses ``nextval`` in a read-only one).

        Rows added with serials of their own (a SQLite store copied in) leave the
        sequence behind them: the copy must then move it past them
        (``setval('device_serials', MAX(serial))``), or the next enrollment breaks the
        unique serial (a StoreError, nothing enrolled twice)."""
        r = self._c.execute("SELECT nextval('device_serials')").fetchone()
        assert r is not None
        return int(r[0])

    def add(self, device: Device) -> bool:
        """Insert; False (nothing inserted) if the key is enrolled already, by a
        transaction committed or committing (this one waits for it to end)."""
        d = device
        cur = self._c.execute(
            "INSERT INTO devices (device_id, serial, label, public_key, certificate,"
            " not_before_ms, not_after_ms, enrolled_ms, enrolled_how, revoked_ms,"
            " revoke_reason, last_seq, last_bundle)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
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
            "UPDATE devices SET revoked_ms = %s, revoke_reason = %s"
            " WHERE device_id = %s AND revoked_ms IS NULL",
            (at_ms, reason, device_id.bytes),
        )
        return cur.rowcount == 1

    def advance_chain(self, device_id: uuid.UUID, last_seq: int, last_bundle: bytes) -> bool:
        cur = self._c.execute(
            "UPDATE devices SET last_seq = %s, last_bundle = %s"
            " WHERE device_id = %s AND last_seq < %s",
            (last_seq, last_bundle, device_id.bytes, last_seq),
        )
        return cur.rowcount == 1


_ENROLL_TOKEN = (
    "SELECT token_hash, label, created_ms, expires_ms, used_ms, device_id FROM enroll_tokens"
)


def _enroll_token(r: Any) -> EnrollToken:
    return EnrollToken(
        token_hash=bytes(r[0]),
        label=r[1],
        created_ms=r[2],
        expires_ms=r[3],
        used_ms=r[4],
        device_id=None if r[5] is None else uuid.UUID(bytes=bytes(r[5])),
    )


class PgEnrollTokens:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def get(self, token_hash: bytes) -> EnrollToken | None:
        r = self._c.execute(_ENROLL_TOKEN + " WHERE token_hash = %s", (token_hash,)).fetchone()
        return None if r is None else _enroll_token(r)

    def all(self) -> list[EnrollToken]:
        rows = self._c.execute(_ENROLL_TOKEN + " ORDER BY created_ms, label, made")
        return [_enroll_token(r) for r in rows]

    def add(self, token: EnrollToken) -> None:
        t = token
        self._c.execute(
            "INSERT INTO enroll_tokens (token_hash, label, created_ms, expires_ms, used_ms,"
            " device_id) VALUES (%s, %s, %s, %s, %s, %s)",
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
        """Conditional: of two servers using one token at once, the second's update waits
        for the first's row lock, then finds the token used and changes nothing."""
        cur = self._c.execute(
            "UPDATE enroll_tokens SET used_ms = %s, device_id = %s"
            " WHERE token_hash = %s AND used_ms IS NULL",
            (at_ms, device_id.bytes, token_hash),
        )
        return cur.rowcount == 1


_ADMIN_TOKEN = "SELECT token_hash, role, label, created_ms, revoked_ms FROM admin_tokens"


def _admin_token(r: Any) -> AdminToken:
    return AdminToken(
        token_hash=bytes(r[0]), role=Role(r[1]), label=r[2], created_ms=r[3], revoked_ms=r[4]
    )


class PgAdminTokens:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def live_by_hash(self, token_hash: bytes) -> AdminToken | None:
        r = self._c.execute(
            _ADMIN_TOKEN + " WHERE token_hash = %s AND revoked_ms IS NULL", (token_hash,)
        ).fetchone()
        return None if r is None else _admin_token(r)

    def live_by_label(self, label: str) -> AdminToken | None:
        r = self._c.execute(
            _ADMIN_TOKEN + " WHERE label = %s AND revoked_ms IS NULL", (label,)
        ).fetchone()
        return None if r is None else _admin_token(r)

    def all(self) -> list[AdminToken]:
        rows = self._c.execute(_ADMIN_TOKEN + " ORDER BY created_ms, made")
        return [_admin_token(r) for r in rows]

    def add(self, token: AdminToken) -> bool:
        """Insert; False (nothing inserted) if the token is live and another live token
        holds its label, committed or committing (this one waits for it to end)."""
        t = token
        cur = self._c.execute(
            "INSERT INTO admin_tokens (token_hash, role, label, created_ms, revoked_ms)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (label) WHERE revoked_ms IS NULL DO NOTHING",
            (t.token_hash, str(t.role), t.label, t.created_ms, t.revoked_ms),
        )
        return cur.rowcount == 1

    def revoke(self, token_hash: bytes, at_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE admin_tokens SET revoked_ms = %s WHERE token_hash = %s AND revoked_ms IS NULL",
            (at_ms, token_hash),
        )
        return cur.rowcount == 1


if TYPE_CHECKING:  # mypy checks that these classes implement the interface

    def _implements(
        c: psycopg.Connection[Any],
    ) -> tuple[DevicesRepo, EnrollTokensRepo, AdminTokensRepo]:
        return PgDevices(c), PgEnrollTokens(c), PgAdminTokens(c)
