"""Durable file-system steps shared by the project, identity and upload code, and how
to tell that the disk is full."""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["LOW_SPACE_BYTES", "disk_full", "fsync_dir", "space_left"]

#: Below this much free space, a store write that fails is taken for a full disk.
LOW_SPACE_BYTES = 16 * 1024 * 1024

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def fsync_dir(path: Path) -> None:
    """fsync a directory, so that a rename or a new file in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def space_left(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``
    (0 when it has no free inode either)."""
    st = os.statvfs(path)
    return 0 if st.f_favail == 0 else st.f_bavail * st.f_frsize


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the quota) is full: ENOSPC or EDQUOT from a
    file write. (The store recognises its database's own, SQLITE_FULL, and raises
    :class:`~syncserver.errors.StorageFull`.)"""
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS
