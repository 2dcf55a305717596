"""Synthetic records and the bundles an enrolled device seals of them."""

from __future__ import annotations

import datetime
import io
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.bundle import DeviceKey, seal_bundle
from schemas.ids import new_id
from schemas.survey import Form
from schemas.wire import Record
from syncserver.project import Project

__all__ = ["make_record", "seal_for"]

#: When every synthetic record was made (its version ``v`` modified ``v`` minutes later).
MADE = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


def make_record(
    form: Form,
    answers: dict[str, Any],
    *,
    record_id: uuid.UUID | None = None,
    version: int = 1,
) -> Record:
    """A synthetic record of ``form`` with ``answers`` (a new id unless ``record_id``)."""
    return Record(
        record_id=record_id or new_id(),
        version=version,
        form_id=form.id,
        form_version=form.version,
        created_at=MADE,
        modified_at=MADE + datetime.timedelta(minutes=version),
        lang="ko",
        answers=answers,
    )


def seal_for(
    project: Project,
    device_key: Ed25519PrivateKey,
    device_id: uuid.UUID,
    records: list[Record],
    seq: int = 1,
    prev: bytes = bytes(32),
) -> bytes:
    """Seal ``records`` as enrolled device ``device_id`` would, to ``project``'s key."""
    buf = io.BytesIO()
    seal_bundle(
        buf,
        records=records,
        device=DeviceKey(device_id, device_key),
        recipients=[project.identity.recipient_public],
        project_id=project.project_id,
        device_seq=seq,
        prev_bundle_sha256=prev,
    )
    return buf.getvalue()
