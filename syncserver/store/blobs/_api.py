"""The blob store's interface: uploads in progress and the bundles received
(docs/spec/api-v1.md §4).

Two kinds of bytes are kept. An upload's *part*: the bytes received so far for one bundle
id, appended at the offset the device was told. A *blob*: a received bundle, named by its
SHA-256, written once and never changed. :func:`~._open.open_blobs` chooses where, from
``[store] url``: a directory beside a SQLite store (:class:`~._local.LocalBlobs`), or the
PostgreSQL database itself, in chunked rows (:mod:`._postgres`), so that servers on one
database share nothing else.

What every implementation guarantees:

- An append is durable before it returns, and one that fails leaves the part as it was:
  the offset is always the number of bytes acknowledged.
- Appends to one upload and its completion run one at a time (in every thread, process
  and server): of two appends at one offset one is written, the other gets 409 with the
  offset.
- :meth:`Blobs.finish` checks the upload's own bytes (size, SHA-256) before they become
  the blob. A blob counts for an upload only when its header names that bundle id
  (:meth:`Blobs.holds`): an upload is never completed with another bundle's bytes, and
  learns nothing of what else is stored.
- :meth:`Blobs.open` streams a stored bundle in bounded memory.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["BlobRef", "BlobUnreadable", "Blobs"]

#: A stored bundle as :meth:`Blobs.blob` names it for :meth:`Blobs.open`: picklable (it
#: travels to the ingest workers). The local store names a blob by its file, PostgreSQL
#: by its SHA-256.
BlobRef = Path | bytes


class BlobUnreadable(Exception):
    """A stored bundle that cannot be read: missing, a link, not a regular file, damaged.
    ``reason`` is for a person (the quarantine, the server's log): it names the blob, never
    a path outside the store or a byte of the bundle. Not a store failure: the bundle is
    quarantined, where a :class:`~syncserver.errors.StoreError` would leave it to retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Blobs(Protocol):
    """Uploads in progress and received bundles. Thread-safe."""

    def offset(self, bundle_id: uuid.UUID) -> int:
        """The bytes received for ``bundle_id`` (its part; 0 when none)."""
        ...

    def append(self, bundle_id: uuid.UUID, offset: int, data: bytes, size: int) -> int:
        """Write ``data`` at ``offset``, which must be the current offset (else
        :class:`~syncserver.errors.UploadConflict`, with the offset), without going past
        ``size`` (else :class:`~syncserver.errors.Unprocessable`); durable when it returns
        the new offset. A full disk is :class:`~syncserver.errors.StorageFull`, and leaves
        the offset as it was."""
        ...

    def touched_ms(self, bundle_id: uuid.UUID) -> int | None:
        """When the last byte of the part arrived (Unix ms); None without a part."""
        ...

    def discard(self, bundle_id: uuid.UUID) -> None:
        """Let go of the part (an upload expired; bytes the blob store holds already)."""
        ...

    def holds(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> bool:
        """Whether a blob of ``sha256`` is this bundle's: of ``size`` bytes, its header
        naming ``bundle_id`` (a :meth:`finish` that ran before, for this upload)."""
        ...

    def held(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> int:
        """The offset of an upload not yet recorded as complete: ``size`` when its own bytes
        are a blob already (:meth:`holds`), else the bytes received (:meth:`offset`)."""
        ...

    def finish(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> None:
        """Make the upload's bytes the blob ``sha256``, after checking their size and
        SHA-256 (:class:`~syncserver.errors.Unprocessable` if either differs, or nothing
        was received; a SHA-256 mismatch discards the part). Done already (:meth:`holds`):
        the part, if any, is let go. Durable when it returns."""
        ...

    def blob(self, sha256: bytes) -> BlobRef:
        """The stored bundle ``sha256``, named for :meth:`open`."""
        ...

    def open(self, blob: BlobRef) -> BinaryIO:
        """The stored bundle, to read from the start, in bounded memory; a bundle that
        cannot be read is :class:`BlobUnreadable`."""
        ...

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...
