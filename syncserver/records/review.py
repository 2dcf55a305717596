"""What data managers review: quarantine, conflicts, record history, review states.

Every decision here is an audit entry. Nothing is deleted: releasing a quarantined item
re-runs ingest on its bundle (e.g. after the missing form version is published);
resolving a conflict makes one version current and keeps the others as history.
Review states follow ODK Central: received, has_issues, approved, rejected.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from schemas.errors import Problem
from schemas.wire import Record

from .._time import from_ms, ms
from .._time import now as _now
from ..audit.entries import AuditEntry, append, log_key_use
from ..errors import NotFound, UploadConflict
from ..ingest import IngestReport, Preparing, ingest_bundle
from ..project import Project
from ..store import BundleState, RecordStatus, ReviewState, Tx
from ..store.blobs import Blobs
from .sensitive import join, open_sealed

__all__ = [
    "QuarantineItem",
    "RecordVersion",
    "ReviewState",
    "list_conflicts",
    "list_quarantine",
    "record_history",
    "release",
    "resolve_conflict",
    "set_review",
]


@dataclass(frozen=True)
class QuarantineItem:
    id: int
    bundle_id: uuid.UUID
    record_id: uuid.UUID | None
    version: int | None
    reason: str
    problems: list[Problem]
    created: datetime.datetime
    released: datetime.datetime | None


def list_quarantine(project: Project, *, include_released: bool = False) -> list[QuarantineItem]:
    rows = project.store.read_sync(
        lambda tx: tx.quarantine.items(include_released=include_released)
    )
    return [
        QuarantineItem(
            id=r.id,
            bundle_id=r.bundle_id,
            record_id=r.record_id,
            version=r.version,
            reason=r.reason,
            problems=msgspec.msgpack.decode(r.problems, type=list[Problem]) if r.problems else [],
            created=from_ms(r.created_ms),
            released=from_ms(r.released_ms) if r.released_ms else None,
        )
        for r in rows
    ]


def release(
    project: Project,
    area: Blobs,
    preparer: Preparing,
    item_id: int,
    *,
    actor: str,
    now: datetime.datetime,
) -> IngestReport:
    """Release a quarantined item: its bundle is ingested again. What still fails goes
    back to quarantine as a new item; what now passes is merged."""

    at = ms(now)

    def tx(tx: Tx) -> uuid.UUID:
        item = tx.quarantine.get(item_id)
        if item is None:
            raise NotFound(f"no quarantine item {item_id}", hint="see `syncserver quarantine list`")
        if item.released_ms is not None:
            raise UploadConflict(f"quarantine item {item_id} was already released")
        tx.quarantine.release(item_id, at)
        tx.bundles.set_state(item.bundle_id, BundleState.STORED)
        bundle_id = item.bundle_id
        append(
            tx,
            AuditEntry(
                kind="release",
                at_ms=at,
                actor=actor,
                subject=str(bundle_id),
                detail={"item": item_id},
            ),
        )
        return bundle_id

    bundle_id = project.store.write_sync(tx)
    return ingest_bundle(project, area, preparer, bundle_id, now=now)


@dataclass(frozen=True)
class RecordVersion:
    record_id: uuid.UUID
    version: int
    sha256: bytes
    status: RecordStatus
    review: ReviewState
    form_id: str
    form_version: int
    bundle_id: uuid.UUID
    device_id: uuid.UUID
    received: datetime.datetime
    answers: dict[str, Any]

    def __repr__(self) -> str:  # answers are testimony: never in a repr
        return f"RecordVersion({self.record_id} v{self.version} {self.status})"


def record_history(
    project: Project,
    record_id: uuid.UUID,
    *,
    include_sensitive: bool = False,
    actor: str,
    now: datetime.datetime | None = None,
) -> list[RecordVersion]:
    """Every stored version of a record, oldest first. Sensitive answers only on request
    (and that access is an audit entry naming ``actor``)."""
    rows = project.store.read_sync(lambda tx: tx.records.history(record_id))
    if not rows:
        raise NotFound(f"no record {record_id}")
    out = []
    for r in rows:
        rec = msgspec.msgpack.decode(r.answers, type=Record)
        answers = dict(rec.answers)
        if include_sensitive:
            secret = open_sealed(
                project.identity.store_key, record_id, r.version, r.sha256, r.sealed
            )
            answers = join(answers, secret)
        out.append(
            RecordVersion(
                record_id=record_id,
                version=r.version,
                sha256=r.sha256,
                status=r.status,
                review=r.review,
                form_id=r.form_id,
                form_version=r.form_version,
                bundle_id=r.bundle_id,
                device_id=r.device_id,
                received=from_ms(r.received_ms),
                answers=answers,
            )
        )
    if include_sensitive:
        log_key_use(
            project.store,
            [str(record_id)],
            purpose="show sensitive answers",
            actor=actor,
            now=now or _now(),
        )
    return out


def list_conflicts(project: Project) -> dict[uuid.UUID, list[tuple[int, bytes]]]:
    """Record id → the (version, sha256) pairs in conflict."""
    rows = project.store.read_sync(lambda tx: tx.records.conflicts())
    out: dict[uuid.UUID, list[tuple[int, bytes]]] = {}
    for r in rows:
        out.setdefault(r.record_id, []).append((r.version, r.sha256))
    return out


def resolve_conflict(
    project: Project,
    record_id: uuid.UUID,
    keep_sha256: bytes,
    *,
    actor: str,
    now: datetime.datetime,
) -> None:
    """Keep one conflicting version as current; the others become history."""

    def tx(tx: Tx) -> None:
        rows = tx.records.conflicts(record_id)
        if not rows:
            raise NotFound(
                f"record {record_id} has no conflict", hint="see `syncserver conflicts list`"
            )
        if keep_sha256 not in {r.sha256 for r in rows}:
            raise NotFound("that version is not one of the conflicting ones")
        tx.records.resolve_conflict(record_id, keep_sha256)
        append(
            tx,
            AuditEntry(
                kind="review",
                at_ms=ms(now),
                actor=actor,
                subject=str(record_id),
                detail={"decision": "resolve conflict", "kept": keep_sha256.hex()},
            ),
        )

    project.store.write_sync(tx)


def set_review(
    project: Project,
    record_id: uuid.UUID,
    state: ReviewState,
    *,
    actor: str,
    now: datetime.datetime,
) -> None:
    """Set the review state of a record's current version."""
    state = ReviewState(state)  # the member, also when given its value

    def tx(tx: Tx) -> None:
        if not tx.records.set_review(record_id, state):
            raise NotFound(
                f"record {record_id} has no current version",
                hint="resolve its conflict first, or check the id",
            )
        append(
            tx,
            AuditEntry(
                kind="review",
                at_ms=ms(now),
                actor=actor,
                subject=str(record_id),
                detail={"review": state.value},
            ),
        )

    project.store.write_sync(tx)
