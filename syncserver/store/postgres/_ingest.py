"""PostgreSQL: uploads announced and in progress, bundles received, the records merged from
them and what went to quarantine (the SQLite reference: :mod:`..sqlite._ingest`).

Several servers may run these methods at once on one database, each write in its own
``READ COMMITTED`` transaction. What that means here:

- **Atomic by statement.** :meth:`PgUploads.announce` is ``INSERT … ON CONFLICT DO
  NOTHING`` (an announcement still committing elsewhere is waited for, then left as it
  is); :meth:`PgUploads.forget` deletes only an upload still open with no bundle (a
  ``complete`` committing meanwhile is waited for, and the row, now completed, is kept);
  :meth:`PgBundles.settle`, :meth:`PgBundles.keep_receipt` and
  :meth:`PgQuarantine.release` change a row only from the state they expect (the second
  of two writers waits for the first, then finds the row changed and answers False, or
  the receipt already kept).
- **Serialised by lock.** ``lock`` methods take advisory transaction locks (released at
  commit or rollback), in the two-key form ``pg_advisory_xact_lock(class, key)``: the
  class says what is locked (a device's uploads, a bundle id, a record id), the key is 32
  bits of a BLAKE2b hash of the id. Two ids sharing a key only wait for each other, they
  are never confused. The one-key (bigint) space, which other parts of the store use,
  is separate. A lock followed by a read sees what the lock's previous holder committed
  (each statement of a ``READ COMMITTED`` transaction reads a fresh snapshot).
- **Allocated by sequence.** Quarantine ids come from an identity column (``RETURNING``
  hands them back): unique, increasing in allocation order, not in commit order, with
  gaps where a transaction rolled back. Records carry ``arrival`` (an identity column,
  what SQLite's ``rowid`` is there): the order records were merged in, which exports
  follow; with several servers, the order their inserts ran, not the order they
  committed.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import psycopg

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

if TYPE_CHECKING:
    from .._ingest import BundlesRepo, QuarantineRepo, RecordsRepo, UploadsRepo

__all__ = ["PgUploads", "PgBundles", "PgRecords", "PgQuarantine"]

# Stored text to enum member, without the enum's own (slower) lookup.
_BUNDLE_STATE = {s.value: s for s in BundleState}
_STATUS = {s.value: s for s in RecordStatus}
_REVIEW = {s.value: s for s in ReviewState}

# Classes of the advisory locks taken here (first key of pg_advisory_xact_lock(int, int)).
_LOCK_DEVICE_UPLOADS = 0x5EA1_1201
_LOCK_BUNDLE = 0x5EA1_1202
_LOCK_RECORD = 0x5EA1_1203

# Names of the server-side cursors of exports (unique per process, hence per connection).
_cursor_names = itertools.count()


def _key(u: uuid.UUID) -> int:
    """The advisory lock key of an id: 32 bits of its BLAKE2b hash, as a signed int4
    (ids made in tests, uuid.UUID(int=n), share their leading bytes)."""
    return int.from_bytes(hashlib.blake2b(u.bytes, digest_size=4).digest(), "big", signed=True)


def _lock(conn: psycopg.Connection[Any], cls: int, ids: Iterable[uuid.UUID]) -> None:
    """Take the advisory transaction locks of ``ids`` in class ``cls``, in key order."""
    keys = sorted({_key(u) for u in ids})
    if not keys:
        return
    with conn.cursor() as cur:  # one round trip (a pipeline), each lock in turn
        cur.executemany("SELECT pg_advisory_xact_lock(%s, %s)", [(cls, k) for k in keys])


def _uuid(raw: Any) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(raw))


class PgUploads:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def get(self, bundle_id: uuid.UUID) -> Upload | None:
        row = self._c.execute(
            "SELECT device_id, size, sha256, created_ms, completed_ms FROM uploads"
            " WHERE bundle_id = %s",
            (bundle_id.bytes,),
        ).fetchone()
        if row is None:
            return None
        device, size, sha, created, completed = row
        return Upload(bundle_id, _uuid(device), size, bytes(sha), created, completed)

    def open_count(self, device_id: uuid.UUID) -> int:
        row = self._c.execute(
            "SELECT COUNT(*) FROM uploads WHERE device_id = %s AND completed_ms IS NULL",
            (device_id.bytes,),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def announce(
        self, bundle_id: uuid.UUID, device_id: uuid.UUID, size: int, sha256: bytes, at_ms: int
    ) -> bool:
        """``ON CONFLICT DO NOTHING``: an announcement of the same id by another
        transaction not yet committed is waited for; if it commits, nothing is done here
        (False), and the next statement of this transaction reads it."""
        cur = self._c.execute(
            "INSERT INTO uploads (bundle_id, device_id, size, sha256, created_ms)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (bundle_id) DO NOTHING",
            (bundle_id.bytes, device_id.bytes, size, sha256, at_ms),
        )
        return cur.rowcount > 0

    def lock_device(self, device_id: uuid.UUID) -> None:
        """An advisory transaction lock of the device's uploads (not its row: merges
        lock that, and announcing does not wait for them)."""
        _lock(self._c, _LOCK_DEVICE_UPLOADS, (device_id,))

    def complete(self, bundle_id: uuid.UUID, at_ms: int) -> None:
        self._c.execute(
            "UPDATE uploads SET completed_ms = %s WHERE bundle_id = %s", (at_ms, bundle_id.bytes)
        )

    def open_before(self, cutoff_ms: int) -> list[uuid.UUID]:
        rows = self._c.execute(
            "SELECT bundle_id FROM uploads WHERE completed_ms IS NULL AND created_ms < %s",
            (cutoff_ms,),
        ).fetchall()
        return [_uuid(raw) for (raw,) in rows]

    def forget(self, bundle_id: uuid.UUID) -> bool:
        """One ``DELETE``: an upload another server is completing is waited for, and its
        row, completed by then, is rechecked and kept."""
        b = bundle_id.bytes
        cur = self._c.execute(
            "DELETE FROM uploads WHERE bundle_id = %s AND completed_ms IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM bundles WHERE bundle_id = %s)",
            (b, b),
        )
        return cur.rowcount > 0


class PgBundles:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def get(self, bundle_id: uuid.UUID) -> Bundle | None:
        row = self._c.execute(
            "SELECT sha256, size, device_id, received_ms, state, receipt, audit_index"
            " FROM bundles WHERE bundle_id = %s",
            (bundle_id.bytes,),
        ).fetchone()
        if row is None:
            return None
        sha, size, device, received, state, receipt, idx = row
        return Bundle(
            bundle_id=bundle_id,
            sha256=bytes(sha),
            size=size,
            device_id=_uuid(device),
            received_ms=received,
            state=_BUNDLE_STATE[state],
            receipt=None if receipt is None else bytes(receipt),
            audit_index=idx,
        )

    def lock(self, bundle_id: uuid.UUID) -> None:
        """An advisory transaction lock of the bundle id (the bundle may not exist yet)."""
        _lock(self._c, _LOCK_BUNDLE, (bundle_id,))

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
            " audit_index) VALUES (%s, %s, %s, %s, %s, %s, %s)",
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
            "UPDATE bundles SET state = %s WHERE bundle_id = %s", (state.value, bundle_id.bytes)
        )

    def settle(self, bundle_id: uuid.UUID, state: BundleState) -> bool:
        """One ``UPDATE … WHERE state = 'stored'``: it holds the bundle's row until this
        transaction ends; a second settle waits, rechecks the row as committed, and
        changes nothing."""
        cur = self._c.execute(
            "UPDATE bundles SET state = %s WHERE bundle_id = %s AND state = %s",
            (state.value, bundle_id.bytes, BundleState.STORED.value),
        )
        return cur.rowcount > 0

    def keep_receipt(self, bundle_id: uuid.UUID, receipt: bytes) -> bytes:
        b = bundle_id.bytes
        cur = self._c.execute(
            "UPDATE bundles SET receipt = %s WHERE bundle_id = %s AND receipt IS NULL",
            (receipt, b),
        )
        if cur.rowcount > 0:
            return receipt
        # Kept by another transaction (committed: the UPDATE waited for it), or no bundle.
        row = self._c.execute("SELECT receipt FROM bundles WHERE bundle_id = %s", (b,)).fetchone()
        return receipt if row is None or row[0] is None else bytes(row[0])

    def in_state(self, state: BundleState) -> list[uuid.UUID]:
        rows = self._c.execute(
            "SELECT bundle_id FROM bundles WHERE state = %s ORDER BY bundle_id", (state.value,)
        ).fetchall()
        return [_uuid(raw) for (raw,) in rows]


_HISTORY = (
    "SELECT version, sha256, status, review, form_id, form_version, bundle_id, device_id,"
    " received_ms, answers, sealed FROM records WHERE record_id = %s"
    " ORDER BY version, received_ms, arrival"
)


class PgRecords:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def lock(self, record_ids: Iterable[uuid.UUID]) -> None:
        """Advisory transaction locks of the record ids, taken in key order (so two
        transactions locking overlapping sets in one call each never deadlock)."""
        _lock(self._c, _LOCK_RECORD, record_ids)

    def versions(self, record_id: uuid.UUID) -> list[RecordKey]:
        rows = self._c.execute(
            "SELECT version, sha256 FROM records WHERE record_id = %s", (record_id.bytes,)
        ).fetchall()
        return [RecordKey(record_id, ver, bytes(sha)) for ver, sha in rows]

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
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
            "UPDATE records SET status = %s WHERE record_id = %s AND version = %s",
            (RecordStatus.CONFLICT.value, record_id.bytes, version),
        )

    def supersede_current(self, record_id: uuid.UUID) -> None:
        self._c.execute(
            "UPDATE records SET status = %s WHERE record_id = %s AND status = %s",
            (RecordStatus.SUPERSEDED.value, record_id.bytes, RecordStatus.CURRENT.value),
        )

    def history(self, record_id: uuid.UUID) -> list[StoredRecord]:
        rows = self._c.execute(_HISTORY, (record_id.bytes,)).fetchall()
        return [
            StoredRecord(
                record_id=record_id,
                version=ver,
                sha256=bytes(sha),
                status=_STATUS[status],
                review=_REVIEW[review],
                form_id=form_id,
                form_version=form_version,
                bundle_id=_uuid(bundle),
                device_id=_uuid(device),
                received_ms=received,
                answers=bytes(answers),
                sealed=None if sealed is None else bytes(sealed),
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
                "SELECT version, sha256 FROM records WHERE record_id = %s AND status = %s"
                " ORDER BY version, received_ms, arrival",
                (record_id.bytes, conflict),
            ).fetchall()
            return [RecordKey(record_id, ver, bytes(sha)) for ver, sha in rows]
        every = self._c.execute(
            "SELECT record_id, version, sha256 FROM records WHERE status = %s"
            " ORDER BY record_id, version, received_ms, arrival",
            (conflict,),
        ).fetchall()
        return [RecordKey(_uuid(rid), ver, bytes(sha)) for rid, ver, sha in every]

    def resolve_conflict(self, record_id: uuid.UUID, keep_sha256: bytes) -> None:
        """Under the record's lock (see :meth:`lock`), both updates in one statement."""
        self.lock((record_id,))
        self._c.execute(
            "UPDATE records SET status = CASE WHEN sha256 = %s THEN %s ELSE %s END"
            " WHERE record_id = %s AND (status = %s OR sha256 = %s)",
            (
                keep_sha256,
                RecordStatus.CURRENT.value,
                RecordStatus.SUPERSEDED.value,
                record_id.bytes,
                RecordStatus.CONFLICT.value,
                keep_sha256,
            ),
        )

    def set_review(self, record_id: uuid.UUID, state: ReviewState) -> bool:
        cur = self._c.execute(
            "UPDATE records SET review = %s WHERE record_id = %s AND status = %s",
            (state.value, record_id.bytes, RecordStatus.CURRENT.value),
        )
        return cur.rowcount > 0

    def source(self, record_id: uuid.UUID) -> RecordSource | None:
        row = self._c.execute(
            "SELECT b.sha256, r.device_id FROM records r JOIN bundles b USING (bundle_id)"
            " WHERE r.record_id = %s ORDER BY (r.status = %s) DESC, r.version DESC, r.arrival"
            " DESC LIMIT 1",
            (record_id.bytes, RecordStatus.CURRENT.value),
        ).fetchone()
        if row is None:
            return None
        return RecordSource(bundle_sha256=bytes(row[0]), device_id=_uuid(row[1]))

    def current_of_form(
        self, form_id: str, form_version: int, *, sealed: bool, batch: int
    ) -> Iterator[CurrentRecord]:
        """A server-side cursor, inside the read transaction: ``batch`` rows per round
        trip, in ``arrival`` order (an index walk of ``records_form``, no sort)."""
        sealed_col = "r.sealed" if sealed else "NULL"  # never read what is not asked for
        name = f"sealsync_current_{next(_cursor_names)}"
        with self._c.cursor(name) as cur:
            cur.itersize = batch
            cur.execute(
                f"SELECT r.record_id, r.version, r.sha256, r.answers, {sealed_col},"
                " r.review, r.received_ms, p.cluster_id FROM records r"
                " LEFT JOIN respondents p ON p.record_id = r.record_id"
                " WHERE r.form_id = %s AND r.form_version = %s AND r.status = %s"
                " ORDER BY r.arrival",
                (form_id, form_version, RecordStatus.CURRENT.value),
            )
            review_state = _REVIEW
            while rows := cur.fetchmany(batch):
                for rid, ver, sha, answers, secret, review, received_ms, who in rows:
                    yield CurrentRecord(
                        _uuid(rid),
                        ver,
                        bytes(sha),
                        bytes(answers),
                        None if secret is None else bytes(secret),
                        review_state[review],
                        received_ms,
                        None if who is None else _uuid(who),
                    )

    def unresolved_conflicts(self, form_id: str, form_version: int | None = None) -> int:
        sql = (
            "SELECT COUNT(DISTINCT record_id) FROM records r WHERE form_id = %s"
            " AND status = %s AND NOT EXISTS (SELECT 1 FROM records c"
            " WHERE c.record_id = r.record_id AND c.status = %s)"
        )
        args: tuple[str | int, ...] = (
            form_id,
            RecordStatus.CONFLICT.value,
            RecordStatus.CURRENT.value,
        )
        if form_version is not None:
            sql += " AND form_version = %s"
            args += (form_version,)
        row = self._c.execute(sql, args).fetchone()
        assert row is not None
        return int(row[0])


_QUARANTINED = (
    "SELECT id, bundle_id, record_id, version, reason, problems, created_ms, released_ms"
    " FROM quarantine"
)


class PgQuarantine:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

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
        row = self._c.execute(
            "INSERT INTO quarantine (bundle_id, record_id, version, reason, problems,"
            " created_ms) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                bundle_id.bytes,
                None if record_id is None else record_id.bytes,
                version,
                reason,
                problems,
                at_ms,
            ),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def get(self, item_id: int) -> Quarantined | None:
        row = self._c.execute(_QUARANTINED + " WHERE id = %s", (item_id,)).fetchone()
        return None if row is None else _quarantined(row)

    def items(self, *, include_released: bool = False) -> list[Quarantined]:
        where = "" if include_released else " WHERE released_ms IS NULL"
        rows = self._c.execute(_QUARANTINED + where + " ORDER BY id").fetchall()
        return [_quarantined(r) for r in rows]

    def release(self, item_id: int, at_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE quarantine SET released_ms = %s WHERE id = %s AND released_ms IS NULL",
            (at_ms, item_id),
        )
        return cur.rowcount > 0


def _quarantined(row: Any) -> Quarantined:
    item_id, bundle, record, version, reason, problems, created, released = row
    return Quarantined(
        id=item_id,
        bundle_id=_uuid(bundle),
        record_id=None if record is None else _uuid(record),
        version=version,
        reason=reason,
        problems=None if problems is None else bytes(problems),
        created_ms=created,
        released_ms=released,
    )


if TYPE_CHECKING:  # mypy checks that these classes implement the interface

    def _implements(
        c: psycopg.Connection[Any],
    ) -> tuple[UploadsRepo, BundlesRepo, RecordsRepo, QuarantineRepo]:
        return PgUploads(c), PgBundles(c), PgRecords(c), PgQuarantine(c)
