"""The running service: what the HTTP handlers call (docs/spec/api-v1.md §4–§5).

:class:`Service` holds the project, its blob store (uploads in progress and received
bundles: ``area``), the ingest workers and the audit log, and turns a completed upload
into a receipt: persist durably, ingest, then sign a receipt that proves the ``upload``
entry is in the log. Opening and validating bundles
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

from schemas.wire import Receipt, ReceiptBody, UploadCreate, UploadState, sign_receipt

from ._time import ms
from ._time import now as _utcnow
from .audit.log import AuditLog, store_checkpoint
from .errors import NotFound, RateLimited, StoreError, TooLarge, UploadConflict
from .ingest import IngestReport, ingest_bundle, persist_upload, pool_for_project, recover
from .project import Project
from .respondents import Matcher, MatchWorker, match_pending
from .store import Tx, Upload

__all__ = ["Service"]

log = logging.getLogger("syncserver")


class Service:
    def __init__(
        self, project: Project, *, clock: Callable[[], datetime.datetime] | None = None
    ) -> None:
        self.project = project
        self.area = project.blobs
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
            touched_ms = self.area.touched_ms(bundle_id)  # the last byte received counts
            if touched_ms is None or touched_ms < cutoff_ms:
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

    # -- uploads (docs/spec/api-v1.md §4) ------------------------------------------------

    async def announce(
        self, device_id: uuid.UUID, up: UploadCreate, *, now: datetime.datetime
    ) -> tuple[UploadState, bool]:
        """Announce an upload (or find the one announced before): its state, and whether
        it is new. The same bundle id with other bytes, or another device's, is 409.

        The cap on a device's open uploads holds across servers: its announcements are
        looked up, counted and made under the device's upload lock, one at a time. An id
        another device's announcement took meanwhile (on another server) is found, not
        announced twice."""
        limits = self.project.config.limits
        if up.size > limits.max_bundle_bytes:
            raise TooLarge(
                f"bundle of {up.size} bytes is over the limit of {limits.max_bundle_bytes}",
                hint="seal fewer records or attachments per bundle (collector seal --max-bytes)",
            )
        at = ms(now)

        def tx(tx: Tx) -> Upload | None:
            tx.uploads.lock_device(device_id)
            row = tx.uploads.get(up.bundle_id)
            if row is not None:
                return row
            n = tx.uploads.open_count(device_id)
            if n >= limits.open_uploads_per_device:
                raise RateLimited(
                    f"this device has {n} uploads announced and not completed",
                    hint="complete (or wait for) the uploads already started, then try again",
                    retry_after=60,
                )
            if tx.uploads.announce(up.bundle_id, device_id, up.size, up.sha256, at):
                return None
            row = tx.uploads.get(up.bundle_id)  # another device's, committed meanwhile
            if row is None:  # and expired since (days old): the device asks again
                raise StoreError(
                    "the upload changed while it was announced",
                    hint="announce it again",
                    retry_after=1,
                )
            return row

        row = await self.project.store.write(tx)
        if row is None:
            return UploadState(bundle_id=up.bundle_id, size=up.size, offset=0), True
        if row.sha256 != up.sha256 or row.size != up.size or row.device_id != device_id:
            raise UploadConflict(
                "this bundle id is already taken by other bytes",
                hint="a bundle id is used once; seal the records again into a new bundle",
            )
        return await self._state(row), False

    async def upload(self, device_id: uuid.UUID, bundle_id: uuid.UUID) -> Upload:
        """The upload ``bundle_id`` of ``device_id`` (another device's is not found)."""
        row = await self.project.store.read(lambda tx: tx.uploads.get(bundle_id))
        if row is None or row.device_id != device_id:
            raise NotFound("no such upload", hint="create it with POST /v1/uploads")
        return row

    async def upload_state(self, device_id: uuid.UUID, bundle_id: uuid.UUID) -> UploadState:
        """Where the upload stands: the offset to resume from, and whether it is complete."""
        return await self._state(await self.upload(device_id, bundle_id))

    async def _state(self, row: Upload) -> UploadState:
        done = row.completed_ms is not None
        if done:
            offset = row.size
        else:  # the blob store may be a database: not in the event loop
            offset = await asyncio.to_thread(self.area.held, row.bundle_id, row.size, row.sha256)
        return UploadState(bundle_id=row.bundle_id, size=row.size, offset=offset, complete=done)

    async def append(self, row: Upload, offset: int, data: bytes) -> int:
        """Append ``data`` at ``offset`` to the upload ``row`` (:meth:`upload`); return
        the new offset."""
        if row.completed_ms is not None:
            raise UploadConflict(
                "this upload is already complete", headers={"Upload-Offset": str(row.size)}
            )
        return await asyncio.to_thread(self.area.append, row.bundle_id, offset, data, row.size)

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

        def tx(tx: Tx) -> bytes:  # what a receipt proves is kept with it
            kept = tx.bundles.keep_receipt(bundle_id, raw)
            if kept == raw:
                store_checkpoint(tx, size_, note)
            return kept

        # One receipt per bundle: another server that signed one first has it kept.
        kept = self.project.store.write_sync(tx)
        return receipt if kept == raw else msgspec.msgpack.decode(kept, type=Receipt)
