"""The PostgreSQL store: connections from a pool, one transaction per call.

Several ``syncserver run`` processes may share one database, so nothing here relies on
being the only writer: each write is one transaction (``READ COMMITTED``), what must be
serialised takes a row lock or an advisory lock inside the transaction (the audit log's
head: :mod:`._audit`), and a transaction PostgreSQL aborts for a serialisation failure or
a deadlock is run again (the functions passed to :meth:`PostgresStore.write` must have no
effect outside it). A read is one ``REPEATABLE READ READ ONLY`` transaction: one snapshot.

Connection URLs follow libpq (``postgresql://user@host:port/db?options=-csearch_path%3Dx``);
a password is never logged or shown (errors name the host and database only). Low-level
psycopg errors never leave this module unwrapped: a full disk is
:class:`~syncserver.errors.StorageFull`, everything else :class:`~syncserver.errors.StoreError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import StorageFull, StoreError
from .._api import Tx
from ._schema import MIGRATIONS, SCHEMA_VERSION
from ._tx import PgTx

__all__ = ["PostgresStore", "where"]

T = TypeVar("T")

#: Times a write is run again after PostgreSQL aborted it for a serialisation failure or
#: a deadlock (another server's transaction won).
RETRIES = 5
#: Key of the advisory lock that serialises migrations of one database.
_MIGRATE_LOCK = 0x5EA15_0001


def where(url: str) -> str:
    """The host and database a URL names, for messages: never its password."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL URL (which cannot be read)"
    return f"{d.get('dbname', '?')} on {d.get('host', 'localhost')}:{d.get('port', '5432')}"


class PostgresStore:
    """The central store on PostgreSQL. Open with :meth:`open`, close with :meth:`close`.

    ``audit_key`` is the audit log's MAC key (docs/spec/audit-log-v1.md §14.3): a store
    opened without it cannot append to the log. ``readonly``: every transaction is
    read-only (ingest workers, read-only admin commands)."""

    def __init__(
        self,
        url: str,
        *,
        audit_key: bytes | None = None,
        readonly: bool = False,
        max_connections: int = 8,
    ) -> None:
        self.url = url
        self._audit_key = audit_key
        self._readonly = readonly
        self._max = max_connections
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._lock = threading.Lock()
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_connections, thread_name_prefix="store-pg"
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({where(self.url)})"

    # -- lifecycle ----------------------------------------------------------------------

    def open(self) -> PostgresStore:
        """Connect (checking that the server answers) and bring the schema up to date
        (under an advisory lock: servers starting together migrate once)."""
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._max,
            kwargs={"autocommit": True},
            open=False,
            name="sealsync",
        )
        try:
            pool.open(wait=True, timeout=15)
        except (PoolTimeout, psycopg.Error) as e:
            pool.close()
            raise StoreError(
                f"cannot connect to PostgreSQL ({where(self.url)}): {type(e).__name__}",
                hint="check that the server runs and that [store] url names it (user, host,"
                " port, database)",
            ) from None
        self._pool = pool
        if not self._readonly:
            self._migrate()
        else:
            have = self.read_sync(lambda tx: tx.meta.schema_version())
            if have > SCHEMA_VERSION:
                raise _newer(have)
        return self

    def close(self) -> None:
        """Finish what runs and close the pool. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool, self._pool = self._pool, None
        self._threads.shutdown(wait=True)
        if pool is not None:
            pool.close()

    def _migrate(self) -> None:
        def run(conn: psycopg.Connection[Any]) -> None:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK,))
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version bigint NOT NULL)")
                row = conn.execute("SELECT version FROM schema_version").fetchone()
                have = 0 if row is None else int(row[0])
                if have > SCHEMA_VERSION:
                    raise _newer(have)
                for n in range(have, SCHEMA_VERSION):
                    with conn.transaction():
                        conn.execute(MIGRATIONS[n])
                        conn.execute("DELETE FROM schema_version")
                        conn.execute("INSERT INTO schema_version VALUES (%s)", (n + 1,))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK,))

        self._with_connection(run)

    # -- running work -------------------------------------------------------------------

    def _with_connection(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError("the store is closed")
        try:
            with pool.connection(timeout=30) as conn:
                return fn(conn)
        except PoolTimeout:
            raise StoreError(
                f"no connection to PostgreSQL ({where(self.url)}) came free in 30 s",
                hint="the database is overloaded or unreachable: try again later",
                retry_after=30,
            ) from None
        except psycopg.Error as e:
            raise _wrapped(e) from None

    def read_sync(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in one read-only snapshot."""

        def run(conn: psycopg.Connection[Any]) -> T:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return fn(PgTx(conn, None))

        return self._with_connection(run)

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a transaction; return once it is committed (durable)."""
        if self._readonly:
            raise StoreError("this store was opened read-only")

        def run(conn: psycopg.Connection[Any]) -> T:
            for attempt in range(RETRIES + 1):
                try:
                    with conn.transaction():
                        return fn(PgTx(conn, self._audit_key))
                except (pgerrors.SerializationFailure, pgerrors.DeadlockDetected):
                    if attempt == RETRIES:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

        return self._with_connection(run)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.read_sync, fn)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.write_sync, fn)


def _newer(have: int) -> StoreError:
    return StoreError(
        f"the store was written by a newer sealsync (schema {have})",
        hint="upgrade sealsync before opening this project",
    )


def _wrapped(e: psycopg.Error) -> StoreError:
    """A psycopg error as the store's: a full disk is StorageFull; nothing of the
    statement, its parameters or the URL is repeated."""
    if isinstance(e, pgerrors.DiskFull | pgerrors.OutOfMemory):
        return StorageFull()
    return StoreError(f"store write failed ({type(e).__name__})")
