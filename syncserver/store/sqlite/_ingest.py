"""SQLite: uploads announced and in progress, bundles received, the records merged from them and
what went to quarantine.

Ids are 16-byte blobs. Arrival order of records is SQLite's ``rowid`` (records are only
ever inserted, so it grows with every insert); quarantine ids are the table's
``INTEGER PRIMARY KEY``, allocated by SQLite as the largest so far + 1 (nothing is
deleted from that table, so they only grow). A backend without a rowid needs an
arrival column of its own (a sequence).

SQLite has one writer, and every write transaction is serialised: the repositories'
``lock`` methods have nothing to do here, and a check followed by a write in one
transaction is atomic already."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .._ingest import (
    Bundle,
    BundleState,
    CurrentRecord,
    Quarantined,
    RecordKey,
    RecordSource,
    RecordStatus,
    ReviewState,
    StoredRecord,
    Upload,
)

__all__ = ["SqliteUploads", "SqliteBundles", "SqliteRecords", "SqliteQuarantine"]

# Stored text to enum member, without the enum's own (slower) lookup.
_BUNDLE_STATE = {s.value: s for s in BundleState}
_STATUS = {s.value: s for s in RecordStatus}
_REVIEW = {s.value: s for s in ReviewState}


class SqliteUploads:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def get(self, bundle_id: uuid.UUID) -> Upload | None:
        row = self._c.execute(
            "SELECT device_id, size, sha256, created_ms, completed_ms FROM uploads"
            " WHERE bundle_id = ?",
            (bundle_id.bytes,),
        ).fetchone()
        if row is None:
            return None
        device, size, sha, created, completed = row
        return Upload(bundle_id, uuid.UUID(bytes=device), size, bytes(sha), created, completed)

    def open_count(self, device_id: uuid.UUID) -> int:
        (n,) = self._c.execute(
            "SELECT COUNT(*) FROM uploads WHERE device_id = ? AND completed_ms IS NULL",
            (device_id.bytes,),
        ).fetchone()
        return int(n)

    def announce(
        self, bundle_id: uuid.UUID, device_id: uuid.UUID, size: int, sha256: bytes, at_ms: int
    ) -> bool:
        cur = self._c.execute(
            "INSERT INTO uploads (bundle_id, device_id, size, sha256, created_ms)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (bundle_id) DO NOTHING",
            (bundle_id.bytes, device_id.bytes, size, sha256, at_ms),
        )
        return cur.rowcount > 0

    def lock_device(self, device_id: uuid.UUID) -> None:
        pass  # one writer

    def complete(self, bundle_id: uuid.UUID, at_ms: int) -> None:
        self._c.execute(
            "UPDATE uploads SET completed_ms = ? WHERE bundle_id = ?", (at_ms, bundle_id.bytes)
        )

    def open_before(self, cutoff_ms: int) -> list[uuid.UUID]:
        rows = self._c.execute(
            "SELECT bundle_id FROM uploads WHERE completed_ms IS NULL AND created_ms < ?",
            (cutoff_ms,),
        ).fetchall()
        return [uuid.UUID(bytes=raw) for (raw,) in rows]

    def forget(self, bundle_id: uuid.UUID) -> bool:
        b = bundle_id.bytes
        cur = self._c.execute(
            "DELETE FROM uploads WHERE bundle_id = ? AND completed_ms IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM bundles WHERE bundle_id = ?)",
            (b, b),
        )
        return cur.rowcount > 0


class SqliteBundles:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def get(self, bundle_id: uuid.UUID) -> Bundle | None:
        row = self._c.execute(
            "SELECT sha256, size, device_id, received_ms, state, receipt, audit_index"
            " FROM bundles WHERE bundle_id = ?",
            (bundle_id.bytes,),
        ).fetchone()
        if row is None:
            return None
        sha, size, device, received, state, receipt, idx = row
        return Bundle(
            bundle_id=bundle_id,
            sha256=bytes(sha),
            size=size,
            device_id=uuid.UUID(bytes=device),
            received_ms=received,
            state=_BUNDLE_STATE[state],
            receipt=receipt,
            audit_index=idx,
        )

    def lock(self, bundle_id: uuid.UUID) -> None:
        pass  # one writer

    def add(
        self,
        bundle_id: uuid.UUID,
        *,
        sha256: bytes,
        size: int,
        device_id: uuid.UUID,
        received_ms: int,
        audit_index: int,
    ) -> None:
        self._c.execute(
            "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state,"
            " audit_index) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                bundle_id.bytes,
                sha256,
                size,
                device_id.bytes,
                received_ms,
                BundleState.STORED.value,
                audit_index,
            ),
        )

    def set_state(self, bundle_id: uuid.UUID, state: BundleState) -> None:
        self._c.execute(
            "UPDATE bundles SET state = ? WHERE bundle_id = ?", (state.value, bundle_id.bytes)
        )

    def settle(self, bundle_id: uuid.UUID, state: BundleState) -> bool:
        cur = self._c.execute(
            "UPDATE bundles SET state = ? WHERE bundle_id = ? AND state = ?",
            (state.value, bundle_id.bytes, BundleState.STORED.value),
        )
        return cur.rowcount > 0

    def keep_receipt(self, bundle_id: uuid.UUID, receipt: bytes) -> bytes:
        b = bundle_id.bytes
        self._c.execute(
            "UPDATE bundles SET receipt = ? WHERE bundle_id = ? AND receipt IS NULL", (receipt, b)
        )
        row = self._c.execute("SELECT receipt FROM bundles WHERE bundle_id = ?", (b,)).fetchone()
        return receipt if row is None or row[0] is None else bytes(row[0])

    def in_state(self, state: BundleState) -> list[uuid.UUID]:
        rows = self._c.execute(
            "SELECT bundle_id FROM bundles WHERE state = ? ORDER BY bundle_id", (state.value,)
        ).fetchall()
        return [uuid.UUID(bytes=raw) for (raw,) in rows]


class SqliteRecords:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def lock(self, record_ids: Iterable[uuid.UUID]) -> None:
        pass  # one writer

    def versions(self, record_id: uuid.UUID) -> list[RecordKey]:
        rows = self._c.execute(
            "SELECT version, sha256 FROM records WHERE record_id = ?", (record_id.bytes,)
        ).fetchall()
        return [RecordKey(record_id, ver, sha) for ver, sha in rows]

    def add(
        self,
        record_id: uuid.UUID,
        version: int,
        *,
        form_id: str,
        form_version: int,
        sha256: bytes,
        bundle_id: uuid.UUID,
        device_id: uuid.UUID,
        answers: bytes,
        sealed: bytes | None,
        status: RecordStatus,
        received_ms: int,
    ) -> None:
        self._c.execute(
            "INSERT INTO records (record_id, version, form_id, form_version, sha256, bundle_id,"
            " device_id, answers, sealed, status, received_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record_id.bytes,
                version,
                form_id,
                form_version,
                sha256,
                bundle_id.bytes,
                device_id.bytes,
                answers,
                sealed,
                status.value,
                received_ms,
            ),
        )

    def mark_conflict(self, record_id: uuid.UUID, version: int) -> None:
        self._c.execute(
            "UPDATE records SET status = ? WHERE record_id = ? AND version = ?",
            (RecordStatus.CONFLICT.value, record_id.bytes, version),
        )

    def supersede_current(self, record_id: uuid.UUID) -> None:
        self._c.execute(
            "UPDATE records SET status = ? WHERE record_id = ? AND status = ?",
            (RecordStatus.SUPERSEDED.value, record_id.bytes, RecordStatus.CURRENT.value),
        )

    def history(self, record_id: uuid.UUID) -> list[StoredRecord]:
        rows = self._c.execute(
            "SELECT version, sha256, status, review, form_id, form_version, bundle_id,"
            " device_id, received_ms, answers, sealed FROM records WHERE record_id = ?"
            " ORDER BY version, received_ms",
            (record_id.bytes,),
        ).fetchall()
        return [
            StoredRecord(
                record_id=record_id,
                version=ver,
                sha256=sha,
                status=_STATUS[status],
                review=_REVIEW[review],
                form_id=form_id,
                form_version=form_version,
                bundle_id=uuid.UUID(bytes=bundle),
                device_id=uuid.UUID(bytes=device),
                received_ms=received,
                answers=answers,
                sealed=sealed,
            )
            for (
                ver,
                sha,
                status,
                review,
                form_id,
                form_version,
                bundle,
                device,
                received,
                answers,
                sealed,
            ) in rows
        ]

    def conflicts(self, record_id: uuid.UUID | None = None) -> list[RecordKey]:
        conflict = RecordStatus.CONFLICT.value
        if record_id is not None:
            rows = self._c.execute(
                "SELECT version, sha256 FROM records WHERE record_id = ? AND status = ?"
                " ORDER BY version, received_ms",
                (record_id.bytes, conflict),
            ).fetchall()
            return [RecordKey(record_id, ver, sha) for ver, sha in rows]
        rows = self._c.execute(
            "SELECT record_id, version, sha256 FROM records WHERE status = ?"
            " ORDER BY record_id, version, received_ms",
            (conflict,),
        ).fetchall()
        return [RecordKey(uuid.UUID(bytes=rid), ver, sha) for rid, ver, sha in rows]

    def resolve_conflict(self, record_id: uuid.UUID, keep_sha256: bytes) -> None:
        rid = record_id.bytes
        self._c.execute(
            "UPDATE records SET status = ? WHERE record_id = ? AND status = ?",
            (RecordStatus.SUPERSEDED.value, rid, RecordStatus.CONFLICT.value),
        )
        self._c.execute(
            "UPDATE records SET status = ? WHERE record_id = ? AND sha256 = ?",
            (RecordStatus.CURRENT.value, rid, keep_sha256),
        )

    def set_review(self, record_id: uuid.UUID, state: ReviewState) -> bool:
        cur = self._c.execute(
            "UPDATE records SET review = ? WHERE record_id = ? AND status = ?",
            (state.value, record_id.bytes, RecordStatus.CURRENT.value),
        )
        return cur.rowcount > 0

    def source(self, record_id: uuid.UUID) -> RecordSource | None:
        row = self._c.execute(
            "SELECT b.sha256, r.device_id FROM records r JOIN bundles b USING (bundle_id)"
            " WHERE r.record_id = ? ORDER BY (r.status = ?) DESC, r.version DESC LIMIT 1",
            (record_id.bytes, RecordStatus.CURRENT.value),
        ).fetchone()
        if row is None:
            return None
        return RecordSource(bundle_sha256=bytes(row[0]), device_id=uuid.UUID(bytes=row[1]))

    def current_of_form(
        self, form_id: str, form_version: int, *, sealed: bool, batch: int
    ) -> Iterator[CurrentRecord]:
        sealed_col = "r.sealed" if sealed else "NULL"  # never read what is not asked for
        cur = self._c.execute(
            f"SELECT r.record_id, r.version, r.sha256, r.answers, {sealed_col},"
            " r.review, r.received_ms, p.cluster_id FROM records r"
            " LEFT JOIN respondents p ON p.record_id = r.record_id"
            " WHERE r.form_id = ? AND r.form_version = ? AND r.status = ?"
            " ORDER BY r.rowid",
            (form_id, form_version, RecordStatus.CURRENT.value),
        )
        review_state = _REVIEW
        while rows := cur.fetchmany(batch):
            for rid, ver, sha, answers, secret, review, received_ms, who in rows:
                yield CurrentRecord(
                    uuid.UUID(bytes=rid),
                    ver,
                    sha,
                    answers,
                    secret,
                    review_state[review],
                    received_ms,
                    uuid.UUID(bytes=who) if who else None,
                )

    def unresolved_conflicts(self, form_id: str, form_version: int | None = None) -> int:
        sql = (
            "SELECT COUNT(DISTINCT record_id) FROM records r WHERE form_id = ?"
            " AND status = ? AND NOT EXISTS (SELECT 1 FROM records c"
            " WHERE c.record_id = r.record_id AND c.status = ?)"
        )
        args: tuple[str | int, ...] = (
            form_id,
            RecordStatus.CONFLICT.value,
            RecordStatus.CURRENT.value,
        )
        if form_version is not None:
            sql += " AND form_version = ?"
            args += (form_version,)
        (n,) = self._c.execute(sql, args).fetchone()
        return int(n)


class SqliteQuarantine:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    _COLUMNS = (
        "SELECT id, bundle_id, record_id, version, reason, problems, created_ms, released_ms"
        " FROM quarantine"
    )

    def add(
        self,
        bundle_id: uuid.UUID,
        reason: str,
        at_ms: int,
        *,
        record_id: uuid.UUID | None = None,
        version: int | None = None,
        problems: bytes | None = None,
    ) -> int:
        cur = self._c.execute(
            "INSERT INTO quarantine (bundle_id, record_id, version, reason, problems,"
            " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (
                bundle_id.bytes,
                None if record_id is None else record_id.bytes,
                version,
                reason,
                problems,
                at_ms,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def get(self, item_id: int) -> Quarantined | None:
        row = self._c.execute(self._COLUMNS + " WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else _quarantined(row)

    def items(self, *, include_released: bool = False) -> list[Quarantined]:
        where = "" if include_released else " WHERE released_ms IS NULL"
        rows = self._c.execute(self._COLUMNS + where + " ORDER BY id").fetchall()
        return [_quarantined(r) for r in rows]

    def release(self, item_id: int, at_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE quarantine SET released_ms = ? WHERE id = ? AND released_ms IS NULL",
            (at_ms, item_id),
        )
        return cur.rowcount > 0


def _quarantined(row: Any) -> Quarantined:
    item_id, bundle, record, version, reason, problems, created, released = row
    return Quarantined(
        id=item_id,
        bundle_id=uuid.UUID(bytes=bundle),
        record_id=uuid.UUID(bytes=record) if record else None,
        version=version,
        reason=reason,
        problems=problems,
        created_ms=created,
        released_ms=released,
    )
