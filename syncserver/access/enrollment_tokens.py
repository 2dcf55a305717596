"""Enrollment tokens as people see them: the label each was made with, and what became of
it (docs/spec/api-v1.md §7).

``syncserver devices token --label NAME`` stores a token's hash with its label; these
read them back: :func:`list_enrollment_tokens` for ``syncserver devices tokens``, and
:func:`enrolled_by` for the token label beside each device in ``devices list``.
Read-only: they work on a project opened without its secret.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from .._time import from_ms
from ..project import Project
from ..store import Tx

__all__ = ["EnrollmentToken", "enrolled_by", "list_enrollment_tokens"]


@dataclass(frozen=True)
class EnrollmentToken:
    label: str
    created: datetime.datetime
    expires: datetime.datetime
    used: datetime.datetime | None
    device_id: uuid.UUID | None  # the device it enrolled
    serial: int | None  # that device's serial

    def state(self, now: datetime.datetime) -> str:
        """``used``, ``unused`` (still valid) or ``expired`` (never used)."""
        if self.used is not None:
            return "used"
        return "unused" if self.expires > now else "expired"


def list_enrollment_tokens(project: Project) -> list[EnrollmentToken]:
    """Every enrollment token made, oldest first (the tokens themselves are not stored)."""

    def read(tx: Tx) -> list[EnrollmentToken]:
        tokens = tx.enroll_tokens.all()
        serials = {d.device_id: d.serial for d in tx.devices.all()} if tokens else {}
        return [
            EnrollmentToken(
                label=t.label,
                created=from_ms(t.created_ms),
                expires=from_ms(t.expires_ms),
                used=None if t.used_ms is None else from_ms(t.used_ms),
                device_id=t.device_id,
                serial=None if t.device_id is None else serials.get(t.device_id),
            )
            for t in tokens
        ]

    return project.store.read_sync(read)


def enrolled_by(project: Project) -> dict[uuid.UUID, str]:
    """The label of the token each device enrolled with (devices enrolled by file have none)."""
    tokens = project.store.read_sync(lambda tx: tx.enroll_tokens.all())
    return {t.device_id: t.label for t in tokens if t.device_id is not None}
