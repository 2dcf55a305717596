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

Several servers may share one store (PostgreSQL) and ingest one bundle at once (a
device retrying on another server, a server recovering what another one is ingesting):
step 1 adds the bundle and its ``upload`` entry once, and steps 2-4 settle it once
(accepted or quarantined, by whichever transaction moves it out of ``stored`` first; the
others change nothing). Each transaction reads what it decides on under its locks.
"""

from __future__ import annotations

import datetime
import logging
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from .._time import ms
from ..audit.entries import AuditEntry, Kind, append
from ..errors import StoreError
from ..project import Project
from ..respondents import IdentityAnswers, Matcher, register
from ..store import Bundle, BundleState, Device, RecordStatus, Tx
from ..store.blobs import BlobRef, Blobs
from ._prepare import BadRecord, Prepared, PreparedRecord, WorkerDied

__all__ = ["IngestReport", "Preparing", "ingest_bundle", "persist_upload", "recover"]

log = logging.getLogger("syncserver")


@dataclass
class IngestReport:
    bundle_id: uuid.UUID
    state: BundleState = BundleState.STORED  # then accepted or quarantined
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
    area: Blobs,
    bundle_id: uuid.UUID,
    uploader: uuid.UUID,
    size: int,
    sha256: bytes,
    *,
    now: datetime.datetime,
) -> int:
    """Step 1: make the bundle durable and log it; return the ``upload`` entry's index.

    The bytes are always the upload's own, checked against its announced size and
    SHA-256 (:meth:`~syncserver.store.blobs.Blobs.finish`); a blob already stored
    counts only when it is this bundle's (:meth:`~syncserver.store.blobs.Blobs.holds`).
    Idempotent: a bundle already persisted
    returns its existing entry index, also when another server persisted it meanwhile
    (the transaction holds the bundle id's lock before it looks: one ``bundles`` row and
    one ``upload`` entry, whichever server completes first).
    """
    existing = project.store.read_sync(lambda tx: tx.bundles.get(bundle_id))
    if existing is not None:
        return _upload_index(existing)
    area.finish(bundle_id, size, sha256)  # done already by a complete that did not finish

    at = ms(now)

    def tx(tx: Tx) -> int:
        tx.bundles.lock(bundle_id)
        row = tx.bundles.get(bundle_id)
        if row is not None:
            return _upload_index(row)
        idx = append(
            tx,
            AuditEntry(
                kind="upload",
                at_ms=at,
                actor=f"device:{uploader}",
                subject=str(bundle_id),
                detail={"sha256": sha256.hex(), "size": size},
            ),
        )
        tx.bundles.add(
            bundle_id,
            sha256=sha256,
            size=size,
            device_id=uploader,
            received_ms=at,
            audit_index=idx,
        )
        tx.uploads.complete(bundle_id, at)
        return idx

    result: int = project.store.write_sync(tx)
    return result


def _upload_index(bundle: Bundle) -> int:
    """The index of a persisted bundle's ``upload`` entry (every bundle has one)."""
    if bundle.audit_index is None:
        raise StoreError(
            f"bundle {bundle.bundle_id} has no upload entry",
            hint="the store is damaged: run `syncserver audit verify`",
        )
    return bundle.audit_index


def ingest_bundle(
    project: Project,
    area: Blobs,
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

    def read(tx: Tx) -> tuple[Bundle | None, Device | None]:
        bundle = tx.bundles.get(bundle_id)
        return bundle, None if bundle is None else tx.devices.get(bundle.device_id)

    bundle, device = project.store.read_sync(read)
    if bundle is None:
        raise ValueError(f"bundle {bundle_id} was never persisted")
    if bundle.state is not BundleState.STORED:
        report.state = bundle.state
        return report
    # The device is checked before anything is opened: a revoked or expired device's
    # bundle is quarantined from its certificate alone, never decrypted or decoded.
    received_ms = bundle.received_ms
    if device is None:
        refusal: str | None = "the uploading device is not enrolled"
    elif device.revoked_ms is not None and device.revoked_ms <= received_ms:
        refusal = "the sealing device is revoked"
    elif device.not_after_ms <= received_ms:
        refusal = "the sealing device's certificate had expired"
    else:
        refusal = None
    if refusal is not None:
        return _quarantine_bundle(project, bundle_id, refusal, now, report)
    device_id = bundle.device_id
    try:
        prepared = preparer.prepare(
            area.blob(bundle.sha256), bundle_id=bundle_id, device_id=device_id
        )
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
    """Step 4, in one transaction; ``report.state`` says how the bundle ended.

    Several servers may ingest one bundle at once (a device that retried its
    ``complete`` on another server, a server recovering at start-up what another one
    is ingesting): the transaction first moves the bundle from ``stored`` to
    ``accepted``, which only one of them can do (the others wait for it, then find it
    settled, and change nothing). Every decision is made from what the transaction
    reads under its locks, taken in this order: the bundle's row, the device's row (its
    bundle chain, read and advanced), the records of the bundle (their versions), and
    last the audit log's head (taken by the first entry, held until commit)."""
    valid, bad = prepared.valid, prepared.bad
    at = ms(now)

    def tx(tx: Tx) -> None:
        report.quarantined = report.accepted = report.duplicates = 0
        report.superseded = report.conflicts = 0
        report.reasons.clear()
        report.pending.clear()  # a retried transaction starts again
        if not tx.bundles.settle(bundle_id, BundleState.ACCEPTED):
            report.state = _state(tx, bundle_id)  # another server ingested it
            return
        report.state = BundleState.ACCEPTED
        dev = tx.devices.get_locked(device_id)
        if dev is None:  # devices are never deleted: read a moment ago
            raise LookupError(f"device {device_id} is no longer in the store")
        last_seq, last_bundle = dev.last_seq, dev.last_bundle
        tx.records.lock(v.record_id for v in valid)
        for b in bad:
            _quarantine_record(tx, bundle_id, b, at)
            report.quarantined += 1
            report.reasons.append(b.reason)
        for v in valid:
            kind, status = _merge(tx, v, bundle_id, device_id, at)
            if kind == "duplicate":
                report.duplicates += 1
                continue
            current = status is RecordStatus.CURRENT
            if current and register(tx, v.record_id, v.tokens, v.postings, now_ms=at):
                report.pending.append((v.record_id, v.identity))
            if kind == "supersede":
                report.superseded += 1
            elif kind == "conflict":
                report.conflicts += 1
            report.accepted += 1
            append(
                tx,
                AuditEntry(
                    kind=kind,
                    at_ms=at,
                    actor="system",
                    subject=str(v.record_id),
                    detail={"version": v.version, "bundle": str(bundle_id)},
                ),
            )
        gap = prepared.device_seq != last_seq + 1 or (
            last_bundle is not None and prepared.prev_bundle_sha256 != last_bundle
        )
        if prepared.device_seq > last_seq:
            tx.devices.advance_chain(device_id, prepared.device_seq, prepared.sha256)
        append(
            tx,
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


def _state(tx: Tx, bundle_id: uuid.UUID) -> BundleState:
    """The state of a bundle another transaction settled (bundles are never deleted)."""
    bundle = tx.bundles.get(bundle_id)
    if bundle is None:
        raise StoreError(f"bundle {bundle_id} is no longer in the store")
    return bundle.state


def _quarantine_record(tx: Tx, bundle_id: uuid.UUID, b: BadRecord, at: int) -> None:
    tx.quarantine.add(
        bundle_id, b.reason, at, record_id=b.record_id, version=b.version, problems=b.problems
    )
    append(
        tx,
        AuditEntry(
            kind="quarantine",
            at_ms=at,
            actor="system",
            subject=str(b.record_id),
            detail={"version": b.version, "bundle": str(bundle_id)},
        ),
    )


def _merge(
    tx: Tx,
    v: PreparedRecord,
    bundle_id: uuid.UUID,
    device_id: uuid.UUID,
    at: int,
) -> tuple[Kind | Literal["duplicate"], RecordStatus | None]:
    """Merge one valid record; (what happened, the status it is stored with: None for
    a duplicate, which is not stored again)."""
    rows = tx.records.versions(v.record_id)
    if any(r.version == v.version and r.sha256 == v.sha256 for r in rows):
        return "duplicate", None
    status = RecordStatus.CURRENT
    kind: Kind = "accept"
    if any(r.version == v.version for r in rows):
        # Same version, other content: two devices edited the same base concurrently.
        tx.records.mark_conflict(v.record_id, v.version)
        status, kind = RecordStatus.CONFLICT, "conflict"
    elif rows and v.version > max(r.version for r in rows):
        tx.records.supersede_current(v.record_id)
        kind = "supersede"
    elif rows:
        status = RecordStatus.SUPERSEDED  # an older version arriving late: kept as history
    tx.records.add(
        v.record_id,
        v.version,
        form_id=v.form_id,
        form_version=v.form_version,
        sha256=v.sha256,
        bundle_id=bundle_id,
        device_id=device_id,
        answers=v.plain,
        sealed=v.sealed,
        status=status,
        received_ms=at,
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
    """Quarantine a stored bundle, unless another server settled it meanwhile (then
    nothing changes, and the report says the state it found)."""
    at = ms(now)

    def tx(tx: Tx) -> BundleState:
        if not tx.bundles.settle(bundle_id, BundleState.QUARANTINED):
            return _state(tx, bundle_id)
        tx.quarantine.add(bundle_id, reason, at)
        append(tx, AuditEntry(kind="quarantine", at_ms=at, actor="system", subject=str(bundle_id)))
        return BundleState.QUARANTINED

    report.state = project.store.write_sync(tx)
    if report.state is BundleState.QUARANTINED:
        report.reasons.append(reason)
    return report


def recover(
    project: Project,
    area: Blobs,
    preparer: Preparing,
    *,
    now: datetime.datetime,
    matcher: Matcher | None = None,
) -> list[IngestReport]:
    """Re-run ingest for every bundle persisted but not yet processed (after a crash).
    A bundle that fails ends in quarantine (:func:`ingest_bundle`); one the store cannot
    take now stays ``stored`` for the next start, and the others go on."""
    stored = project.store.read_sync(lambda tx: tx.bundles.in_state(BundleState.STORED))
    matcher = matcher or Matcher.for_project(project)
    reports = []
    for bundle_id in stored:
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
        blob: BlobRef,
        *,
        bundle_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
    ) -> Prepared: ...
