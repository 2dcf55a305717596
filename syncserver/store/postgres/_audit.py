"""PostgreSQL: the audit log: entries with their leaf hashes and MACs, signed checkpoints
and the signing lease; and the auditor's read-only view (:class:`PgLogSource`).

Several servers append to one log (docs/spec/audit-log-v1.md §14.5):

- :meth:`PgAudit.append` takes the one row of ``audit_head`` (the newest index and its
  MAC) ``FOR UPDATE``, appends index + 1 with the MAC chained to the head's, and moves
  the head, all in the caller's transaction. The next appender waits on that row until
  the transaction commits or rolls back, then reads the head it left: indexes are dense
  from 0, given in commit order, never twice, and the MAC chain is one chain. The row
  stays locked until the appending transaction ends, so appenders on every server queue
  there: a transaction should append its entries when its other work is done.
- :meth:`PgCheckpoints.lease` is a transaction-scoped advisory lock: one transaction at
  a time, on any server, holds it to sign a checkpoint. It ends with the transaction, so
  a server that dies mid-way (its connection closes) or stalls (idle in the transaction
  for :data:`LEASE_IDLE_MS`) loses it, and a waiter gives up after :data:`LEASE_WAIT_MS`.

There is no ``audit_mac_from`` marker on a store created on PostgreSQL: its chain starts
at entry 0 (:meth:`PgAudit.mac_from` reads one all the same, for a log copied from an
older SQLite store with it).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pgerrors

from ...errors import StoreError
from .._audit import (
    MAC_FROM_KEY,
    Kept,
    Leaf,
    Link,
    RawAdminToken,
    RawCheckpoint,
    RawDevice,
    RawEnrollToken,
    RawEntry,
    RawNames,
    RawReceipt,
    StoredCheckpoint,
    StoredEntry,
    chain_mac,
)

if TYPE_CHECKING:
    from .._audit import AuditRepo, CheckpointsRepo, LogSource

__all__ = [
    "LEASE_IDLE_MS",
    "LEASE_WAIT_MS",
    "PgAudit",
    "PgCheckpoints",
    "PgLogSource",
    "open_log_source",
]

#: Key of the advisory lock that is the log's signing lease (the migrations take
#: 0x5EA150001).
SIGNING_LEASE = 0x5EA15_A0D1
#: How long a server waits for the signing lease before it gives up (the receipt it
#: was signing for fails with a retry-after; the device sends the upload again).
LEASE_WAIT_MS = 30_000
#: A holder idle in its signing transaction this long is cut off by PostgreSQL, and
#: the lease passes on (a holder that died loses it as soon as its connection closes).
LEASE_IDLE_MS = 10_000


class PgAudit:
    """``tx.audit``: appends serialised on the ``audit_head`` row (module docstring)."""

    def __init__(self, conn: psycopg.Connection[Any], audit_mac_key: bytes | None) -> None:
        self._c = conn
        self._key = audit_mac_key
        # The head (index, MAC) once this transaction holds its row lock: no other
        # transaction can move it until this one ends, so later appends skip the read.
        self._head: tuple[int, bytes | None] | None = None

    def append(self, entry: bytes, leaf_hash: bytes) -> int:
        key = self._key
        if key is None:
            raise StoreError(
                "this store was opened without the project key: it cannot write to the audit log",
                hint="open the project (with its passphrase or key file) to make changes",
            )
        head = self._head
        if head is None:
            row = self._c.execute("SELECT idx, mac FROM audit_head FOR UPDATE").fetchone()
            if row is None:
                raise StoreError(
                    "the audit log's head row is missing (audit_head was changed outside sealsync)",
                    hint="run `syncserver audit verify`, and restore the database from a backup",
                )
            head = (int(row[0]), None if row[1] is None else bytes(row[1]))
        n = head[0] + 1
        mac = chain_mac(key, head[1], n, leaf_hash)
        self._c.execute(
            "WITH appended AS ("
            " INSERT INTO audit (idx, entry, leaf_hash, mac) VALUES (%s, %s, %s, %s))"
            " UPDATE audit_head SET idx = %s, mac = %s",
            (n, entry, leaf_hash, mac, n, mac),
        )
        self._head = (n, mac)
        return n

    def entry(self, index: int) -> bytes | None:
        row = self._c.execute("SELECT entry FROM audit WHERE idx = %s", (index,)).fetchone()
        return None if row is None else bytes(row[0])

    def latest(self, limit: int) -> list[StoredEntry]:
        rows = self._c.execute(
            "SELECT idx, entry FROM audit ORDER BY idx DESC LIMIT %s", (limit,)
        ).fetchall()
        return [StoredEntry(idx, bytes(entry)) for idx, entry in rows]

    def leaves(self, start: int) -> list[Leaf]:
        # Binary rows: the whole log at start-up, without hex text to decode.
        with self._c.cursor(binary=True) as cur:
            cur.execute("SELECT idx, leaf_hash FROM audit WHERE idx >= %s ORDER BY idx", (start,))
            return list(itertools.starmap(Leaf, cur))

    def links(self, start: int) -> list[Link]:
        with self._c.cursor(binary=True) as cur:
            cur.execute(
                "SELECT idx, leaf_hash, mac FROM audit WHERE idx >= %s ORDER BY idx", (start,)
            )
            return list(itertools.starmap(Link, cur))

    def mac_from(self) -> bytes | None:
        row = self._c.execute("SELECT value FROM meta WHERE key = %s", (MAC_FROM_KEY,)).fetchone()
        return None if row is None else bytes(row[0])


class PgCheckpoints:
    """``tx.checkpoints``, and the signing lease (module docstring)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def keep(self, size: int, note: str, at_ms: int) -> None:
        self._c.execute(
            "INSERT INTO checkpoints (size, note, created_ms) VALUES (%s, %s, %s)"
            " ON CONFLICT (size) DO NOTHING",
            (size, note, at_ms),
        )

    def newest(self) -> StoredCheckpoint | None:
        row = self._c.execute(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else StoredCheckpoint(int(row[0]), str(row[1]))

    def lease(self) -> bool:
        try:
            self._c.execute(  # no parameters: one round trip for the three
                f"SET LOCAL lock_timeout = {LEASE_WAIT_MS};"
                f" SET LOCAL idle_in_transaction_session_timeout = {LEASE_IDLE_MS};"
                f" SELECT pg_advisory_xact_lock({SIGNING_LEASE})"
            )
        except pgerrors.LockNotAvailable:
            raise StoreError(
                f"another server held the audit log's signing lease for over"
                f" {LEASE_WAIT_MS // 1000} s",
                hint="the servers or the database are overloaded: try again later",
                retry_after=LEASE_WAIT_MS // 1000,
            ) from None
        return True


# -- the auditor's view ------------------------------------------------------------------

#: The tables without which a database holds no audit log.
_LOG_TABLES = ("meta", "audit", "checkpoints")
_KEPT_TABLES = {
    Kept.RECEIPTS: "bundles",
    Kept.DEVICES: "devices",
    Kept.ENROLL_TOKENS: "enroll_tokens",
    Kept.ADMIN_TOKENS: "admin_tokens",
}
#: Where receipts are ranked (a temporary table of this session, made before the
#: snapshot: a read-only transaction may write a temporary table but not create one).
_RANKS = "pg_temp.sealsync_ranks"
#: Ranks copied at a time (a few dozen bytes each).
_COPY_ROWS = 8192


def open_log_source(url: str) -> PgLogSource | None:
    """The audit log in the PostgreSQL store ``url`` names (its ``search_path``), read in
    one ``REPEATABLE READ READ ONLY`` snapshot on a connection of its own (never written,
    never migrated, no key needed); None when the database holds no audit log. Raises
    :class:`~syncserver.errors.StoreError` when it cannot be reached or read."""
    from ._store import where  # (the store imports this module through its transactions)

    name = where(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=15)
    except psycopg.Error as e:
        raise StoreError(
            f"cannot connect to PostgreSQL ({name}): {type(e).__name__}",
            hint="check that the server runs and that the URL names it (user, host, port,"
            " database)",
        ) from None
    source = PgLogSource(conn, name)
    try:
        found = source._begin()
    except BaseException:
        source.close()
        raise
    if not found:
        source.close()
        return None
    return source


class PgLogSource:
    """:class:`~syncserver.store.LogSource` over one PostgreSQL connection in one
    read-only snapshot. Every scan is a server-side cursor of its own, read ``batch``
    rows at a time, so that several run at once in bounded memory. Receipts ordered by
    the caller's ``rank``: PostgreSQL cannot call it, so one scan computes each rank
    here and copies (scan, row id, rank) into a temporary table, and PostgreSQL sorts
    that (spilling to disk if need be) joined back to the rows by ``ctid``, the row's
    place in this snapshot, so that even a table whose key was dropped and ids
    duplicated comes back one row per row."""

    def __init__(self, conn: psycopg.Connection[Any], name: str) -> None:
        self._c: psycopg.Connection[Any] | None = conn
        self._name = name
        self._tables: frozenset[str] = frozenset()
        self._can_rank = False
        self._scans = itertools.count(1)

    def _conn(self) -> psycopg.Connection[Any]:
        if self._c is None:
            raise StoreError(f"the audit log on {self._name} is closed")
        return self._c

    def _run(self, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except psycopg.Error as e:
            raise StoreError(
                f"cannot read the audit log on {self._name} ({type(e).__name__})"
            ) from None

    def _begin(self) -> bool:
        """Make the ranks table, start the snapshot; whether the database holds a log."""
        conn = self._conn()
        try:
            conn.execute(
                f"CREATE TEMP TABLE {_RANKS}"
                " (scan integer NOT NULL, n bigint NOT NULL, tid tid NOT NULL,"
                " rank numeric NOT NULL)"
            )
            self._can_rank = True
        except psycopg.Error:
            pass  # a hot standby, or no TEMP privilege: receipts in no order only
        self._run(_snapshot, conn)
        names = list(_LOG_TABLES) + list(_KEPT_TABLES.values())
        sql = "SELECT name FROM unnest(%s::text[]) AS t(name) WHERE to_regclass(name) IS NOT NULL"
        rows = self._run(lambda: conn.execute(sql, (names,)).fetchall())
        self._tables = frozenset(r[0] for r in rows)
        return set(_LOG_TABLES) <= self._tables

    def _scan(self, sql: str, params: tuple[object, ...], batch: int) -> Iterator[tuple[Any, ...]]:
        conn = self._conn()
        cur = conn.cursor(name=f"sealsync_scan_{next(self._scans)}")
        try:
            self._run(cur.execute, sql, params)
            while rows := self._run(cur.fetchmany, batch):
                yield from rows
        finally:
            with contextlib.suppress(psycopg.Error):
                cur.close()

    def names(self) -> RawNames:
        sql = "SELECT key, value FROM meta WHERE key IN ('project_id', 'signing_public')"
        conn = self._conn()
        meta = dict(self._run(lambda: conn.execute(sql).fetchall()))
        return RawNames(meta.get("project_id"), meta.get("signing_public"))

    def keeps(self, what: Kept) -> bool:
        return _KEPT_TABLES[what] in self._tables

    def entries(
        self,
        *,
        batch: int,
        start: int | None = None,
        end: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[RawEntry]:
        where_: list[str] = []
        params: list[object] = []
        if start is not None:
            where_.append("idx >= %s")
            params.append(start)
        if end is not None:
            where_.append("idx < %s")
            params.append(end)
        sql = "SELECT idx, entry, leaf_hash FROM audit"
        if where_:
            sql += " WHERE " + " AND ".join(where_)
        sql += " ORDER BY idx DESC" if newest_first else " ORDER BY idx"
        for idx, entry, leaf in self._scan(sql, tuple(params), batch):
            yield RawEntry(idx, entry, leaf)

    def checkpoints(self, *, batch: int) -> Iterator[RawCheckpoint]:
        for size, note in self._scan("SELECT size, note FROM checkpoints ORDER BY size", (), batch):
            yield RawCheckpoint(size, note)

    def receipts(
        self, *, batch: int, rank: Callable[[object], int] | None = None
    ) -> Iterator[RawReceipt]:
        if not self.keeps(Kept.RECEIPTS):
            return
        if rank is None:
            sql = "SELECT bundle_id, receipt FROM bundles WHERE receipt IS NOT NULL"
            for bundle_id, receipt in self._scan(sql, (), batch):
                yield RawReceipt(bundle_id, receipt)
            return
        if not self._can_rank:
            raise StoreError(
                f"the receipts on {self._name} cannot be sorted: this session may not make a"
                " temporary table",
                hint="verify against the primary server, as a user with the TEMP privilege",
            )
        yield from self._ranked(rank, batch)

    def _ranked(self, rank: Callable[[object], int], batch: int) -> Iterator[RawReceipt]:
        conn = self._conn()
        scan = next(self._scans)
        try:
            ranked: list[tuple[int, int, str, int]] = []
            rows = self._scan(
                "SELECT ctid::text, receipt FROM bundles WHERE receipt IS NOT NULL", (), batch
            )
            for n, (tid, receipt) in enumerate(rows):
                ranked.append((scan, n, tid, rank(receipt)))
                if len(ranked) >= max(batch, _COPY_ROWS):
                    self._run(_copy_ranks, conn, ranked)
                    ranked = []
            if ranked:
                self._run(_copy_ranks, conn, ranked)
            # The ranks are sorted, then each row fetched by its ctid in that order: the
            # sort spills ranks, never receipts, to disk.
            sql = (
                "SELECT b.bundle_id, b.receipt, r.rank::text FROM"
                f" (SELECT tid, rank, n FROM {_RANKS} WHERE scan = %s ORDER BY rank, n) AS r"
                " CROSS JOIN LATERAL (SELECT bundle_id, receipt FROM bundles WHERE ctid = r.tid)"
                " AS b ORDER BY r.rank, r.n"
            )
            for bundle_id, receipt, r in self._scan(sql, (scan,), batch):
                yield RawReceipt(bundle_id, receipt, int(r))
        finally:
            if self._c is not None:
                with contextlib.suppress(psycopg.Error):
                    self._c.execute(f"DELETE FROM {_RANKS} WHERE scan = %s", (scan,))

    def devices(self, *, batch: int) -> Iterator[RawDevice]:
        if not self.keeps(Kept.DEVICES):
            return
        sql = (
            "SELECT device_id, serial, label, public_key, certificate, not_before_ms,"
            " not_after_ms, enrolled_ms, enrolled_how, revoked_ms, revoke_reason"
            " FROM devices ORDER BY serial, device_id"
        )
        for row in self._scan(sql, (), batch):
            yield RawDevice(*row)

    def enroll_tokens(self, *, batch: int) -> Iterator[RawEnrollToken]:
        if not self.keeps(Kept.ENROLL_TOKENS):
            return
        sql = (
            "SELECT token_hash, label, created_ms, expires_ms, used_ms, device_id"
            " FROM enroll_tokens ORDER BY created_ms, token_hash"
        )
        for row in self._scan(sql, (), batch):
            yield RawEnrollToken(*row)

    def admin_tokens(self, *, batch: int) -> Iterator[RawAdminToken]:
        if not self.keeps(Kept.ADMIN_TOKENS):
            return
        sql = (
            "SELECT token_hash, role, label, created_ms, revoked_ms FROM admin_tokens"
            " ORDER BY created_ms, token_hash"
        )
        for row in self._scan(sql, (), batch):
            yield RawAdminToken(*row)

    def close(self) -> None:
        conn, self._c = self._c, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()  # ends the snapshot; the temporary table goes with the session


def _snapshot(conn: psycopg.Connection[Any]) -> None:
    """From here on every statement is in one read-only transaction, whose snapshot the
    next statement takes."""
    conn.autocommit = False
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True


def _copy_ranks(conn: psycopg.Connection[Any], rows: list[tuple[int, int, str, int]]) -> None:
    # COPY's text format, made here: ints and tids hold no tab, newline or backslash.
    data = "".join(f"{scan}\t{n}\t{tid}\t{rank}\n" for scan, n, tid, rank in rows)
    with conn.cursor() as cur, cur.copy(f"COPY {_RANKS} (scan, n, tid, rank) FROM STDIN") as copy:
        copy.write(data)


if TYPE_CHECKING:  # mypy checks that these classes implement the interfaces

    def _implements(
        c: psycopg.Connection[Any],
    ) -> tuple[AuditRepo, CheckpointsRepo, LogSource]:
        return PgAudit(c, None), PgCheckpoints(c), PgLogSource(c, "")
