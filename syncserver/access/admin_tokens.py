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
from dataclasses import dataclass

from schemas.text import valid_label

from .._time import from_ms, ms
from ..audit.entries import AuditEntry, append, token_digest
from ..errors import AuthFailed, NotFound, SyncServerError
from ..project import Project
from ..store import AdminToken, Role, Tx

__all__ = [
    "RANK",
    "Role",
    "TokenInfo",
    "authorize",
    "check_token",
    "create_token",
    "list_tokens",
    "revoke_token",
]

RANK: dict[str, int] = {Role.AUDITOR: 1, Role.MANAGER: 2, Role.ADMIN: 3}
PREFIX = "ssa1_"


class Forbidden(SyncServerError):
    status = 403
    code = "forbidden"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


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
    row = AdminToken(token_hash=stored, role=Role(role), label=label, created_ms=ms(now))

    def tx(tx: Tx) -> None:
        # The check answers most cases; add() refuses (False) a label that another
        # server's transaction took after it, so the answer is the same either way.
        if tx.admin_tokens.live_by_label(label) is not None or not tx.admin_tokens.add(row):
            raise _label_taken(label)
        append(
            tx,
            AuditEntry(
                kind="token",
                at_ms=row.created_ms,
                actor=actor,
                subject=label,
                detail={
                    "what": "admin token",
                    "role": str(row.role),
                    "token_hash": token_digest(stored),
                },
            ),
        )

    project.store.write_sync(tx)
    return token


def _label_taken(label: str) -> SyncServerError:
    return SyncServerError(
        f"a live token is already labelled {label!r}",
        hint="revoke it first or choose another label",
    )


def list_tokens(project: Project) -> list[TokenInfo]:
    rows = project.store.read_sync(lambda tx: tx.admin_tokens.all())
    return [
        TokenInfo(r.label, str(r.role), from_ms(r.created_ms), r.revoked_ms is not None)
        for r in rows
    ]


def revoke_token(project: Project, label: str, *, actor: str, now: datetime.datetime) -> None:
    """Revoke the live token labelled ``label``."""

    def tx(tx: Tx) -> None:
        live = tx.admin_tokens.live_by_label(label)
        if live is None or not tx.admin_tokens.revoke(live.token_hash, ms(now)):
            raise NotFound(f"no live token labelled {label!r}", hint="see `syncserver tokens list`")
        append(
            tx,
            AuditEntry(
                kind="revoke",
                at_ms=ms(now),
                actor=actor,
                subject=label,
                detail={"what": "admin token", "token_hash": token_digest(live.token_hash)},
            ),
        )

    project.store.write_sync(tx)


def check_token(tx: Tx, header: str | None, need: Role) -> tuple[str, str]:
    """(label, role) of a bearer token that has at least role ``need``, read in ``tx``."""
    if not header or not header.startswith("Bearer "):
        raise AuthFailed("an admin token is required", hint="send Authorization: Bearer <token>")
    token = tx.admin_tokens.live_by_hash(_hash(header.removeprefix("Bearer ").strip()))
    if token is None:
        raise AuthFailed("admin token unknown or revoked")
    if RANK[token.role] < RANK[need]:
        raise Forbidden(f"this needs the {need} role; the token is {token.role}")
    return token.label, str(token.role)


async def authorize(project: Project, header: str | None, need: Role) -> tuple[str, str]:
    """(label, role) of the bearer token in an ``Authorization`` header, if it has at
    least role ``need``; :class:`AuthFailed` or :class:`Forbidden` otherwise."""
    result: tuple[str, str] = await project.store.read(lambda tx: check_token(tx, header, need))
    return result
