"""Resumable uploads on disk, and the content-addressed blob store
(docs/spec/api-v1.md §4).

A bundle being uploaded lives in ``DIR/uploads/<bundle id>.part``. Its offset is the
file's size, and every append is fsynced before it is acknowledged, so the offset a
client is told survives a crash. On completion the part file is hashed, checked against
the announced size and SHA-256, fsynced and renamed to ``DIR/blobs/<sha256 hex>``;
the directory is fsynced too. Only then may a receipt be sent: acked means on disk.

A full disk (ENOSPC, EDQUOT) raises :class:`~.errors.StorageFull` and leaves nothing
behind: an append that fails part-way is cut back to the offset it started from, so the
offset stays the number of bytes acknowledged, and the client resumes from there.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from ._fs import disk_full, fsync_dir
from .errors import StorageFull, Unprocessable, UploadConflict

__all__ = ["UploadArea"]

_READ = 1024 * 1024


class UploadArea:
    def __init__(self, root: Path) -> None:
        self.parts = root / "uploads"
        self.blobs = root / "blobs"
        self.parts.mkdir(mode=0o700, exist_ok=True)
        self.blobs.mkdir(mode=0o700, exist_ok=True)

    def part(self, bundle_id: uuid.UUID) -> Path:
        return self.parts / f"{bundle_id}.part"

    def blob(self, sha256: bytes) -> Path:
        return self.blobs / sha256.hex()

    def offset(self, bundle_id: uuid.UUID) -> int:
        try:
            return self.part(bundle_id).stat().st_size
        except FileNotFoundError:
            return 0

    def held(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> int:
        """The offset of an upload not yet recorded as complete: all of it when its
        bytes already sit in the blob store (moved there by a ``complete`` that did not
        finish: a crash or a full disk before the store recorded it)."""
        return size if self.blob(sha256).exists() else self.offset(bundle_id)

    def append(self, bundle_id: uuid.UUID, offset: int, data: bytes, size: int) -> int:
        """Write ``data`` at ``offset`` (which must be the current offset); fsync."""
        try:
            fd = os.open(self.part(bundle_id), os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as e:
            if disk_full(e):
                raise StorageFull() from None
            raise
        try:
            current = os.fstat(fd).st_size
            if offset != current:
                raise UploadConflict(
                    f"upload is at offset {current}, not {offset}",
                    hint="ask for the current offset (HEAD) and resume from there",
                    headers={"Upload-Offset": str(current)},
                )
            if current + len(data) > size:
                raise Unprocessable(
                    "more bytes than the announced size",
                    hint="announce the bundle's exact size when creating the upload",
                )
            try:
                os.lseek(fd, current, os.SEEK_SET)
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            except OSError as e:
                _cut_back(fd, current)  # the offset stays what was acknowledged
                if disk_full(e):
                    raise StorageFull() from None
                raise
            return current + len(data)
        finally:
            os.close(fd)

    def finish(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> Path:
        """Check the part against ``size`` and ``sha256``; move it to the blob store."""
        part = self.part(bundle_id)
        h, n = hashlib.sha256(), 0
        if not part.exists():  # nothing sent yet, or discarded after a SHA-256 mismatch
            raise Unprocessable(f"received 0 of {size} bytes", hint="upload from offset 0")
        with part.open("rb") as f:
            while chunk := f.read(_READ):
                h.update(chunk)
                n += len(chunk)
        if n != size:
            raise Unprocessable(
                f"received {n} of {size} bytes", hint="resume the upload from its offset"
            )
        if h.digest() != sha256:
            part.unlink()
            raise Unprocessable(
                "the received bytes do not match the announced SHA-256",
                hint="the upload was discarded; upload the bundle again from offset 0",
            )
        blob = self.blob(sha256)
        try:
            os.replace(part, blob)
            fsync_dir(self.blobs)
        except OSError as e:
            if disk_full(e):
                raise StorageFull() from None
            raise
        return blob

    def discard(self, bundle_id: uuid.UUID) -> None:
        self.part(bundle_id).unlink(missing_ok=True)


def _cut_back(fd: int, size: int) -> None:
    """Undo a failed append: truncate to ``size`` (which frees, never needs, space)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass  # the offset is the file's size, whatever it is; the client asks for it
