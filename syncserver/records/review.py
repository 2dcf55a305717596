"""What data managers review: quarantine, conflicts, record history, review states.

Every decision here is an audit entry. Nothing is deleted: releasing a quarantined item
re-runs ingest on its bundle (e.g. after the missing form version is published);
resolving a conflict makes one version current and keeps the others as history.
Review states follow ODK Central: received, has_issues, approved, rejected.
"""

from __future__ import annotations

import datetime
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from schemas.errors import Problem
from schemas.wire import Record

from ..audit.entries import AuditEntry, append, log_key_use
from ..errors import NotFound, UploadConflict
from ..ingest import IngestReport, Preparing, ingest_bundle
from ..ingest.uploads import UploadArea
from ..project import Project
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

ReviewState = Literal["received", "has_issues", "approved", "rejected"]


def _ms(t: datetime.datetime) -> int:
    return int(t.timestamp() * 1000)


def _dt(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


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
    where = "" if include_released else "WHERE released_ms IS NULL"
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT id, bundle_id, record_id, version, reason, problems, created_ms, released_ms"
            f" FROM quarantine {where} ORDER BY id"
        ).fetchall()
    )
    return [
        QuarantineItem(
            id=r[0],
            bundle_id=uuid.UUID(bytes=r[1]),
            record_id=uuid.UUID(bytes=r[2]) if r[2] else None,
            version=r[3],
            reason=r[4],
            problems=msgspec.msgpack.decode(r[5], type=list[Problem]) if r[5] else [],
            created=_dt(r[6]),
            released=_dt(r[7]) if r[7] else None,
        )
        for r in rows
    ]


def release(
    project: Project,
    area: UploadArea,
    preparer: Preparing,
    item_id: int,
    *,
    actor: str,
    now: datetime.datetime,
) -> IngestReport:
    """Release a quarantined item: its bundle is ingested again. What still fails goes
    back to quarantine as a new item; what now passes is merged."""

    def tx(conn: sqlite3.Connection) -> uuid.UUID:
        row = conn.execute(
            "SELECT bundle_id, released_ms FROM quarantine WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no quarantine item {item_id}", hint="see `syncserver quarantine list`")
        if row[1] is not None:
            raise UploadConflict(f"quarantine item {item_id} was already released")
        conn.execute("UPDATE quarantine SET released_ms = ? WHERE id = ?", (_ms(now), item_id))
        conn.execute("UPDATE bundles SET state = 'stored' WHERE bundle_id = ?", (row[0],))
        bundle_id = uuid.UUID(bytes=row[0])
        append(
            conn,
            AuditEntry(
                kind="release",
                at_ms=_ms(now),
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
    status: str
    review: str
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
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT version, sha256, status, review, form_id, form_version, bundle_id,"
            " device_id, received_ms, answers, sealed FROM records WHERE record_id = ?"
            " ORDER BY version, received_ms",
            (record_id.bytes,),
        ).fetchall()
    )
    if not rows:
        raise NotFound(f"no record {record_id}")
    out = []
    for r in rows:
        rec = msgspec.msgpack.decode(r[9], type=Record)
        answers = dict(rec.answers)
        if include_sensitive:
            secret = open_sealed(project.identity.store_key, record_id, r[0], r[1], r[10])
            answers = join(answers, secret)
        out.append(
            RecordVersion(
                record_id=record_id,
                version=r[0],
                sha256=r[1],
                status=r[2],
                review=r[3],
                form_id=r[4],
                form_version=r[5],
                bundle_id=uuid.UUID(bytes=r[6]),
                device_id=uuid.UUID(bytes=r[7]),
                received=_dt(r[8]),
                answers=answers,
            )
        )
    if include_sensitive:
        log_key_use(
            project.store,
            [str(record_id)],
            purpose="show sensitive answers",
            actor=actor,
            now=now or datetime.datetime.now(datetime.UTC),
        )
    return out


def list_conflicts(project: Project) -> dict[uuid.UUID, list[tuple[int, bytes]]]:
    """Record id → the (version, sha256) pairs in conflict."""
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT record_id, version, sha256 FROM records WHERE status = 'conflict'"
            " ORDER BY record_id, version, received_ms"
        ).fetchall()
    )
    out: dict[uuid.UUID, list[tuple[int, bytes]]] = {}
    for rid, ver, sha in rows:
        out.setdefault(uuid.UUID(bytes=rid), []).append((ver, sha))
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

    def tx(conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT version, sha256 FROM records WHERE record_id = ? AND status = 'conflict'",
            (record_id.bytes,),
        ).fetchall()
        if not rows:
            raise NotFound(
                f"record {record_id} has no conflict", hint="see `syncserver conflicts list`"
            )
        if keep_sha256 not in {r[1] for r in rows}:
            raise NotFound("that version is not one of the conflicting ones")
        conn.execute(
            "UPDATE records SET status = 'superseded' WHERE record_id = ? AND status = 'conflict'",
            (record_id.bytes,),
        )
        conn.execute(
            "UPDATE records SET status = 'current' WHERE record_id = ? AND sha256 = ?",
            (record_id.bytes, keep_sha256),
        )
        append(
            conn,
            AuditEntry(
                kind="review",
                at_ms=_ms(now),
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

    def tx(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "UPDATE records SET review = ? WHERE record_id = ? AND status = 'current'",
            (state, record_id.bytes),
        )
        if cur.rowcount == 0:
            raise NotFound(
                f"record {record_id} has no current version",
                hint="resolve its conflict first, or check the id",
            )
        append(
            conn,
            AuditEntry(
                kind="review",
                at_ms=_ms(now),
                actor=actor,
                subject=str(record_id),
                detail={"review": state},
            ),
        )

    project.store.write_sync(tx)
