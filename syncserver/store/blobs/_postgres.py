"""The blob store in PostgreSQL, for several servers on one database
(docs/spec/api-v1.md §4; the tables are in :mod:`syncserver.store.postgres`'s schema).

An upload's part is rows of ``part_chunks(bundle_id, n, data, written_ms)``: each append
adds chunks of at most :data:`CHUNK` bytes, numbered on from the last, and the offset is
the sum of their lengths. A blob is rows of ``blob_chunks(sha256, n, data)``, copied from
the part by ``finish``. Servers share nothing but the database: a device may resume an
upload on any of them.

- **Durable, all or nothing.** An append is one transaction: committed (with
  ``synchronous_commit = on``) before it returns, rolled back whole if it fails, so the
  offset is always what was acknowledged. ``finish`` is one transaction too: the part
  becomes the blob, or nothing changes (a SHA-256 mismatch commits only the part's
  deletion).
- **One at a time.** Appends to one upload and its ``finish`` first lock the upload's row
  (``SELECT … FROM uploads … FOR UPDATE``) in the transaction that writes: of two appends
  at one offset (on any servers), the second waits for the first to commit, then finds
  the offset moved (409). The row lock also orders them with the store's own writes of
  that row (completion, expiry): an upload forgotten meanwhile is not found (404), and a
  completed one takes no more bytes (409). An upload must have been announced.
- **Bounded memory.** ``finish`` hashes the part one chunk at a time and copies it inside
  the database; :meth:`PgBlobs.open` reads one chunk at a time (blobs never change, so
  each chunk is read in a statement of its own).

Connections come from a small pool of this object's own, opened on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from schemas.bundle import read_header
from schemas.errors import BundleInvalid

from ..._time import ms, now
from ...errors import NotFound, StorageFull, StoreError, Unprocessable, UploadConflict
from ._api import BlobRef, BlobUnreadable

if TYPE_CHECKING:
    import datetime

    from ._api import Blobs

__all__ = ["CHUNK", "PgBlobs"]

T = TypeVar("T")

#: Largest chunk row: an append of more is split (``[limits] max_chunk_bytes`` is 8 MiB).
CHUNK = 1024 * 1024
#: Times a transaction is run again after PostgreSQL aborted it for a deadlock or a
#: serialisation failure.
RETRIES = 5

_Conn = psycopg.Connection[Any]


class PgBlobs:
    """Parts and blobs in the PostgreSQL database ``url`` (its schema made by the store's
    migrations). ``readonly``: ``open`` and the other reads only (ingest workers).
    ``clock`` stamps when an append arrived (for the expiry of open uploads)."""

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        clock: Callable[[], datetime.datetime] = now,
        max_connections: int = 8,
    ) -> None:
        self.url = url
        self._readonly = readonly
        self._clock = clock
        self._max = max_connections
        self._pool: ConnectionPool[_Conn] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PgBlobs({_where(self.url)})"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- connections --------------------------------------------------------------------

    def _open_pool(self) -> ConnectionPool[_Conn]:
        with self._lock:
            if self._closed:
                raise StoreError("the blob store is closed")
            if self._pool is not None:
                return self._pool
            pool: ConnectionPool[_Conn] = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self._max,
                kwargs={"autocommit": True},
                configure=_configure,
                open=False,
                name="sealsync-blobs",
            )
            try:
                pool.open(wait=True, timeout=15)
            except (PoolTimeout, psycopg.Error) as e:
                pool.close()
                raise StoreError(
                    f"cannot connect to PostgreSQL ({_where(self.url)}): {type(e).__name__}",
                    hint="check that the server runs and that [store] url names it",
                ) from None
            self._pool = pool
            return pool

    @contextlib.contextmanager
    def _connection(self) -> Iterator[_Conn]:
        """A connection (autocommit: each statement its own transaction unless in
        ``conn.transaction()``); psycopg's errors leave as the store's."""
        pool = self._pool or self._open_pool()
        try:
            with pool.connection(timeout=30) as conn:
                yield conn
        except PoolTimeout:
            raise StoreError(
                f"no connection to PostgreSQL ({_where(self.url)}) came free in 30 s",
                hint="the database is overloaded or unreachable: try again later",
                retry_after=30,
            ) from None
        except psycopg.Error as e:
            raise _wrapped(e) from None

    def _write(self, fn: Callable[[_Conn], T]) -> T:
        """``fn`` in one transaction, run again if PostgreSQL aborts it for a deadlock or
        a serialisation failure; committed when this returns."""
        if self._readonly:
            raise StoreError("this blob store was opened read-only")
        with self._connection() as conn:
            for attempt in range(RETRIES + 1):
                try:
                    with conn.transaction():
                        return fn(conn)
                except (pgerrors.SerializationFailure, pgerrors.DeadlockDetected):
                    if attempt == RETRIES:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    # -- uploads in progress ------------------------------------------------------------

    def offset(self, bundle_id: uuid.UUID) -> int:
        with self._connection() as c:
            return _part_size(c, bundle_id)[1]

    def touched_ms(self, bundle_id: uuid.UUID) -> int | None:
        with self._connection() as c:
            row = c.execute(
                "SELECT max(written_ms) FROM part_chunks WHERE bundle_id = %s", (bundle_id.bytes,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def append(self, bundle_id: uuid.UUID, offset: int, data: bytes, size: int) -> int:
        """Write ``data`` at ``offset`` in one transaction, under the upload's row lock;
        of two appends at one offset, the first to lock the row wins, the other then
        finds the offset moved (409)."""
        b = bundle_id.bytes

        def run(c: _Conn) -> int:
            if _lock_upload(c, bundle_id):
                raise UploadConflict(
                    "this upload is already complete", headers={"Upload-Offset": str(size)}
                )
            count, current = _part_size(c, bundle_id)
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
            at = ms(self._clock())
            view = memoryview(data)
            rows = [
                (b, count + i, view[start : start + CHUNK], at)
                for i, start in enumerate(range(0, len(view), CHUNK))
            ]
            if rows:
                with c.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO part_chunks (bundle_id, n, data, written_ms)"
                        " VALUES (%s, %s, %s, %s)",
                        rows,
                    )
            return current + len(data)

        return self._write(run)

    def discard(self, bundle_id: uuid.UUID) -> None:
        if self._readonly:
            raise StoreError("this blob store was opened read-only")
        with self._connection() as c:
            c.execute("DELETE FROM part_chunks WHERE bundle_id = %s", (bundle_id.bytes,))

    # -- completion -----------------------------------------------------------------------

    def holds(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> bool:
        """Whether the blob ``sha256`` is this bundle's: ``size`` bytes, its header naming
        ``bundle_id`` (api-v1.md §4)."""
        with self._connection() as c:
            return _holds(c, bundle_id, size, sha256)

    def held(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> int:
        with self._connection() as c:
            if _holds(c, bundle_id, size, sha256):
                return size
            return _part_size(c, bundle_id)[1]

    def finish(self, bundle_id: uuid.UUID, size: int, sha256: bytes) -> None:
        """Under the upload's row lock, in one transaction: done before (this upload's blob
        is stored, or its completion recorded: by another server, say) → the part goes;
        else the part is hashed (one chunk at a time) and checked, then copied into the
        blob (unless that blob is stored already: the same bytes) and deleted."""
        b = bundle_id.bytes

        def run(c: _Conn) -> bool:
            completed = _lock_upload(c, bundle_id)
            if completed or _holds(c, bundle_id, size, sha256):
                c.execute("DELETE FROM part_chunks WHERE bundle_id = %s", (b,))
                return True
            count, n = _part_size(c, bundle_id)
            if n != size:
                hint = "upload from offset 0" if n == 0 else "resume the upload from its offset"
                raise Unprocessable(f"received {n} of {size} bytes", hint=hint)
            h = hashlib.sha256()
            for i in range(count):
                h.update(_chunk(c, "part_chunks", "bundle_id", b, i))
            if h.digest() != sha256:
                c.execute("DELETE FROM part_chunks WHERE bundle_id = %s", (b,))
                return False  # committed: the bytes are discarded, then the error
            c.execute(
                "INSERT INTO blob_chunks (sha256, n, data)"
                " SELECT %s, n, data FROM part_chunks WHERE bundle_id = %s"
                " ON CONFLICT DO NOTHING",
                (sha256, b),
            )
            c.execute("DELETE FROM part_chunks WHERE bundle_id = %s", (b,))
            return True

        if not self._write(run):
            raise Unprocessable(
                "the received bytes do not match the announced SHA-256",
                hint="the upload was discarded; upload the bundle again from offset 0",
            )

    # -- stored bundles -----------------------------------------------------------------

    def blob(self, sha256: bytes) -> bytes:
        return sha256

    def open(self, blob: BlobRef) -> BinaryIO:
        """The blob, read one chunk at a time (each in a statement of its own: a blob never
        changes once written)."""
        if not isinstance(blob, bytes):
            raise StoreError("a blob of the PostgreSQL store is named by its SHA-256")
        sha256 = blob
        with self._connection() as c:
            count, _size = _blob_size(c, sha256)
        if count == 0:
            raise BlobUnreadable(f"the stored bundle is missing ({sha256.hex()} in blob_chunks)")

        def fetch(n: int) -> bytes:
            with self._connection() as c:
                return _chunk(c, "blob_chunks", "sha256", sha256, n)

        return io.BufferedReader(_Chunks(fetch, count), CHUNK)


class _Chunks(io.RawIOBase):
    """A stream over ``count`` chunks that ``fetch(n)`` reads, holding one at a time."""

    def __init__(self, fetch: Callable[[int], bytes], count: int) -> None:
        self._fetch = fetch
        self._count = count
        self._next = 0
        self._data = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        while not self._data:
            if self._next >= self._count:
                return 0
            self._data = memoryview(self._fetch(self._next))
            self._next += 1
        n = min(len(out), len(self._data))
        out[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def _configure(conn: _Conn) -> None:
    # Durable at commit, whatever the server's or the role's default.
    conn.execute("SET synchronous_commit TO on")


def _lock_upload(c: _Conn, bundle_id: uuid.UUID) -> bool:
    """Lock the upload's row for this transaction (appends and finish of one upload run
    one at a time, and after the store's own writes of it); whether it is complete (its
    bundle recorded: by another server's ``complete``, say)."""
    row = c.execute(
        "SELECT completed_ms FROM uploads WHERE bundle_id = %s FOR UPDATE", (bundle_id.bytes,)
    ).fetchone()
    if row is None:
        raise NotFound("no such upload", hint="create it with POST /v1/uploads")
    return row[0] is not None


def _part_size(c: _Conn, bundle_id: uuid.UUID) -> tuple[int, int]:
    """(chunks, bytes) of an upload's part."""
    row = c.execute(
        "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM part_chunks"
        " WHERE bundle_id = %s",
        (bundle_id.bytes,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _blob_size(c: _Conn, sha256: bytes) -> tuple[int, int]:
    """(chunks, bytes) of a blob; (0, 0) when there is none."""
    row = c.execute(
        "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM blob_chunks WHERE sha256 = %s",
        (sha256,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _chunk(c: _Conn, table: str, key: str, value: bytes, n: int) -> bytes:
    """Chunk ``n`` of a part or a blob (``table`` and ``key`` are this module's own
    constants, never input)."""
    row = c.execute(
        f"SELECT data FROM {table} WHERE {key} = %s AND n = %s",
        (value, n),
        binary=True,
    ).fetchone()
    if row is None:
        raise BlobUnreadable(f"the stored bytes are damaged (chunk {n} of {value.hex()} missing)")
    return bytes(row[0])


def _holds(c: _Conn, bundle_id: uuid.UUID, size: int, sha256: bytes) -> bool:
    count, total = _blob_size(c, sha256)
    if count == 0 or total != size:
        return False
    reader = io.BufferedReader(
        _Chunks(lambda n: _chunk(c, "blob_chunks", "sha256", sha256, n), count), CHUNK
    )
    try:
        return read_header(reader).bundle_id == bundle_id
    except (BundleInvalid, BlobUnreadable):
        return False


def _where(url: str) -> str:
    """The host and database a URL names, for messages: never its password."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL URL (which cannot be read)"
    return f"{d.get('dbname', '?')} on {d.get('host', 'localhost')}:{d.get('port', '5432')}"


def _wrapped(e: psycopg.Error) -> StoreError:
    """A psycopg error as the store's: a full disk is StorageFull; nothing of the
    statement, its parameters or the URL is repeated."""
    if isinstance(e, pgerrors.DiskFull | pgerrors.OutOfMemory):
        return StorageFull()
    return StoreError(f"blob store failed ({type(e).__name__})")


if TYPE_CHECKING:  # mypy checks that the class implements the interface

    def _implements(url: str) -> Blobs:
        return PgBlobs(url)
