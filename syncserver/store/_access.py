"""Who may act: devices and their certificates, one-time enrollment tokens, role-scoped
admin tokens.

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`). Ids are :class:`uuid.UUID`, times Unix milliseconds
(:mod:`syncserver._time`). Tokens are never stored, only their SHA-256 (``token_hash``).

Every write here is also an audit entry, appended by the caller in the same transaction
(docs/spec/audit-log-v1.md §14.2): ``syncserver audit verify`` recomputes these rows from
the log, so a backend must store exactly what it is given.
"""

from __future__ import annotations

import enum
import uuid
from typing import Protocol

import msgspec

__all__ = [
    "AdminToken",
    "AdminTokensRepo",
    "Device",
    "DevicesRepo",
    "EnrollHow",
    "EnrollToken",
    "EnrollTokensRepo",
    "Role",
]


class EnrollHow(enum.StrEnum):
    """How a device was enrolled: online with a one-time token, or offline by file."""

    TOKEN = "token"
    FILE = "file"


class Role(enum.StrEnum):
    """An admin token's role; each includes the ones below it (docs/spec/api-v1.md §10):
    ``auditor`` < ``manager`` < ``admin``."""

    AUDITOR = "auditor"
    MANAGER = "manager"
    ADMIN = "admin"


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """An enrolled device. ``certificate`` is the signed certificate as issued (body and
    signature); ``last_seq`` and ``last_bundle`` (the SHA-256 of its last accepted
    bundle) are where its bundle chain stands (0 and None before its first bundle)."""

    device_id: uuid.UUID
    serial: int
    label: str
    public_key: bytes
    certificate: bytes
    not_before_ms: int
    not_after_ms: int
    enrolled_ms: int
    enrolled_how: EnrollHow
    revoked_ms: int | None = None
    revoke_reason: str | None = None
    last_seq: int = 0
    last_bundle: bytes | None = None


class EnrollToken(msgspec.Struct, frozen=True, kw_only=True):
    """A one-time enrollment token (its hash), and the device it enrolled once used."""

    token_hash: bytes
    label: str
    created_ms: int
    expires_ms: int
    used_ms: int | None = None
    device_id: uuid.UUID | None = None


class AdminToken(msgspec.Struct, frozen=True, kw_only=True):
    """A role-scoped admin token (its hash); live until ``revoked_ms``."""

    token_hash: bytes
    role: Role
    label: str
    created_ms: int
    revoked_ms: int | None = None


class DevicesRepo(Protocol):
    """Enrolled devices."""

    def get(self, device_id: uuid.UUID) -> Device | None:
        """The device ``device_id``, revoked or not; None if it was never enrolled."""
        ...

    def get_locked(self, device_id: uuid.UUID) -> Device | None:
        """:meth:`get`, in a write transaction, with the device's row locked until it
        ends: another server's ``get_locked`` of the same device waits for this
        transaction, then reads what it wrote (the bundle chain read, then advanced, as
        one step). SQLite has one writer: a plain read."""
        ...

    def by_key(self, public_key: bytes) -> Device | None:
        """The device enrolled with ``public_key`` (a key is enrolled at most once)."""
        ...

    def all(self) -> list[Device]:
        """Every device, by serial."""
        ...

    def next_serial(self) -> int:
        """The serial for the device this transaction is about to enroll (1 for the
        first). Serials are unique and increasing; a backend with concurrent writers
        allocates them from a sequence, and may leave gaps where a transaction rolled
        back."""
        ...

    def add(self, device: Device) -> bool:
        """Store a newly enrolled device (its id and serial are new). False, and nothing
        stored, if its key is enrolled already, even by a transaction of another server
        still committing: a key is enrolled once."""
        ...

    def revoke(self, device_id: uuid.UUID, at_ms: int, reason: str) -> bool:
        """Revoke a live device; False (and nothing changed) if it is unknown or was
        already revoked."""
        ...

    def advance_chain(self, device_id: uuid.UUID, last_seq: int, last_bundle: bytes) -> bool:
        """Where the device's bundle chain now stands: its sequence number and the
        SHA-256 of that bundle. The chain only moves forward: False (and nothing changed)
        if it already stands at ``last_seq`` or beyond."""
        ...


class EnrollTokensRepo(Protocol):
    """One-time enrollment tokens."""

    def get(self, token_hash: bytes) -> EnrollToken | None:
        """The token whose SHA-256 is ``token_hash``, used or not."""
        ...

    def all(self) -> list[EnrollToken]:
        """Every token made, oldest first (ties by label, then in the order made)."""
        ...

    def add(self, token: EnrollToken) -> None:
        """Store a new token."""
        ...

    def use(self, token_hash: bytes, device_id: uuid.UUID, at_ms: int) -> bool:
        """Mark the token used, by ``device_id`` (already added). True if it was unused;
        False (and nothing changed) if another transaction used it first: a token is
        used once, even with several servers on one database."""
        ...


class AdminTokensRepo(Protocol):
    """Role-scoped admin tokens."""

    def live_by_hash(self, token_hash: bytes) -> AdminToken | None:
        """The live (unrevoked) token whose SHA-256 is ``token_hash``."""
        ...

    def live_by_label(self, label: str) -> AdminToken | None:
        """The live token labelled ``label`` (at most one is live per label)."""
        ...

    def all(self) -> list[AdminToken]:
        """Every token made, revoked ones too, oldest first (ties in the order made)."""
        ...

    def add(self, token: AdminToken) -> bool:
        """Store a new token. False, and nothing stored, if it is live and another live
        token holds its label, even one of another server's transaction still
        committing: at most one live token per label."""
        ...

    def revoke(self, token_hash: bytes, at_ms: int) -> bool:
        """Revoke a live token; False (and nothing changed) if it was not live."""
        ...
