"""Where an opener streams attachment bytes (docs/spec/bundle-v1.md §9.3).

Attachments may be far larger than memory, so :func:`~schemas.bundle.open_bundle` hands
them to a sink piece by piece. Nothing a sink receives is trusted until :meth:`commit`;
on any failure the opener calls :meth:`abort` and the sink must forget everything.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from ._manifest import AttachmentEntry

__all__ = ["AttachmentSink", "DirectorySink", "DiscardSink", "MemorySink"]


class AttachmentSink(Protocol):
    def begin(self, entry: AttachmentEntry) -> None: ...
    def write(self, data: memoryview) -> None: ...
    def end(self, entry: AttachmentEntry) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class DiscardSink:
    """Verifies attachments (the opener hashes them) and keeps nothing."""

    def begin(self, entry: AttachmentEntry) -> None:
        pass

    def write(self, data: memoryview) -> None:
        pass

    def end(self, entry: AttachmentEntry) -> None:
        pass

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class MemorySink:
    """Keeps attachments in memory, keyed by (record id, name). For tests and small data."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self._pending: dict[tuple[str, str], bytes] = {}
        self._cur: bytearray | None = None

    def begin(self, entry: AttachmentEntry) -> None:
        self._cur = bytearray()

    def write(self, data: memoryview) -> None:
        assert self._cur is not None
        self._cur += data

    def end(self, entry: AttachmentEntry) -> None:
        assert self._cur is not None
        self._pending[(str(entry.record_id), entry.name)] = bytes(self._cur)
        self._cur = None

    def commit(self) -> None:
        self.files.update(self._pending)
        self._pending.clear()

    def abort(self) -> None:
        self._pending.clear()
        self._cur = None


class DirectorySink:
    """Writes each attachment to ``directory/<sha256 hex>`` (content-addressed, fsynced).

    Names inside a bundle come from the sender and are never used as file names.
    Until :meth:`commit`, data sits in temporary files that :meth:`abort` removes.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stored: list[tuple[AttachmentEntry, Path]] = []
        self._pending: list[tuple[AttachmentEntry, Path]] = []
        self._fh: BinaryIO | None = None
        self._tmp: Path | None = None

    def begin(self, entry: AttachmentEntry) -> None:
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
        self._fh = os.fdopen(fd, "wb")
        self._tmp = Path(name)

    def write(self, data: memoryview) -> None:
        assert self._fh is not None
        self._fh.write(data)

    def end(self, entry: AttachmentEntry) -> None:
        assert self._fh is not None and self._tmp is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._pending.append((entry, self._tmp))
        self._fh, self._tmp = None, None

    def commit(self) -> None:
        for entry, tmp in self._pending:
            final = self.directory / entry.sha256.hex()
            os.replace(tmp, final)
            self.stored.append((entry, final))
        self._pending.clear()
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for tmp in [*(t for _, t in self._pending), *([self._tmp] if self._tmp else [])]:
            tmp.unlink(missing_ok=True)
        self._pending.clear()
        self._tmp = None
