"""The running service: what the HTTP handlers call (docs/spec/api-v1.md §4–§5).

:class:`Service` holds the project, the upload area, the ingest workers and the audit
log, and turns a completed upload into a receipt: persist durably, ingest, then sign a
receipt that proves the ``upload`` entry is in the log. Opening and validating bundles
run in worker processes (``_prepare``), other blocking steps in threads; the store
serializes writes in its own writer thread.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Callable

import msgspec

from schemas.wire import Receipt, ReceiptBody, sign_receipt

from ._time import ms
from ._time import now as _utcnow
from .audit.log import AuditLog, store_checkpoint
from .errors import StoreError
from .ingest import IngestReport, ingest_bundle, persist_upload, pool_for_project, recover
from .ingest.uploads import UploadArea
from .project import Project
from .respondents import Matcher, MatchWorker, match_pending
from .store import Tx

__all__ = ["Service"]

log = logging.getLogger("syncserver")


class Service:
    def __init__(
        self, project: Project, *, clock: Callable[[], datetime.datetime] | None = None
    ) -> None:
        self.project = project
        self.area = UploadArea(project.config.root)
        self.preparers = pool_for_project(project)
        self.log = AuditLog(project)
        self.matcher = Matcher.for_project(project)
        self.matching = MatchWorker(self.matcher, clock=clock or _utcnow)
        self._receipt_locks: dict[uuid.UUID, asyncio.Lock] = {}

    def recover(self, now: datetime.datetime) -> list[IngestReport]:
        """At start-up: finish ingesting whatever was persisted before a crash, and
        match the respondents a crash left pending. No stored bundle can stop the start:
        each one that fails ends in quarantine (:func:`~.ingest.ingest_bundle`)."""
        reports = recover(self.project, self.area, self.preparers, now=now, matcher=self.matcher)
        for r in reports:
            log.info("recovered bundle %s: %s", r.bundle_id, r.state)
        try:
            matched = match_pending(self.project, self.matcher, now=now, actor="system")
        except Exception as e:  # the interviews stay pending; the matcher retries them
            log.error("could not match the interviews left pending: %s", type(e).__name__)
        else:
            if matched.interviews:
                log.info("matched %d interviews left pending", matched.interviews)
        self.log.sync()
        return reports

    def expire_open_uploads(self, now: datetime.datetime) -> int:
        """Delete the uploads announced and not completed that nobody touched for
        ``[limits] open_upload_days``: their rows and received bytes. Nothing of them
        was acknowledged; a device that comes back announces the bundle again and starts
        from offset 0. Returns how many went."""
        days = self.project.config.limits.open_upload_days
        cutoff_ms = ms(now) - days * 86_400_000
        rows = self.project.store.read_sync(lambda tx: tx.uploads.open_before(cutoff_ms))
        stale = []
        for bundle_id in rows:
            try:  # the last byte received counts as activity
                touched_ms = self.area.part(bundle_id).stat().st_mtime * 1000
            except FileNotFoundError:
                touched_ms = 0
            if touched_ms < cutoff_ms:
                stale.append(bundle_id)
        if not stale:
            return 0

        def tx(tx: Tx) -> list[uuid.UUID]:
            return [b for b in stale if tx.uploads.forget(b)]

        gone = self.project.store.write_sync(tx)
        for b in gone:
            self.area.discard(b)
        if gone:
            log.info("deleted %d uploads untouched for %d days", len(gone), days)
        return len(gone)

    def close(self) -> None:
        """Stop the ingest workers, and the background matcher after what is waiting
        (call before closing the store)."""
        self.preparers.close()
        self.matching.close()

    async def complete_upload(
        self,
        bundle_id: uuid.UUID,
        uploader: uuid.UUID,
        size: int,
        sha256: bytes,
        *,
        now: datetime.datetime,
    ) -> Receipt:
        """Persist, ingest and answer with a receipt. Idempotent: the same receipt again."""
        lock = self._receipt_locks.setdefault(bundle_id, asyncio.Lock())
        async with lock:
            stored = await self.project.store.read(lambda tx: tx.bundles.get(bundle_id))
            if stored is not None and stored.receipt is not None:
                return msgspec.msgpack.decode(stored.receipt, type=Receipt)
            index = await asyncio.to_thread(
                persist_upload, self.project, self.area, bundle_id, uploader, size, sha256, now=now
            )
            report = await asyncio.to_thread(
                ingest_bundle,
                self.project,
                self.area,
                self.preparers,
                bundle_id,
                now=now,
                matcher=self.matcher,
                match=False,
            )
            self.matching.note_activity()
            self.matching.submit(report.pending)
            report.pending = []
            if report.reasons:
                # Private: the server's log and the quarantine table, never the uploader.
                log.info("bundle %s: %s (%s)", bundle_id, report.state, "; ".join(report.reasons))
            receipt = await asyncio.to_thread(self._receipt, bundle_id, sha256, size, index, now)
        self._receipt_locks.pop(bundle_id, None)
        return receipt

    def _receipt(
        self, bundle_id: uuid.UUID, sha256: bytes, size: int, index: int, now: datetime.datetime
    ) -> Receipt:
        size_, _root, note = self.log.covering(index)
        entry = self.project.store.read_sync(lambda tx: tx.audit.entry(index))
        if entry is None:  # persisted with the bundle, in the same transaction
            raise StoreError(f"audit entry {index} of bundle {bundle_id} is missing")
        body = ReceiptBody(
            bundle_id=bundle_id,
            sha256=sha256,
            size=size,
            received_at=now,
            log_index=index,
            log_entry=entry,
            checkpoint=note,
            inclusion_proof=self.log.inclusion_proof(index, size_),
        )
        receipt = sign_receipt(body, self.project.identity.signing)
        raw = msgspec.msgpack.encode(receipt)

        def tx(tx: Tx) -> None:  # what a receipt proves is kept with it
            store_checkpoint(tx, size_, note)
            tx.bundles.set_receipt(bundle_id, raw)

        self.project.store.write_sync(tx)
        return receipt
