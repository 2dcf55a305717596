"""Devices: enrollment tokens, enrollment (online and offline), listing, revocation
(docs/spec/api-v1.md §7).

Each operation is a function of a store connection, run inside one write transaction,
that also appends its audit entry; the CLI runs them synchronously and the server through
the store's writer thread. Tokens are random, shown once, and stored only as SHA-256.

The entries carry what is needed to recompute the ``devices`` and ``enroll_tokens`` rows
from the log (docs/spec/audit-log-v1.md §14.2): ids, serial, validity, times, the SHA-256
of the stored certificate, and a digest of each token's stored hash, never the token.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

from schemas import certs
from schemas.ids import new_id
from schemas.text import valid_label
from schemas.wire import (
    ENROLL_TOKEN_PREFIX,
    EnrollmentRequest,
    EnrollmentResponse,
    verify_request,
)

from ..audit.entries import AuditEntry, append, token_digest
from ..errors import DeviceError, DeviceUnknown, TokenInvalid
from ..project import Project

__all__ = [
    "DeviceInfo",
    "create_token",
    "enroll",
    "enroll_tx",
    "list_devices",
    "revoke",
]

LABEL_HINT = (
    "a label is 1 to 64 characters, without control or format characters and without a "
    "space at either end; it names what the token is for, never a person"
)
SKEW = datetime.timedelta(minutes=5)


def _ms(t: datetime.datetime) -> int:
    return int(t.timestamp() * 1000)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class DeviceInfo:
    device_id: uuid.UUID
    serial: int
    label: str
    enrolled: datetime.datetime
    how: str
    not_after: datetime.datetime
    revoked: datetime.datetime | None
    revoke_reason: str | None
    last_seq: int


def create_token(project: Project, label: str, *, actor: str, now: datetime.datetime) -> str:
    """A one-time enrollment token, valid ``devices.token_hours``. Shown once, never stored.
    ``label`` says what it is for; a device enrolled with it is enrolled by
    ``enroll-token:<label>`` in the log."""
    if not valid_label(label):
        raise DeviceError(
            "that label cannot be used for an enrollment token",
            hint=LABEL_HINT,
        )
    token = ENROLL_TOKEN_PREFIX + secrets.token_urlsafe(24)
    expires = now + datetime.timedelta(hours=project.config.devices.token_hours)
    stored = _token_hash(token)

    def tx(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO enroll_tokens (token_hash, label, created_ms, expires_ms)"
            " VALUES (?, ?, ?, ?)",
            (stored, label, _ms(now), _ms(expires)),
        )
        append(
            conn,
            AuditEntry(
                kind="token",
                at_ms=_ms(now),
                actor=actor,
                subject=label,
                detail={
                    "what": "enrollment token",
                    "token_hash": token_digest(stored),
                    "expires_ms": _ms(expires),
                },
            ),
        )

    project.store.write_sync(tx)
    return token


@overload
def enroll_tx(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["token"],
    now: datetime.datetime,
) -> Callable[[sqlite3.Connection], EnrollmentResponse]: ...


@overload
def enroll_tx(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["file"],
    actor: str,
    now: datetime.datetime,
) -> Callable[[sqlite3.Connection], EnrollmentResponse]: ...


def enroll_tx(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["token", "file"],
    actor: str | None = None,
    now: datetime.datetime,
) -> Callable[[sqlite3.Connection], EnrollmentResponse]:
    """The transaction that enrolls ``request``. ``how="token"``: online, with the
    one-time token in the request, and the token's label names who acted
    (``enroll-token:<label>``); ``how="file"``: offline, and ``actor`` is whoever ran the
    command (``cli:<user>``)."""
    if (how == "file") != (actor is not None):
        raise TypeError("enroll_tx: an actor for how='file', none for how='token'")

    def tx(conn: sqlite3.Connection) -> EnrollmentResponse:
        if not verify_request(request):
            raise DeviceError(
                "the enrollment request is not signed by the key it names",
                hint="create a new request on the device",
            )
        by = actor
        if how == "token":
            row = conn.execute(
                "SELECT expires_ms, used_ms, label FROM enroll_tokens WHERE token_hash = ?",
                (_token_hash(request.token),),
            ).fetchone()
            if row is None or row[1] is not None or row[0] <= _ms(now):
                raise TokenInvalid(
                    "enrollment token unknown, already used or expired",
                    hint="ask the administrator for a new token (`syncserver devices token`)",
                )
            by = f"enroll-token:{row[2]}"
        if conn.execute(
            "SELECT 1 FROM devices WHERE public_key = ?", (request.public_key,)
        ).fetchone():
            raise DeviceError(
                "this device key is already enrolled",
                hint="a device that was reset must create a new key and request",
            )
        (serial,) = conn.execute("SELECT COALESCE(MAX(serial), 0) + 1 FROM devices").fetchone()
        device_id = new_id()
        cert = certs.DeviceCertificate(
            project_id=project.project_id,
            device_id=device_id,
            public_key=request.public_key,
            serial=serial,
            not_before=now - SKEW,
            not_after=now + datetime.timedelta(days=project.config.devices.certificate_days),
            label=request.label,
        )
        signed = certs.issue(cert, project.identity.signing)
        stored_cert = signed.body + signed.signature
        conn.execute(
            "INSERT INTO devices (device_id, serial, label, public_key, certificate,"
            " not_before_ms, not_after_ms, enrolled_ms, enrolled_how)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                device_id.bytes,
                serial,
                request.label,
                request.public_key,
                stored_cert,
                _ms(cert.not_before),
                _ms(cert.not_after),
                _ms(now),
                how,
            ),
        )
        if how == "token":
            conn.execute(
                "UPDATE enroll_tokens SET used_ms = ?, device_id = ? WHERE token_hash = ?",
                (_ms(now), device_id.bytes, _token_hash(request.token)),
            )
        detail: dict[str, str | int | bool] = {
            "serial": serial,
            "how": how,
            "not_before_ms": _ms(cert.not_before),
            "not_after_ms": _ms(cert.not_after),
            "certificate_sha256": hashlib.sha256(stored_cert).hexdigest(),
        }
        if how == "token":
            detail["token_hash"] = token_digest(_token_hash(request.token))
        assert by is not None
        append(
            conn,
            AuditEntry(
                kind="enroll", at_ms=_ms(now), actor=by, subject=str(device_id), detail=detail
            ),
        )
        return EnrollmentResponse(
            certificate=signed,
            project_id=project.project_id,
            recipient_public_key=project.identity.recipient_public.raw,
            signing_public_key=project.identity.signing_public_bytes(),
            log_origin=project.log_origin,
        )

    return tx


@overload
def enroll(
    project: Project, request: EnrollmentRequest, *, how: Literal["token"], now: datetime.datetime
) -> EnrollmentResponse: ...


@overload
def enroll(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["file"],
    actor: str,
    now: datetime.datetime,
) -> EnrollmentResponse: ...


def enroll(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["token", "file"],
    actor: str | None = None,
    now: datetime.datetime,
) -> EnrollmentResponse:
    """Enroll ``request`` now (see :func:`enroll_tx` for ``how`` and ``actor``)."""
    tx = (
        enroll_tx(project, request, how="token", now=now)
        if how == "token"
        else enroll_tx(project, request, how="file", actor=_actor(actor), now=now)
    )
    result: EnrollmentResponse = project.store.write_sync(tx)
    return result


def _actor(actor: str | None) -> str:
    if actor is None:
        raise TypeError("enroll: how='file' needs an actor")
    return actor


def list_devices(project: Project) -> list[DeviceInfo]:
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT device_id, serial, label, enrolled_ms, enrolled_how, not_after_ms,"
            " revoked_ms, revoke_reason, last_seq FROM devices ORDER BY serial"
        ).fetchall()
    )

    def t(ms: int | None) -> datetime.datetime | None:
        return None if ms is None else datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)

    return [
        DeviceInfo(
            device_id=uuid.UUID(bytes=r[0]),
            serial=r[1],
            label=r[2],
            enrolled=t(r[3]),  # type: ignore[arg-type]
            how=r[4],
            not_after=t(r[5]),  # type: ignore[arg-type]
            revoked=t(r[6]),
            revoke_reason=r[7],
            last_seq=r[8],
        )
        for r in rows
    ]


def revoke(
    project: Project, device_id: uuid.UUID, reason: str, *, actor: str, now: datetime.datetime
) -> None:
    """Revoke a device: its later bundles go to quarantine, not into the data."""

    def tx(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT revoked_ms FROM devices WHERE device_id = ?", (device_id.bytes,)
        ).fetchone()
        if row is None:
            raise DeviceUnknown(
                f"no device {device_id}", hint="list devices with `syncserver devices list`"
            )
        if row[0] is not None:
            raise DeviceError(f"device {device_id} is already revoked")
        conn.execute(
            "UPDATE devices SET revoked_ms = ?, revoke_reason = ? WHERE device_id = ?",
            (_ms(now), reason, device_id.bytes),
        )
        append(
            conn,
            AuditEntry(
                kind="revoke",
                at_ms=_ms(now),
                actor=actor,
                subject=str(device_id),
                detail={"what": "device", "reason": reason},
            ),
        )

    project.store.write_sync(tx)
