"""Ingest: from a completed upload to merged records (docs/spec/api-v1.md §5).

1. **Persist.** The upload is checked (size, SHA-256), moved into the content-addressed
   blob store with fsync, and recorded (``bundles`` row in state ``stored`` plus an
   ``upload`` audit entry) in one durable transaction. Only after this may a receipt go out.
2. **Open.** A bundle from a device that is revoked or expired at receipt is
   quarantined from the device's certificate alone, before anything is decrypted. The
   header must name this project and the bundle id it was uploaded as before any key is
   used; the bundle must be sealed (signed) by the device that uploaded it. Anything
   that fails goes to quarantine with a reason a person can read (never back to the
   sender).
3. **Validate** every record against exactly its form version, one record at a time, in
   memory bounded by the largest record (bundle-v1.md §8). Records that fail, or whose
   form version is not published, are quarantined with their path-level problems (at
   most 100 per record and 1,000 per bundle, with their count); the valid records of the
   same bundle are accepted.
4. **Merge**, in one transaction: identical resend → nothing; newer version → supersedes
   (history kept); same version with other content → conflict for review. Sensitive
   answers are encrypted into their own column. Every change is an audit entry. The
   identity answers of every record that became current are filed as keyed pseudonyms
   (``respondents``, docs/spec/respondent-matching.md), in the same transaction.
5. **Match** the new respondents against the store (:class:`~.respondents.Matcher`), with
   their identity answers still in memory: links, review items and their audit entries.
   The service does this in the background (``match=False`` here); a crash before it
   leaves the respondents ``pending``, and :func:`recover` matches them again.

A crash anywhere after step 1 is recovered at start-up by :func:`recover`, which re-runs
steps 2-4 for every bundle still in state ``stored``: the merge is idempotent.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ..audit.entries import AuditEntry, Kind, append
from ..errors import StoreError
from ..project import Project
from ..respondents import IdentityAnswers, Matcher, register
from ._prepare import BadRecord, Prepared, PreparedRecord, WorkerDied
from .uploads import UploadArea

__all__ = ["IngestReport", "Preparing", "ingest_bundle", "persist_upload", "recover"]

log = logging.getLogger("syncserver")


def _ms(t: datetime.datetime) -> int:
    return int(t.timestamp() * 1000)


@dataclass
class IngestReport:
    bundle_id: uuid.UUID
    state: str = "stored"  # accepted | quarantined
    accepted: int = 0
    duplicates: int = 0
    superseded: int = 0
    conflicts: int = 0
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)  # private: for logs and quarantine
    #: Respondents filed and waiting to be matched: (record id, identity answers). The
    #: answers are personal data, in memory only until :meth:`Matcher.match` has run.
    pending: list[tuple[uuid.UUID, IdentityAnswers]] = field(default_factory=list, repr=False)


def persist_upload(
    project: Project,
    area: UploadArea,
    bundle_id: uuid.UUID,
    uploader: uuid.UUID,
    size: int,
    sha256: bytes,
    *,
    now: datetime.datetime,
) -> int:
    """Step 1: make the bundle durable and log it; return the ``upload`` entry's index.

    The bytes are always the upload's own, checked against its announced size and
    SHA-256 (:meth:`UploadArea.finish`); a blob already stored counts only when it is
    this bundle's (:meth:`UploadArea.holds`). Idempotent: a bundle already persisted
    returns its existing entry index.
    """
    existing = project.store.read_sync(
        lambda c: c.execute(
            "SELECT audit_index FROM bundles WHERE bundle_id = ?", (bundle_id.bytes,)
        ).fetchone()
    )
    if existing is not None:
        return int(existing[0])
    if area.holds(bundle_id, size, sha256):
        area.discard(bundle_id)  # moved by a complete that did not finish
    else:
        area.finish(bundle_id, size, sha256)

    def tx(conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT audit_index FROM bundles WHERE bundle_id = ?", (bundle_id.bytes,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        idx = append(
            conn,
            AuditEntry(
                kind="upload",
                at_ms=_ms(now),
                actor=f"device:{uploader}",
                subject=str(bundle_id),
                detail={"sha256": sha256.hex(), "size": size},
            ),
        )
        conn.execute(
            "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state,"
            " audit_index) VALUES (?, ?, ?, ?, ?, 'stored', ?)",
            (bundle_id.bytes, sha256, size, uploader.bytes, _ms(now), idx),
        )
        conn.execute(
            "UPDATE uploads SET completed_ms = ? WHERE bundle_id = ?", (_ms(now), bundle_id.bytes)
        )
        return idx

    result: int = project.store.write_sync(tx)
    return result


def ingest_bundle(
    project: Project,
    area: UploadArea,
    preparer: Preparing,
    bundle_id: uuid.UUID,
    *,
    now: datetime.datetime,
    matcher: Matcher | None = None,
    match: bool = True,
) -> IngestReport:
    """Steps 2-5 for one persisted bundle. Safe to run again (recovery). Steps 2 and 3
    are ``preparer``'s (:mod:`._prepare`: in this thread, or in worker processes). With
    ``match=False`` step 5 is left to the caller, with ``report.pending``.

    One bundle never stops the server: whatever goes wrong with this bundle (it does
    not open, its blob is missing or unreadable, its worker dies, an error while merging
    it) ends it in quarantine with a reason a person can read. Only the store's own
    failures (:class:`~.errors.StoreError`: a full disk, say) leave it ``stored``, to be
    ingested again when the same ``complete`` comes back or at the next start."""
    matcher = matcher or Matcher.for_project(project)
    report = IngestReport(bundle_id)
    row = project.store.read_sync(
        lambda c: c.execute(
            "SELECT b.sha256, b.state, b.received_ms, b.device_id, d.revoked_ms,"
            " d.not_after_ms FROM bundles b LEFT JOIN devices d USING (device_id)"
            " WHERE b.bundle_id = ?",
            (bundle_id.bytes,),
        ).fetchone()
    )
    if row is None:
        raise ValueError(f"bundle {bundle_id} was never persisted")
    sha, state, received_ms, uploader, revoked_ms, not_after_ms = row
    if state != "stored":
        report.state = state
        return report
    # The device is checked before anything is opened: a revoked or expired device's
    # bundle is quarantined from its certificate alone, never decrypted or decoded.
    if not_after_ms is None:
        refusal: str | None = "the uploading device is not enrolled"
    elif revoked_ms is not None and revoked_ms <= received_ms:
        refusal = "the sealing device is revoked"
    elif not_after_ms <= received_ms:
        refusal = "the sealing device's certificate had expired"
    else:
        refusal = None
    if refusal is not None:
        return _quarantine_bundle(project, bundle_id, refusal, now, report)
    device_id = uuid.UUID(bytes=uploader)
    try:
        prepared = preparer.prepare(area.blob(sha), bundle_id=bundle_id, device_id=device_id)
    except StoreError:
        raise
    except Exception as e:
        return _quarantine_bundle(project, bundle_id, _failure("opening", e), now, report)
    if prepared.reason is not None:
        return _quarantine_bundle(project, bundle_id, prepared.reason, now, report)
    try:
        _merge_bundle(project, bundle_id, device_id, prepared, now, report)
    except StoreError:
        raise
    except Exception as e:
        report = IngestReport(bundle_id)  # nothing of the failed merge was kept
        return _quarantine_bundle(project, bundle_id, _failure("merging", e), now, report)
    report.state = "accepted"
    if match:
        matcher.match(report.pending, now=now)
        report.pending = []
    return report


def _merge_bundle(
    project: Project,
    bundle_id: uuid.UUID,
    device_id: uuid.UUID,
    prepared: Prepared,
    now: datetime.datetime,
    report: IngestReport,
) -> None:
    """Step 4, in one transaction."""
    dev = project.store.read_sync(
        lambda c: c.execute(
            "SELECT last_seq, last_bundle FROM devices WHERE device_id = ?", (device_id.bytes,)
        ).fetchone()
    )
    last_seq, last_bundle = dev
    valid, bad = prepared.valid, prepared.bad

    def tx(conn: sqlite3.Connection) -> None:
        at = _ms(now)
        report.quarantined = report.accepted = report.duplicates = 0
        report.superseded = report.conflicts = 0
        report.reasons.clear()
        report.pending.clear()  # a retried transaction starts again
        for b in bad:
            _quarantine_record(conn, bundle_id, b, at)
            report.quarantined += 1
            report.reasons.append(b.reason)
        for v in valid:
            kind, status = _merge(conn, v, bundle_id, device_id, at)
            if kind == "duplicate":
                report.duplicates += 1
                continue
            if status == "current" and register(conn, v.record_id, v.tokens, v.postings, now_ms=at):
                report.pending.append((v.record_id, v.identity))
            if kind == "supersede":
                report.superseded += 1
            elif kind == "conflict":
                report.conflicts += 1
            report.accepted += 1
            append(
                conn,
                AuditEntry(
                    kind=kind,
                    at_ms=at,
                    actor="system",
                    subject=str(v.record_id),
                    detail={"version": v.version, "bundle": str(bundle_id)},
                ),
            )
        conn.execute(
            "UPDATE bundles SET state = 'accepted' WHERE bundle_id = ?", (bundle_id.bytes,)
        )
        gap = prepared.device_seq != last_seq + 1 or (
            last_bundle is not None and prepared.prev_bundle_sha256 != last_bundle
        )
        if prepared.device_seq > last_seq:
            conn.execute(
                "UPDATE devices SET last_seq = ?, last_bundle = ? WHERE device_id = ?",
                (prepared.device_seq, prepared.sha256, device_id.bytes),
            )
        append(
            conn,
            AuditEntry(
                kind="accept",
                at_ms=at,
                actor="system",
                subject=str(bundle_id),
                detail={
                    "records": len(valid),
                    "quarantined": len(bad),
                    "device_seq": prepared.device_seq,
                    "chain_gap": gap,
                },
            ),
        )

    project.store.write_sync(tx)


def _quarantine_record(
    conn: sqlite3.Connection, bundle_id: uuid.UUID, b: BadRecord, at: int
) -> None:
    conn.execute(
        "INSERT INTO quarantine (bundle_id, record_id, version, reason, problems,"
        " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
        (bundle_id.bytes, b.record_id.bytes, b.version, b.reason, b.problems, at),
    )
    append(
        conn,
        AuditEntry(
            kind="quarantine",
            at_ms=at,
            actor="system",
            subject=str(b.record_id),
            detail={"version": b.version, "bundle": str(bundle_id)},
        ),
    )


def _merge(
    conn: sqlite3.Connection,
    v: PreparedRecord,
    bundle_id: uuid.UUID,
    device_id: uuid.UUID,
    at: int,
) -> tuple[Kind | Literal["duplicate"], str]:
    """Merge one valid record; (what happened, the status it is stored with)."""
    rid = v.record_id.bytes
    rows = conn.execute(
        "SELECT version, sha256 FROM records WHERE record_id = ?", (rid,)
    ).fetchall()
    if any(ver == v.version and s == v.sha256 for ver, s in rows):
        return "duplicate", ""
    status = "current"
    kind: Kind = "accept"
    if any(ver == v.version for ver, _ in rows):
        # Same version, other content: two devices edited the same base concurrently.
        conn.execute(
            "UPDATE records SET status = 'conflict' WHERE record_id = ? AND version = ?",
            (rid, v.version),
        )
        status, kind = "conflict", "conflict"
    elif rows and v.version > max(ver for ver, _ in rows):
        conn.execute(
            "UPDATE records SET status = 'superseded' WHERE record_id = ? AND status = 'current'",
            (rid,),
        )
        kind = "supersede"
    elif rows:
        status = "superseded"  # an older version arriving late: kept as history
    conn.execute(
        "INSERT INTO records (record_id, version, form_id, form_version, sha256, bundle_id,"
        " device_id, answers, sealed, status, received_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rid,
            v.version,
            v.form_id,
            v.form_version,
            v.sha256,
            bundle_id.bytes,
            device_id.bytes,
            v.plain,
            v.sealed,
            status,
            at,
        ),
    )
    return kind, status


def _failure(step: str, e: BaseException) -> str:
    """A reason a person can read for an unexpected failure with one bundle. Where it
    happened goes to the server's log (each frame's file, line and function), never the
    exception's message or a line of source (a message could quote the bundle)."""
    if isinstance(e, WorkerDied):
        return e.reason
    if isinstance(e, MemoryError):
        return f"ran out of memory while {step} the bundle"
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    log.error(
        "internal error while %s a bundle: %s%s\n%s",
        step,
        type(e).__name__,
        where,
        "\n".join(f"  {Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames),
    )
    return f"internal error while {step} the bundle ({type(e).__name__}{where}): report it"


def _quarantine_bundle(
    project: Project,
    bundle_id: uuid.UUID,
    reason: str,
    now: datetime.datetime,
    report: IngestReport,
) -> IngestReport:
    def tx(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO quarantine (bundle_id, reason, created_ms) VALUES (?, ?, ?)",
            (bundle_id.bytes, reason, _ms(now)),
        )
        conn.execute(
            "UPDATE bundles SET state = 'quarantined' WHERE bundle_id = ?", (bundle_id.bytes,)
        )
        append(
            conn,
            AuditEntry(kind="quarantine", at_ms=_ms(now), actor="system", subject=str(bundle_id)),
        )

    project.store.write_sync(tx)
    report.state = "quarantined"
    report.reasons.append(reason)
    return report


def recover(
    project: Project,
    area: UploadArea,
    preparer: Preparing,
    *,
    now: datetime.datetime,
    matcher: Matcher | None = None,
) -> list[IngestReport]:
    """Re-run ingest for every bundle persisted but not yet processed (after a crash).
    A bundle that fails ends in quarantine (:func:`ingest_bundle`); one the store cannot
    take now stays ``stored`` for the next start, and the others go on."""
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT bundle_id FROM bundles WHERE state = 'stored' ORDER BY bundle_id"
        ).fetchall()
    )
    matcher = matcher or Matcher.for_project(project)
    reports = []
    for (raw,) in rows:
        bundle_id = uuid.UUID(bytes=raw)
        try:
            reports.append(
                ingest_bundle(project, area, preparer, bundle_id, now=now, matcher=matcher)
            )
        except StoreError as e:
            log.error("bundle %s left stored, to ingest later: %s", bundle_id, e.message)
    return reports


class Preparing(Protocol):
    """A :class:`~._prepare.Preparer` or a :class:`~._prepare.PreparerPool`."""

    def prepare(
        self,
        blob: Path,
        *,
        bundle_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
    ) -> Prepared: ...
