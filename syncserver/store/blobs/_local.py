"""The blob store in a directory, beside a SQLite store (docs/spec/api-v1.md §4, §8).

A bundle being uploaded lives in ``DIR/uploads/<bundle id>.part``. Its offset is the
file's size, and every append is fsynced before it is acknowledged, so the offset a
client is told survives a crash. On completion the part file is hashed, checked against
the announced size and SHA-256, fsynced and renamed to ``DIR/blobs/<sha256 hex>``;
the directory is fsynced too. Only then may a receipt be sent: acked means on disk.
A receipt is only ever for bytes the upload itself delivered and the server checked:
a blob already stored under the announced SHA-256 counts only when its header names
this very bundle (a ``complete`` that moved it and did not finish).

Nothing here follows a link: part files and blobs are opened with ``O_NOFOLLOW`` and
refused unless they are regular files. Appends to one upload and its completion hold
the part file's lock (``flock``), so that they run one at a time, in this process and any
other on this machine.

A full disk (ENOSPC, EDQUOT) raises :class:`~syncserver.errors.StorageFull` and leaves
nothing behind: an append that fails part-way is cut back to the offset it started from,
so the offset stays the number of bytes acknowledged, and the client resumes from there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from schemas.bundle import read_header
from schemas.errors import BundleInvalid

from ..._fs import disk_full, fsync_dir
from ...errors import StorageFull, StoreError, Unprocessable, UploadConflict
from ._api import BlobRef, BlobUnreadable

if TYPE_CHECKING:
    from ._api import Blobs

__all__ = ["LocalBlobs"]

_READ = 1024 * 1024
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class LocalBlobs:
    """``root/uploads`` and ``root/blobs``, made (mode 0700) unless ``readonly``; refused
    when either is a link."""

    def __init__(self, root: Path, *, readonly: bool = False) -> None:
        self.parts = root / "uploads"
        self.blobs = root / "blobs"
        for d in (self.parts, self.blobs):
            if not readonly:
                d.mkdir(mode=0o700, exist_ok=True)
            try:
                mode = os.lstat(d).st_mode
            except FileNotFoundError:
                continue  # read-only, and nothing stored yet
            if not stat.S_ISDIR(mode):  # a link to a directory elsewhere
                raise _not_regular(d.name + "/")

    def __repr__(self) -> str:
        return "LocalBlobs(…)"

    def close(self) -> None:
        pass  # nothing held between calls

    def part(self, bundle_id: uuid.UUID) -> Path:
        return self.parts / f"{bundle_id}.part"

    def blob(self, sha256: bytes) -> Path:
        return self.blobs / sha256.hex()

    def offset(self, bundle_id: uuid.UUID) -> int:
        st = self._part_stat(bundle_id)
        return 0 if st is None else st.st_size

    def touched_ms(self, bundle_id: uuid.UUID) -> int | None:
        st = self._part_stat(bundle_id)
        return None if st is None else st.st_mtime_ns // 1_000_000

    def _part_stat(self, bundle_id: uuid.UUID) -> os.stat_result | None:
        try:
            st = os.lstat(self.part(bundle_id))
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(self.part(bundle_id).name)
        return st

    def held(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> int:
        """The offset of an upload not yet recorded as complete: all of it when *its own*
        bytes already sit in the blob store (moved there by a ``complete`` that did not
        finish: a crash or a full disk before the store recorded it), else the bytes
        received. The bytes of another bundle with that SHA-256 never count: an upload
        delivers its own bytes, and learns nothing of what else the server holds."""
        return size if self.holds(bundle_id, size, sha256) else self.offset(bundle_id)

    def holds(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> bool:
        """Whether the blob store holds this bundle's bytes: a blob of that SHA-256, of
        the announced size, whose header names this bundle id (api-v1.md §4)."""
        try:
            fd = os.open(self.blob(sha256), os.O_RDONLY | _NOFOLLOW)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size:
                return False
            with os.fdopen(os.dup(fd), "rb") as f:
                return read_header(f).bundle_id == bundle_id
        except BundleInvalid:
            return False
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked_part(self, bundle_id: uuid.UUID, flags: int) -> Iterator[int]:
        """The part file, opened without following a link, refused unless a regular
        file, and locked: appends and completion of one upload run one at a time, in
        this process and any other on this machine."""
        path = self.part(bundle_id)
        try:
            fd = os.open(path, flags | _NOFOLLOW, 0o600)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise _not_regular(path.name) from None
            if disk_full(e):
                raise StorageFull() from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _not_regular(path.name)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def append(self, bundle_id: uuid.UUID, offset: int, data: bytes, size: int) -> int:
        """Write ``data`` at ``offset`` (which must be the current offset); fsync. Of two
        appends at one offset, the first to take the part's lock wins; the other finds
        the offset moved and gets 409."""
        with self._locked_part(bundle_id, os.O_WRONLY | os.O_CREAT) as fd:
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

    def finish(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> None:
        """Check the part against ``size`` and ``sha256``; move it to the blob store.
        The bytes checked are always this upload's own, even when the blob store holds
        that SHA-256 already (they are then equal, and the part is let go). Done before
        (a ``complete`` that moved them and did not finish, or one that did while this
        one waited for the part's lock): the part, if any, is let go."""
        try:
            with self._locked_part(bundle_id, os.O_RDONLY) as fd:
                self._finish_locked(fd, bundle_id, size, sha256)
        except FileNotFoundError:
            # nothing sent yet, discarded after a SHA-256 mismatch, or moved before
            if not self.holds(bundle_id, size, sha256):
                raise Unprocessable(
                    f"received 0 of {size} bytes", hint="upload from offset 0"
                ) from None

    def _finish_locked(self, fd: int, bundle_id: uuid.UUID, size: int, sha256: bytes) -> None:
        if self.holds(bundle_id, size, sha256):
            self.discard(bundle_id)
            return
        h, n = hashlib.sha256(), 0
        while chunk := os.read(fd, _READ):
            h.update(chunk)
            n += len(chunk)
        if n != size:
            raise Unprocessable(
                f"received {n} of {size} bytes", hint="resume the upload from its offset"
            )
        part, blob = self.part(bundle_id), self.blob(sha256)
        if h.digest() != sha256:
            part.unlink()
            raise Unprocessable(
                "the received bytes do not match the announced SHA-256",
                hint="the upload was discarded; upload the bundle again from offset 0",
            )
        try:
            if os.path.lexists(blob):
                part.unlink()  # the same bytes, checked: the stored copy stays
            else:
                os.replace(part, blob)
            fsync_dir(self.blobs)
        except OSError as e:
            if disk_full(e):
                raise StorageFull() from None
            raise

    def discard(self, bundle_id: uuid.UUID) -> None:
        self.part(bundle_id).unlink(missing_ok=True)

    def open(self, blob: BlobRef) -> BinaryIO:
        """The stored bundle, read-only; never through a link, only a regular file."""
        path = blob if isinstance(blob, Path) else self.blob(blob)
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except FileNotFoundError:
            raise BlobUnreadable(f"the stored bundle is missing ({path.name} in blobs/)") from None
        except OSError as e:
            why = "it is a link" if e.errno == errno.ELOOP else e.strerror
            raise BlobUnreadable(f"the stored bundle cannot be read ({why})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BlobUnreadable("the stored bundle is not a regular file")
        return os.fdopen(fd, "rb")


def _not_regular(name: str) -> StoreError:
    return StoreError(
        f"the upload area holds {name}, which is not a regular file (a link?)",
        hint="the server never makes links there: check the project directory for"
        " tampering, then remove it",
    )


def _cut_back(fd: int, size: int) -> None:
    """Undo a failed append: truncate to ``size`` (which frees, never needs, space)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass  # the offset is the file's size, whatever it is; the client asks for it


if TYPE_CHECKING:  # mypy checks that the class implements the interface

    def _implements(root: Path) -> Blobs:
        return LocalBlobs(root)
