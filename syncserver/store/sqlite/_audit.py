"""SQLite: the audit log: entries with their leaf hashes and MACs, and signed checkpoints;
and the auditor's read-only view of a store file (:class:`SqliteLogSource`).

Audit indexes are allocated as the last index + 1 inside the appending transaction
(:meth:`SqliteAudit.append`), and the MAC chained to the last row's. That is gap-free,
in commit order and one chain only because this backend has one writer connection,
whose transactions run one after another. A backend with concurrent writers must not
read the last row unlocked: two transactions would take the same index (or, with a
sequence, leave gaps and commit out of order) and fork the MAC chain. It must serialise
the append from the read of the head to the commit, e.g. lock one row that holds the
log's head (index and MAC) and update it in the appending transaction, so that the
next appender waits for the commit and reads the new head.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...errors import StoreError
from .._audit import (
    MAC_FROM_KEY,
    AuditRepo,
    CheckpointsRepo,
    Kept,
    Leaf,
    Link,
    LogSource,
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
    mac_from_marker,
)

__all__ = ["SqliteAudit", "SqliteCheckpoints", "SqliteLogSource", "open_log_source"]


class SqliteAudit:
    """``tx.audit``. The MAC key is the writer connection's ``audit_mac_key`` (set by
    :class:`~syncserver.store.sqlite.SqliteStore` when it is opened with one)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def append(self, entry: bytes, leaf_hash: bytes) -> int:
        key: bytes | None = getattr(self._c, "audit_mac_key", None)
        if key is None:
            raise StoreError(
                "this store was opened without the project key: it cannot write to the audit log",
                hint="open the project (with its passphrase or key file) to make changes",
            )
        # Indexes are dense from 0, so the next is the last + 1: one B-tree step, where
        # COUNT(*) would read the whole table on every append. Safe with one writer only.
        last = self._c.execute("SELECT idx, mac FROM audit ORDER BY idx DESC LIMIT 1").fetchone()
        n, prev = (0, None) if last is None else (int(last[0]) + 1, last[1])
        self._c.execute(
            "INSERT INTO audit (idx, entry, leaf_hash, mac) VALUES (?, ?, ?, ?)",
            (n, entry, leaf_hash, chain_mac(key, prev, n, leaf_hash)),
        )
        return n

    def entry(self, index: int) -> bytes | None:
        row = self._c.execute("SELECT entry FROM audit WHERE idx = ?", (index,)).fetchone()
        return None if row is None else bytes(row[0])

    def latest(self, limit: int) -> list[StoredEntry]:
        rows = self._c.execute(
            "SELECT idx, entry FROM audit ORDER BY idx DESC LIMIT ?", (limit,)
        ).fetchall()
        return [StoredEntry(idx, bytes(entry)) for idx, entry in rows]

    def leaves(self, start: int) -> list[Leaf]:
        # (starmap over the cursor: the whole log at start-up, no list of tuples besides)
        cur = self._c.execute(
            "SELECT idx, leaf_hash FROM audit WHERE idx >= ? ORDER BY idx", (start,)
        )
        return list(itertools.starmap(Leaf, cur))

    def links(self, start: int) -> list[Link]:
        cur = self._c.execute(
            "SELECT idx, leaf_hash, mac FROM audit WHERE idx >= ? ORDER BY idx", (start,)
        )
        return list(itertools.starmap(Link, cur))

    def mac_from(self) -> bytes | None:
        row = self._c.execute("SELECT value FROM meta WHERE key = ?", (MAC_FROM_KEY,)).fetchone()
        return None if row is None else bytes(row[0])

    def mark_mac_from(self, key: bytes) -> None:
        """Migration 4 (SQLite only): every row appended from now on carries a MAC; the
        rows already there (a store from before schema 4) do not. Record from which index."""
        (n,) = self._c.execute("SELECT COALESCE(MAX(idx), -1) + 1 FROM audit").fetchone()
        self._c.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (MAC_FROM_KEY, mac_from_marker(key, int(n))),
        )


class SqliteCheckpoints:
    """``tx.checkpoints``. One server writes a SQLite store: it always holds the signing
    lease (:meth:`lease` takes nothing)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def keep(self, size: int, note: str, at_ms: int) -> None:
        self._c.execute(
            "INSERT OR IGNORE INTO checkpoints (size, note, created_ms) VALUES (?, ?, ?)",
            (size, note, at_ms),
        )

    def newest(self) -> StoredCheckpoint | None:
        row = self._c.execute(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else StoredCheckpoint(int(row[0]), str(row[1]))

    def lease(self) -> bool:
        return False


# -- the auditor's view ------------------------------------------------------------------

#: The tables without which a file holds no audit log.
_LOG_TABLES = frozenset({"meta", "audit", "checkpoints"})
_KEPT_TABLES = {
    Kept.RECEIPTS: "bundles",
    Kept.DEVICES: "devices",
    Kept.ENROLL_TOKENS: "enroll_tokens",
    Kept.ADMIN_TOKENS: "admin_tokens",
}


def open_log_source(path: Path) -> SqliteLogSource | None:
    """The audit log in the SQLite store at ``path``, opened read-only (never written,
    never migrated, no key needed) in one snapshot; None when the file is a database
    that holds no audit log. Raises :class:`~syncserver.errors.StoreError` when it
    cannot be opened or read."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {path.name} read-only ({e})") from None
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as e:
        conn.close()
        raise StoreError(
            f"{path.name} cannot be read ({e})", hint="is it a sealsync store (store.db)?"
        ) from None
    if not _LOG_TABLES <= tables:
        conn.close()
        return None
    source = SqliteLogSource(conn, path.name, frozenset(tables))
    try:
        source._run(lambda: conn.execute("BEGIN"))  # one snapshot, even while a server writes
    except StoreError:
        source.close()
        raise
    return source


class SqliteLogSource:
    """:class:`~syncserver.store.LogSource` over one read-only SQLite connection, in
    one read transaction. Receipts are ordered by the caller's ``rank`` with a SQL
    function, so that SQLite sorts them (spilling to a temporary file if need be)."""

    def __init__(self, conn: sqlite3.Connection, name: str, tables: frozenset[str]) -> None:
        self._c: sqlite3.Connection | None = conn
        self._name = name
        self._tables = tables
        self._scans = itertools.count(1)

    def _conn(self) -> sqlite3.Connection:
        if self._c is None:
            raise StoreError(f"{self._name} is closed")
        return self._c

    def _run(self, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read {self._name} ({e.__class__.__name__}: {e})") from None

    def _scan(self, sql: str, params: tuple[object, ...], batch: int) -> Iterator[tuple[Any, ...]]:
        cur = self._run(lambda: self._conn().execute(sql, params))
        while rows := self._run(lambda: cur.fetchmany(batch)):
            yield from rows

    def names(self) -> RawNames:
        meta = dict(
            self._run(
                lambda: (
                    self._conn()
                    .execute(
                        "SELECT key, value FROM meta WHERE key IN ('project_id', 'signing_public')"
                    )
                    .fetchall()
                )
            )
        )
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
        where: list[str] = []
        params: list[object] = []
        if start is not None:
            where.append("idx >= ?")
            params.append(start)
        if end is not None:
            where.append("idx < ?")
            params.append(end)
        sql = "SELECT idx, entry, leaf_hash FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
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
            sql = "SELECT bundle_id, receipt, NULL FROM bundles WHERE receipt IS NOT NULL"
        else:
            # A function of its own per scan: one in use by a scan cannot be redefined.
            conn, fn = self._conn(), f"sealsync_rank_{next(self._scans)}"
            self._run(lambda: conn.create_function(fn, 1, rank, deterministic=True))
            sql = (
                f"SELECT bundle_id, receipt, {fn}(receipt) AS r FROM bundles"
                " WHERE receipt IS NOT NULL ORDER BY r"
            )
        for bundle_id, receipt, r in self._scan(sql, (), batch):
            yield RawReceipt(bundle_id, receipt, r)

    def devices(self, *, batch: int) -> Iterator[RawDevice]:
        if not self.keeps(Kept.DEVICES):
            return
        sql = (
            "SELECT device_id, serial, label, public_key, certificate, not_before_ms,"
            " not_after_ms, enrolled_ms, enrolled_how, revoked_ms, revoke_reason"
            " FROM devices ORDER BY serial"
        )
        for row in self._scan(sql, (), batch):
            yield RawDevice(*row)

    def enroll_tokens(self, *, batch: int) -> Iterator[RawEnrollToken]:
        if not self.keeps(Kept.ENROLL_TOKENS):
            return
        sql = (
            "SELECT token_hash, label, created_ms, expires_ms, used_ms, device_id"
            " FROM enroll_tokens ORDER BY created_ms"
        )
        for row in self._scan(sql, (), batch):
            yield RawEnrollToken(*row)

    def admin_tokens(self, *, batch: int) -> Iterator[RawAdminToken]:
        if not self.keeps(Kept.ADMIN_TOKENS):
            return
        sql = (
            "SELECT token_hash, role, label, created_ms, revoked_ms FROM admin_tokens"
            " ORDER BY created_ms"
        )
        for row in self._scan(sql, (), batch):
            yield RawAdminToken(*row)

    def close(self) -> None:
        conn, self._c = self._c, None
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # closing ends the transaction anyway
        finally:
            conn.close()


if TYPE_CHECKING:  # mypy checks that these classes implement the interfaces

    def _implements(c: sqlite3.Connection) -> tuple[AuditRepo, CheckpointsRepo, LogSource]:
        return SqliteAudit(c), SqliteCheckpoints(c), SqliteLogSource(c, "", frozenset())
