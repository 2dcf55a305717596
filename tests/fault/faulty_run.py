"""Run ``syncserver`` with faults a test switches on and off while it runs (tests only).

    python tests/fault/faulty_run.py run --dir DIR --key-file KEY --port PORT

The faults are read, at each step they affect, from files in ``$SEALSYNC_FAULT_DIR``:

``disk-budget``   the number of bytes the upload area may still write; the write that
                  crosses it is short, the next raises ENOSPC (as a filling disk does).
``sqlite-full``   ``statement`` (every write statement; ``statement@TABLE``: those
                  naming TABLE) or ``commit`` (every COMMIT, after SQLite's own
                  rollback) fails with SQLITE_FULL, "database or disk is full".
``crash-ingest``  N: in its N-th ingest (the bundle durable and logged, not yet merged)
                  the server SIGKILLs itself.

While the disk is "full" (budget 0, or an SQLite fault active), ``os.statvfs`` reports
no free space, as it would on a real full disk. Nothing else of the server is changed.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

from syncserver.store.sqlite._conn import Connection

CONTROL = Path(os.environ["SEALSYNC_FAULT_DIR"])
#: Held around every read-modify-write of a control file (the server's threads race).
LOCK = threading.RLock()


def _read(name: str) -> str | None:
    try:
        return (CONTROL / name).read_text().strip()
    except FileNotFoundError:
        return None


def _write(name: str, value: str) -> None:
    """Replace a control file atomically (the test process reads and writes them too)."""
    tmp = CONTROL / f".{name}.{threading.get_ident()}"
    tmp.write_text(value)
    os.replace(tmp, CONTROL / name)


def _budget() -> int | None:
    text = _read("disk-budget")
    return None if text is None else int(text)


def _sqlite_mode() -> str | None:
    return _read("sqlite-full")


def _disk_full() -> bool:
    return _budget() == 0 or _sqlite_mode() is not None


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _sqlite_full() -> sqlite3.OperationalError:
    e = sqlite3.OperationalError("database or disk is full")
    e.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    e.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    return e


class _FillingOs:
    """``os`` for the local blob store (:mod:`syncserver.store.blobs._local`: the upload
    area), whose writes spend :func:`_budget`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        with LOCK:
            budget = _budget()
            if budget is None:
                return os.write(fd, data)
            if budget <= 0:
                raise _enospc()
            n = os.write(fd, bytes(data[:budget]))
            _write("disk-budget", str(budget - n))
            return n


class _FillingConnection(Connection):
    """The store's writer connection (and so its repositories), failing as SQLite does
    on a full disk."""

    _changes = 0  # total_changes when the transaction began

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        mode = _sqlite_mode()
        if mode is not None and mode.startswith("statement"):
            _, _, table = mode.partition("@")
            word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
            if word in ("INSERT", "UPDATE", "DELETE", "REPLACE") and table in sql:
                raise _sqlite_full()
        if sql.strip().upper().startswith("BEGIN"):
            self._changes = self.total_changes
        wrote = self.total_changes != self._changes  # a commit without writes
        if mode == "commit" and sql.strip().upper() == "COMMIT" and wrote:  # needs no space
            super().execute("ROLLBACK")  # SQLite rolls back a commit it cannot write
            raise _sqlite_full()
        return super().execute(sql, *args)


def _install() -> None:
    import syncserver.service as service
    import syncserver.store.blobs._local as uploads
    import syncserver.store.sqlite._store as store

    uploads.os = _FillingOs()  # type: ignore[assignment]

    real_connect = store.connect

    def connect(path: Path, *, readonly: bool = False, **_: Any) -> Any:
        if readonly:
            return real_connect(path, readonly=True)
        return real_connect(path, factory=_FillingConnection)

    store.connect = connect

    real_statvfs = os.statvfs

    def statvfs(path: Any) -> os.statvfs_result:
        st = real_statvfs(path)
        if not _disk_full():
            return st
        return os.statvfs_result(
            (st.f_bsize, st.f_frsize, st.f_blocks, 0, 0, st.f_files, st.f_ffree, 0, st.f_flag,
             st.f_namemax)
        )  # fmt: skip

    os.statvfs = statvfs

    real_ingest = service.ingest_bundle

    def ingest_bundle(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            left = _read("crash-ingest")
            if left is not None:
                n = int(left) - 1
                _write("crash-ingest", str(n))
                if n == 0:
                    os.kill(os.getpid(), signal.SIGKILL)
        return real_ingest(*args, **kwargs)

    service.ingest_bundle = ingest_bundle  # type: ignore[assignment]


if __name__ == "__main__":
    _install()
    from syncserver.cli import main

    sys.exit(main(sys.argv[1:]))
