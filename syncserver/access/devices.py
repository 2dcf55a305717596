"""Devices: enrollment tokens, enrollment (online and offline), listing, revocation
(docs/spec/api-v1.md §7).

Each operation is a function of a store transaction (``tx.devices``, ``tx.enroll_tokens``),
run inside one write transaction, that also appends its audit entry; the CLI runs them
synchronously and the server through the store's writer. Tokens are random, shown once,
and stored only as SHA-256.

The entries carry what is needed to recompute the ``devices`` and ``enroll_tokens`` rows
from the log (docs/spec/audit-log-v1.md §14.2): ids, serial, validity, times, the SHA-256
of the stored certificate, and a digest of each token's stored hash, never the token.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
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

from .._time import from_ms, ms
from ..audit.entries import AuditEntry, append, token_digest
from ..errors import BadRequest, DeviceError, DeviceUnknown, TokenInvalid
from ..project import Project
from ..store import Device, EnrollHow, EnrollToken, Tx

__all__ = [
    "enroll_online",
    "registered",
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
    row = EnrollToken(token_hash=stored, label=label, created_ms=ms(now), expires_ms=ms(expires))

    def tx(tx: Tx) -> None:
        tx.enroll_tokens.add(row)
        append(
            tx,
            AuditEntry(
                kind="token",
                at_ms=row.created_ms,
                actor=actor,
                subject=label,
                detail={
                    "what": "enrollment token",
                    "token_hash": token_digest(stored),
                    "expires_ms": row.expires_ms,
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
) -> Callable[[Tx], EnrollmentResponse]: ...


@overload
def enroll_tx(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["file"],
    actor: str,
    now: datetime.datetime,
) -> Callable[[Tx], EnrollmentResponse]: ...


def enroll_tx(
    project: Project,
    request: EnrollmentRequest,
    *,
    how: Literal["token", "file"],
    actor: str | None = None,
    now: datetime.datetime,
) -> Callable[[Tx], EnrollmentResponse]:
    """The transaction that enrolls ``request``. ``how="token"``: online, with the
    one-time token in the request, and the token's label names who acted
    (``enroll-token:<label>``); ``how="file"``: offline, and ``actor`` is whoever ran the
    command (``cli:<user>``)."""
    if (how == "file") != (actor is not None):
        raise TypeError("enroll_tx: an actor for how='file', none for how='token'")

    def tx(tx: Tx) -> EnrollmentResponse:
        if not verify_request(request):
            raise DeviceError(
                "the enrollment request is not signed by the key it names",
                hint="create a new request on the device",
            )
        by = actor
        token_hash = _token_hash(request.token) if how == "token" else None
        if token_hash is not None:
            token = tx.enroll_tokens.get(token_hash)
            if token is None or token.used_ms is not None or token.expires_ms <= ms(now):
                raise _token_invalid()
            by = f"enroll-token:{token.label}"
        if tx.devices.by_key(request.public_key) is not None:
            raise _key_enrolled()
        serial = tx.devices.next_serial()
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
        device = Device(
            device_id=device_id,
            serial=serial,
            label=request.label,
            public_key=request.public_key,
            certificate=stored_cert,
            not_before_ms=ms(cert.not_before),
            not_after_ms=ms(cert.not_after),
            enrolled_ms=ms(now),
            enrolled_how=EnrollHow(how),
        )
        if not tx.devices.add(device):
            raise _key_enrolled()  # by another server meanwhile: this one rolls back
        if token_hash is not None and not tx.enroll_tokens.use(token_hash, device_id, ms(now)):
            raise _token_invalid()  # used meanwhile by another writer: this one rolls back
        detail: dict[str, str | int | bool] = {
            "serial": serial,
            "how": how,
            "not_before_ms": device.not_before_ms,
            "not_after_ms": device.not_after_ms,
            "certificate_sha256": hashlib.sha256(stored_cert).hexdigest(),
        }
        if token_hash is not None:
            detail["token_hash"] = token_digest(token_hash)
        assert by is not None
        append(
            tx,
            AuditEntry(
                kind="enroll", at_ms=ms(now), actor=by, subject=str(device_id), detail=detail
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


def _key_enrolled() -> DeviceError:
    return DeviceError(
        "this device key is already enrolled",
        hint="a device that was reset must create a new key and request",
    )


def _token_invalid() -> TokenInvalid:
    return TokenInvalid(
        "enrollment token unknown, already used or expired",
        hint="ask the administrator for a new token (`syncserver devices token`)",
    )


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
    rows = project.store.read_sync(lambda tx: tx.devices.all())
    return [
        DeviceInfo(
            device_id=d.device_id,
            serial=d.serial,
            label=d.label,
            enrolled=from_ms(d.enrolled_ms),
            how=str(d.enrolled_how),
            not_after=from_ms(d.not_after_ms),
            revoked=None if d.revoked_ms is None else from_ms(d.revoked_ms),
            revoke_reason=d.revoke_reason,
            last_seq=d.last_seq,
        )
        for d in rows
    ]


def revoke(
    project: Project, device_id: uuid.UUID, reason: str, *, actor: str, now: datetime.datetime
) -> None:
    """Revoke a device: its later bundles go to quarantine, not into the data."""

    def tx(tx: Tx) -> None:
        device = tx.devices.get(device_id)
        if device is None:
            raise DeviceUnknown(
                f"no device {device_id}", hint="list devices with `syncserver devices list`"
            )
        if not tx.devices.revoke(device_id, ms(now), reason):
            raise DeviceError(f"device {device_id} is already revoked")
        append(
            tx,
            AuditEntry(
                kind="revoke",
                at_ms=ms(now),
                actor=actor,
                subject=str(device_id),
                detail={"what": "device", "reason": reason},
            ),
        )

    project.store.write_sync(tx)


async def registered(project: Project, device_id: uuid.UUID) -> Device | None:
    """The registry's row for ``device_id`` (revoked and expired devices too: their
    bundles are received into quarantine), or None for a device never enrolled."""
    result: Device | None = await project.store.read(lambda tx: tx.devices.get(device_id))
    return result


async def enroll_online(
    project: Project, request: EnrollmentRequest, *, now: datetime.datetime
) -> EnrollmentResponse:
    """Enroll a device with its one-time token (``POST /v1/enroll``)."""
    if not request.token:
        raise BadRequest(
            "online enrollment needs a token",
            hint="ask the administrator for one (`syncserver devices token`)",
        )
    result: EnrollmentResponse = await project.store.write(
        enroll_tx(project, request, how="token", now=now)
    )
    return result
