"""Role-scoped admin tokens (docs/spec/api-v1.md §1, §10).

Three roles, each including the one below it: ``auditor`` reads the audit log;
``manager`` also reads and reviews records and quarantine (never sensitive answers);
``admin`` also sees sensitive answers and publishes forms. A token is random, shown once,
and stored only as its SHA-256. Creating and revoking tokens are audit entries that carry
the label, the role and a digest of the stored hash (docs/spec/audit-log-v1.md §14.2), so
that ``syncserver audit verify`` can recompute the ``admin_tokens`` table from the log.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Literal

from schemas.text import valid_label

from ..audit.entries import AuditEntry, append, token_digest
from ..errors import AuthFailed, NotFound, SyncServerError
from ..project import Project

__all__ = [
    "RANK",
    "Role",
    "TokenInfo",
    "check_token",
    "create_token",
    "list_tokens",
    "revoke_token",
]

Role = Literal["auditor", "manager", "admin"]
RANK: dict[str, int] = {"auditor": 1, "manager": 2, "admin": 3}
PREFIX = "ssa1_"


class Forbidden(SyncServerError):
    status = 403
    code = "forbidden"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _ms(t: datetime.datetime) -> int:
    return int(t.timestamp() * 1000)


@dataclass(frozen=True)
class TokenInfo:
    label: str
    role: str
    created: datetime.datetime
    revoked: bool


def create_token(
    project: Project, role: Role, label: str, *, actor: str, now: datetime.datetime
) -> str:
    """A new admin token for ``role``, labelled ``label``; shown once (returned)."""
    if role not in RANK:
        raise SyncServerError(f"unknown role {role!r}", hint="use admin, manager or auditor")
    if not valid_label(label):
        raise SyncServerError(
            "that label cannot be used for an admin token",
            hint="a label is 1 to 64 characters, without control or format characters and "
            "without a space at either end; it says who or what holds the token",
        )
    token = PREFIX + secrets.token_urlsafe(32)
    stored = _hash(token)

    def tx(conn: sqlite3.Connection) -> None:
        if conn.execute(
            "SELECT 1 FROM admin_tokens WHERE label = ? AND revoked_ms IS NULL", (label,)
        ).fetchone():
            raise SyncServerError(
                f"a live token is already labelled {label!r}",
                hint="revoke it first or choose another label",
            )
        conn.execute(
            "INSERT INTO admin_tokens (token_hash, role, label, created_ms) VALUES (?, ?, ?, ?)",
            (stored, role, label, _ms(now)),
        )
        append(
            conn,
            AuditEntry(
                kind="token",
                at_ms=_ms(now),
                actor=actor,
                subject=label,
                detail={"what": "admin token", "role": role, "token_hash": token_digest(stored)},
            ),
        )

    project.store.write_sync(tx)
    return token


def list_tokens(project: Project) -> list[TokenInfo]:
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT label, role, created_ms, revoked_ms FROM admin_tokens ORDER BY created_ms"
        ).fetchall()
    )
    return [
        TokenInfo(
            r[0], r[1], datetime.datetime.fromtimestamp(r[2] / 1000, datetime.UTC), r[3] is not None
        )
        for r in rows
    ]


def revoke_token(project: Project, label: str, *, actor: str, now: datetime.datetime) -> None:
    """Revoke the live token labelled ``label``."""

    def tx(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT token_hash FROM admin_tokens WHERE label = ? AND revoked_ms IS NULL", (label,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no live token labelled {label!r}", hint="see `syncserver tokens list`")
        conn.execute(
            "UPDATE admin_tokens SET revoked_ms = ? WHERE token_hash = ?", (_ms(now), row[0])
        )
        append(
            conn,
            AuditEntry(
                kind="revoke",
                at_ms=_ms(now),
                actor=actor,
                subject=label,
                detail={"what": "admin token", "token_hash": token_digest(bytes(row[0]))},
            ),
        )

    project.store.write_sync(tx)


def check_token(conn: sqlite3.Connection, header: str | None, need: Role) -> tuple[str, str]:
    """(label, role) of a bearer token that has at least role ``need``."""
    if not header or not header.startswith("Bearer "):
        raise AuthFailed("an admin token is required", hint="send Authorization: Bearer <token>")
    row = conn.execute(
        "SELECT label, role FROM admin_tokens WHERE token_hash = ? AND revoked_ms IS NULL",
        (_hash(header.removeprefix("Bearer ").strip()),),
    ).fetchone()
    if row is None:
        raise AuthFailed("admin token unknown or revoked")
    if RANK[row[1]] < RANK[need]:
        raise Forbidden(f"this needs the {need} role; the token is {row[1]}")
    return str(row[0]), str(row[1])
