"""Attachments (recordings, scans) stay inside their sealed bundles on the server.

Ingest verifies every attachment's hash while it opens a bundle and keeps nothing: the
bundle itself, encrypted to the project key, is the only copy, in the project's blob
store (``DIR/blobs/``, or the PostgreSQL database). A data
manager who needs one takes it out with :func:`extract_attachment` (``syncserver
attachments get``), which needs the project secret, writes a new private file and
appends a ``key_use`` audit entry, as showing sensitive answers does.

An earlier version wrote attachments in clear to ``DIR/attachments/``;
:func:`leftover_plaintext` finds such files so that the server can warn about them.
"""

from __future__ import annotations

import datetime
import os
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.bundle import AttachmentEntry, open_bundle
from schemas.errors import BundleInvalid

from .._time import now as _now
from ..audit.entries import log_key_use
from ..errors import StoreError, SyncServerError
from ..project import Project
from ..store import Device, RecordSource, Tx
from ..store.blobs import BlobUnreadable

__all__ = ["AttachmentNotFound", "extract_attachment", "leftover_plaintext"]


class AttachmentNotFound(SyncServerError):
    pass


class _OneSink:
    """Streams one attachment to a temporary file next to ``out``; renamed at commit, once
    the opener has verified its hash and the whole bundle."""

    def __init__(self, record_id: uuid.UUID, name: str, out: Path) -> None:
        self.record_id, self.name, self.out = record_id, name, out
        self.size: int | None = None
        self._tmp = out.with_name(f".{out.name}.partial")
        self._fd: int | None = None

    def begin(self, entry: AttachmentEntry) -> None:
        if entry.record_id == self.record_id and entry.name == self.name:
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def write(self, data: memoryview) -> None:
        if self._fd is not None:
            view = data
            while view:
                view = view[os.write(self._fd, view) :]

    def end(self, entry: AttachmentEntry) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self.size = entry.size

    def commit(self) -> None:
        if self.size is not None:
            os.link(self._tmp, self.out)  # fails rather than overwrite a file that appeared
            self._tmp.unlink()

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)
        self.size = None


def extract_attachment(
    project: Project,
    record_id: uuid.UUID,
    name: str,
    out: Path,
    *,
    actor: str,
    now: datetime.datetime | None = None,
) -> int:
    """Write attachment ``name`` of the current version of ``record_id`` to the new file
    ``out`` (mode 0600); return its size. The bundle is opened and verified again."""
    if out.exists():
        raise SyncServerError(f"{out} exists", hint="name a new file; nothing is overwritten")

    def read(tx: Tx) -> tuple[RecordSource, Device | None] | None:
        source = tx.records.source(record_id)
        return None if source is None else (source, tx.devices.get(source.device_id))

    found = project.store.read_sync(read)
    if found is None:
        raise AttachmentNotFound(
            f"no record {record_id}", hint="check the record id (`syncserver records show ID`)"
        )
    source, sealer = found
    if sealer is None:  # a record's device is enrolled, and never deleted
        raise StoreError(f"the device of record {record_id} is not in the store")
    device = source.device_id
    device_key = Ed25519PublicKey.from_public_bytes(sealer.public_key)
    blobs = project.blobs
    sink = _OneSink(record_id, name, out)
    try:
        with blobs.open(blobs.blob(source.bundle_sha256)) as f:
            open_bundle(
                f,
                recipient=project.identity.recipient,
                device_keys=lambda d: device_key if d == device else None,
                sink=sink,
            )
    except BlobUnreadable as e:
        raise SyncServerError(
            e.reason, hint="run `syncserver audit verify`; restore the blob store from a backup"
        ) from None
    except BundleInvalid:
        raise SyncServerError(
            "the stored bundle no longer opens",
            hint="run `syncserver audit verify`; the bundle may have been damaged on disk",
        ) from None
    size = sink.size
    if size is None:
        raise AttachmentNotFound(
            f"record {record_id} has no attachment of that name",
            hint="the names are in the record's `attachments` list",
        )
    log_key_use(
        project.store,
        [str(record_id)],
        purpose="extract an attachment",
        actor=actor,
        now=now or _now(),
        bytes=size,
    )
    return size


def leftover_plaintext(project: Project) -> int:
    """The number of clear-text attachment files an earlier version left in
    ``DIR/attachments/``."""
    d = project.config.root / "attachments"
    try:
        return sum(1 for p in d.iterdir() if p.is_file())
    except FileNotFoundError:
        return 0
