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

from ..project import Project

__all__ = ["EnrollmentToken", "enrolled_by", "list_enrollment_tokens"]


def _dt(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


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
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT t.label, t.created_ms, t.expires_ms, t.used_ms, t.device_id, d.serial"
            " FROM enroll_tokens t LEFT JOIN devices d ON d.device_id = t.device_id"
            " ORDER BY t.created_ms, t.label"
        ).fetchall()
    )
    return [
        EnrollmentToken(
            label=r[0],
            created=_dt(r[1]),
            expires=_dt(r[2]),
            used=None if r[3] is None else _dt(r[3]),
            device_id=None if r[4] is None else uuid.UUID(bytes=r[4]),
            serial=r[5],
        )
        for r in rows
    ]


def enrolled_by(project: Project) -> dict[uuid.UUID, str]:
    """The label of the token each device enrolled with (devices enrolled by file have none)."""
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT device_id, label FROM enroll_tokens WHERE device_id IS NOT NULL"
        ).fetchall()
    )
    return {uuid.UUID(bytes=r[0]): r[1] for r in rows}
