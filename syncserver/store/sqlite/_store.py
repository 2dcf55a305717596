"""The SQLite store: WAL, one writer thread, readers in a pool.

Every write runs in one thread and commits with ``synchronous=FULL``: when
:meth:`SqliteStore.write` returns, the change is on disk. Writes that queue up while the
writer is busy are *group-committed*: run one after another in one transaction, each
inside its own savepoint (a failing one rolls back alone and gets its own error), with
one commit and so one fsync for the batch. Nobody is answered before that commit.
Readers use their own connections in a small thread pool, so they never wait for the
writer (WAL). Library code passes plain functions ``fn(conn) -> T``; the store runs them
where they belong. Low-level ``sqlite3`` errors never leave this module unwrapped.

The writer connection carries the audit log's MAC key (``audit_key``, derived from the
project's store key: docs/spec/audit-log-v1.md §14.3), with which ``tx.audit.append``
chains each row's MAC; a store opened without it cannot append to the audit log.
Migration 4, run with the key, records from which index every audit row carries a MAC.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..._fs import LOW_SPACE_BYTES, disk_full, space_left
from ...errors import StorageFull, StoreError
from .._api import Tx
from ._audit import SqliteAudit
from ._conn import Connection, connect
from ._schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SqliteStore"]

#: The schema version that added the audit log's MAC chain.
MAC_CHAIN_SCHEMA = 4

T = TypeVar("T")


class SqliteStore:
    """The central store on SQLite. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, path: Path, readers: int = 4, *, audit_key: bytes | None = None) -> None:
        self.path = path
        self._audit_key = audit_key
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="store-reader")
        self._local = threading.local()
        self._writer: Connection | None = None
        self._readers: list[Connection] = []
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[[Tx], Any], _Waiter]] = []
        self._pending_lock = threading.Lock()
        self.batches = 0  # group commits done (for tests and metrics)

    # -- lifecycle ----------------------------------------------------------------------

    def open(self) -> SqliteStore:
        """Open (creating and migrating if needed). Synchronous: call before serving."""
        try:
            writer = connect(self.path)
            writer.audit_mac_key = self._audit_key
            self._writer = writer
            self._migrate(self._writer)
        except sqlite3.Error as e:
            raise StoreError(
                f"cannot open the store {self.path.name} ({e})",
                hint="check the project directory and its permissions",
            ) from None
        return self

    def close(self) -> None:
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        with self._lock:
            for c in self._readers:
                c.close()
            self._readers.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _migrate(self, conn: Connection) -> None:
        (have,) = conn.execute("PRAGMA user_version").fetchone()
        if have > SCHEMA_VERSION:
            raise StoreError(
                f"the store was written by a newer sealsync (schema {have})",
                hint="upgrade sealsync before opening this project",
            )
        for n in range(have, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _statements(MIGRATIONS[n]):
                    conn.execute(stmt)
                if n + 1 == MAC_CHAIN_SCHEMA and self._audit_key is not None:
                    self._mac_from(conn, self._audit_key)
                conn.execute(f"PRAGMA user_version = {n + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _mac_from(conn: Connection, key: bytes) -> None:
        """Migration 4: every audit row appended from now on carries a MAC; the rows
        already there (a store from before schema 4) do not."""
        SqliteAudit(conn).mark_mac_from(key)

    # -- running work -------------------------------------------------------------------

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a durable write transaction, from any thread but the writer's.

        Like :meth:`write`, it goes through the single writer thread and may share a
        group commit; the caller blocks until the commit is on disk.
        """
        if self._writer is None:
            raise StoreError("the store is closed")
        if threading.current_thread().name.startswith("store-writer"):
            raise RuntimeError("write_sync called from the writer thread (would deadlock)")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._pending_lock:
            self._pending.append((fn, fut))
        self._writer_pool.submit(self._drain)
        return fut.result()

    def read_sync(self, fn: Callable[[Tx], T]) -> T:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreError(f"store read failed ({e.__class__.__name__})") from None

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction, possibly group-committed with others."""
        if self._writer is None:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._pending_lock:
            self._pending.append((fn, fut))
        loop.run_in_executor(self._writer_pool, self._drain)
        return await fut

    def _drain(self) -> None:
        """Writer thread: take every queued write and commit them together."""
        with self._pending_lock:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            return  # an earlier drain already took them
        conn = self._writer
        outcomes: list[tuple[_Waiter, Any, BaseException | None]] = []
        with self._lock:
            try:
                if conn is None:
                    raise StoreError("the store is closed")
                conn.execute("BEGIN IMMEDIATE")
                for fn, fut in batch:
                    conn.execute("SAVEPOINT w")
                    try:
                        result = fn(conn)
                    except Exception as e:  # this write only: roll it back, keep the rest
                        if not conn.in_transaction:
                            # SQLite rolled the whole transaction back, as it may on
                            # SQLITE_FULL or an I/O error: every write of the batch is lost.
                            raise _BatchLost(
                                _full(e) or StoreError("store write failed (rolled back)")
                            ) from None
                        conn.execute("ROLLBACK TO w")
                        conn.execute("RELEASE w")
                        outcomes.append((fut, None, _own(e)))
                        continue
                    conn.execute("RELEASE w")
                    outcomes.append((fut, result, None))
                conn.execute("COMMIT")
                self.batches += 1
            except sqlite3.Error as e:
                if conn is not None and conn.in_transaction:
                    conn.execute("ROLLBACK")
                # A failed commit may not say why (an I/O error, say): on a (nearly) full
                # disk it is taken for a full disk, which the client may retry later.
                full = _full(e) or (StorageFull() if _low_space(self.path) else None)
                err = full or StoreError(f"store write failed ({e.__class__.__name__})")
                outcomes = [(fut, None, err) for _, fut in batch]
            except StoreError as e:
                outcomes = [(fut, None, e) for _, fut in batch]
            except _BatchLost as e:
                outcomes = [(fut, None, e.error) for _, fut in batch]
        for fut, result, error in outcomes:
            if isinstance(fut, asyncio.Future):
                fut.get_loop().call_soon_threadsafe(_settle, fut, result, error)
            else:
                _settle(fut, result, error)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, self.read_sync, fn)


MAX_BATCH = 256


class _BatchLost(Exception):
    def __init__(self, error: StoreError) -> None:
        self.error = error


def _own(e: Exception) -> Exception:
    """What a caller is told of an error raised inside its write: SQLite's own errors (a
    constraint, say) as the store's, never as ``sqlite3`` errors; its own unchanged."""
    if isinstance(e, sqlite3.Error):
        return _full(e) or StoreError(f"store write failed ({e.__class__.__name__})")
    return e


def _full(e: BaseException) -> StorageFull | None:
    """SQLITE_FULL (the disk or the database's quota), or ENOSPC/EDQUOT from a file
    written in the transaction, as the error every caller knows."""
    sqlite_full = (
        isinstance(e, sqlite3.Error) and getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )
    return StorageFull() if sqlite_full or disk_full(e) else None


_Waiter = asyncio.Future[Any] | concurrent.futures.Future[Any]


def _settle(fut: _Waiter, result: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (our scripts hold no ';' in literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _low_space(path: Path) -> bool:
    try:
        return space_left(path.parent) < LOW_SPACE_BYTES
    except OSError:
        return False
