"""The audit repositories (tx.audit, tx.checkpoints) and the auditor's read-only view
(LogSource) on a bare store, with synthetic entries, on every backend; then what must
hold when several servers share one PostgreSQL database and append or sign at once
(stores on one schema, threads meeting at a barrier inside their transactions)."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from support.postgres import fresh_schema

from syncserver._fs import disk_full
from syncserver.errors import StorageFull, StoreError
from syncserver.store import (
    MAC_FROM_KEY,
    Leaf,
    SqliteStore,
    Store,
    StoredEntry,
    Tx,
    chain_mac,
    mac_from_marker,
    open_store,
    read_mac_from,
)
from syncserver.store.logsource import (
    Kept,
    LogSource,
    RawCheckpoint,
    RawEntry,
    RawNames,
    open_log_source,
)
from syncserver.store.postgres import PostgresStore
from syncserver.store.postgres import _audit as pg_audit

T = TypeVar("T")
#: The conftest's synthetic audit MAC key.
KEY = bytes(range(32))
T0 = 1_700_000_000_000
#: How long a thread of a race waits for the others before the test fails (never reached
#: when the code is right: the outcome is asserted, never a timing).
PATIENCE = 20


def entry(n: int) -> bytes:
    return b"synthetic entry %d" % n


def leaf(raw: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + raw).digest()


def append(store: Store, *ns: int) -> list[int]:
    def write(tx: Tx) -> list[int]:
        return [tx.audit.append(entry(n), leaf(entry(n))) for n in ns]

    return store.write_sync(write)


def _sqlite(store: Store) -> bool:
    return isinstance(store, SqliteStore)


def location(store: Store) -> Path | str:
    """Where the store lies, as an auditor names it: a SQLite file or a URL."""
    if isinstance(store, SqliteStore):
        return store.path
    assert isinstance(store, PostgresStore)
    return store.url


def reopen(store: Store, *, key: bytes | None) -> Store:
    """Another store on the same database (another server, or the same one opened with
    or without the key)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path, audit_key=key).open()
    assert isinstance(store, PostgresStore)
    return open_store(store.url, Path("."), audit_key=key)


def sql(where: Path | str, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Rows other repositories write (or a hand edit), put in with the database's own
    client: statements with ``?`` placeholders, in one transaction."""
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        with conn:
            for q, params in statements:
                conn.execute(q, params)
        conn.close()
        return
    import psycopg

    with psycopg.connect(where) as pg:
        for q, params in statements:
            pg.execute(q.replace("?", "%s"), params)


def opened(where: Path | str) -> LogSource:
    source = open_log_source(where)
    assert source is not None
    return source


def links_check(store: Store) -> int:
    """Check the whole MAC chain; return the number of entries."""
    links = store.read_sync(lambda tx: tx.audit.links(0))
    prev = None
    for i, link in enumerate(links):
        assert link.index == i
        assert link.mac == chain_mac(KEY, prev, i, link.leaf_hash)
        prev = link.mac
    return len(links)


# -- tx.audit -----------------------------------------------------------------------------


def test_appends_get_dense_indexes_and_a_chained_mac(store: Store) -> None:
    assert append(store, 0) == [0]
    assert append(store, 1, 2, 3) == [1, 2, 3]  # one transaction
    assert append(store, 4) == [4]
    assert store.read_sync(lambda tx: tx.audit.entry(3)) == entry(3)
    assert store.read_sync(lambda tx: tx.audit.entry(5)) is None
    assert store.read_sync(lambda tx: tx.audit.latest(2)) == [
        StoredEntry(4, entry(4)),
        StoredEntry(3, entry(3)),
    ]
    assert store.read_sync(lambda tx: tx.audit.leaves(3)) == [
        Leaf(3, leaf(entry(3))),
        Leaf(4, leaf(entry(4))),
    ]
    links = store.read_sync(lambda tx: tx.audit.links(0))
    prev = None
    for i, link in enumerate(links):
        assert (link.index, link.leaf_hash) == (i, leaf(entry(i)))
        assert link.mac == chain_mac(KEY, prev, i, link.leaf_hash)
        prev = link.mac
    assert len(links) == 5
    assert store.read_sync(lambda tx: tx.audit.links(5)) == []
    # made with the chain: from the first entry on; SQLite's migration 4 says so in a
    # marker, a PostgreSQL store (which never was without the chain) has none
    marker = mac_from_marker(KEY, 0) if _sqlite(store) else None
    assert store.read_sync(lambda tx: tx.audit.mac_from()) == marker


def test_an_index_rolled_back_is_given_again(store: Store) -> None:
    append(store, 0)

    def fails(tx: Tx) -> None:
        assert tx.audit.append(entry(1), leaf(entry(1))) == 1
        raise ValueError("synthetic failure after the append")

    with pytest.raises(ValueError):
        store.write_sync(fails)
    assert append(store, 2) == [1]  # no gap: the index of the rolled-back entry again
    links = store.read_sync(lambda tx: tx.audit.links(0))
    assert links[1].mac == chain_mac(KEY, links[0].mac, 1, leaf(entry(2)))


def test_a_store_opened_without_the_key_cannot_append(store: Store) -> None:
    s = reopen(store, key=None)
    try:
        with pytest.raises(StoreError) as e:
            s.write_sync(lambda tx: tx.audit.append(entry(0), leaf(entry(0))))
        assert e.value.message == (
            "this store was opened without the project key: it cannot write to the audit log"
        )
        assert e.value.hint == "open the project (with its passphrase or key file) to make changes"
        assert s.read_sync(lambda tx: tx.audit.latest(10)) == []
    finally:
        s.close()


def test_the_mac_chain_starts_where_a_copied_marker_says(store: Store) -> None:
    # A log copied from a SQLite store older than schema 4 brings its marker along.
    sql(
        location(store),
        ("DELETE FROM meta WHERE key = ?", (MAC_FROM_KEY,)),
        ("INSERT INTO meta (key, value) VALUES (?, ?)", (MAC_FROM_KEY, mac_from_marker(KEY, 7))),
    )
    assert read_mac_from(KEY, store.read_sync(lambda tx: tx.audit.mac_from())) == 7


def test_migration_4_marks_where_the_chain_starts(tmp_path: Path) -> None:  # SQLite only
    db = tmp_path / "store.db"
    s = SqliteStore(db, audit_key=KEY).open()
    append(s, 0, 1)
    s.close()
    sql(  # back to schema 3: rows without a MAC, and no marker
        db,
        ("ALTER TABLE audit DROP COLUMN mac", ()),
        ("PRAGMA user_version = 3", ()),
    )
    s = SqliteStore(db, audit_key=KEY).open()  # migrates, with the key
    try:
        marker = s.read_sync(lambda tx: tx.audit.mac_from())
        assert marker == mac_from_marker(KEY, 2)
        assert read_mac_from(KEY, marker) == 2
        assert read_mac_from(bytes(32), marker) is None
        assert [link.mac for link in s.read_sync(lambda tx: tx.audit.links(0))] == [None, None]
        assert append(s, 2) == [2]
        (link,) = s.read_sync(lambda tx: tx.audit.links(2))
        assert link.mac == chain_mac(KEY, None, 2, leaf(entry(2)))
    finally:
        s.close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT key FROM meta").fetchall() == [(MAC_FROM_KEY,)]
    conn.close()


# -- tx.checkpoints -----------------------------------------------------------------------


def test_a_checkpoint_is_kept_once_per_size(store: Store) -> None:
    assert store.read_sync(lambda tx: tx.checkpoints.newest()) is None
    store.write_sync(lambda tx: tx.checkpoints.keep(7, "note at 7", T0))
    store.write_sync(lambda tx: tx.checkpoints.keep(3, "note at 3", T0 + 1))
    store.write_sync(lambda tx: tx.checkpoints.keep(7, "another note at 7", T0 + 2))
    newest = store.read_sync(lambda tx: tx.checkpoints.newest())
    assert newest is not None and (newest.size, newest.note) == (7, "note at 7")
    source = opened(location(store))
    try:
        assert list(source.checkpoints(batch=1)) == [
            RawCheckpoint(3, "note at 3"),
            RawCheckpoint(7, "note at 7"),
        ]
    finally:
        source.close()


def test_the_signing_lease_is_always_held_on_sqlite(store: Store) -> None:
    # One server writes a SQLite store: nothing to take. On PostgreSQL it is taken.
    assert store.write_sync(lambda tx: tx.checkpoints.lease()) is (not _sqlite(store))


# -- the auditor's view -------------------------------------------------------------------


@pytest.fixture
def full(store: Store) -> Path | str:
    """A store with entries 0-5, two checkpoints, receipts, a device and two tokens."""
    pid = uuid.UUID("01890000-0000-7000-8000-0000000000aa")
    store.write_sync(
        lambda tx: tx.meta.set_project(pid, recipient_public=b"r" * 32, signing_public=b"s" * 32)
    )
    append(store, 0, 1, 2, 3, 4, 5)
    store.write_sync(lambda tx: tx.checkpoints.keep(4, "cp 4", T0))
    where = location(store)
    bundle = (
        "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state, receipt,"
        " audit_index) VALUES (?, ?, 1, ?, ?, 'accepted', ?, 0)"
    )
    sql(
        where,
        (bundle, (b"b1".ljust(16, b"\0"), bytes(32), b"d" * 16, T0, b"ccc")),
        (bundle, (b"b2".ljust(16, b"\0"), bytes(32), b"d" * 16, T0, b"a")),
        (bundle, (b"b3".ljust(16, b"\0"), bytes(32), b"d" * 16, T0, None)),
        (bundle, (b"b4".ljust(16, b"\0"), bytes(32), b"d" * 16, T0, b"bb")),
        (
            "INSERT INTO devices (device_id, serial, label, public_key, certificate,"
            " not_before_ms, not_after_ms, enrolled_ms, enrolled_how)"
            " VALUES (?, 1, 'kit 1', ?, ?, ?, ?, ?, 'file')",
            (b"d" * 16, b"k" * 32, b"cert", T0, T0 + 9, T0 + 1),
        ),
        (
            "INSERT INTO enroll_tokens (token_hash, label, created_ms, expires_ms, used_ms,"
            " device_id) VALUES (?, 'kit 2', ?, ?, NULL, NULL)",
            (b"e" * 32, T0 + 2, T0 + 3),
        ),
        (
            "INSERT INTO admin_tokens (token_hash, role, label, created_ms, revoked_ms)"
            " VALUES (?, 'auditor', 'ops', ?, NULL)",
            (b"a" * 32, T0 + 4),
        ),
    )
    return where


def test_the_log_source_streams_the_log_as_stored(full: Path | str) -> None:
    source = opened(full)
    try:
        names = source.names()
        assert names == RawNames(uuid.UUID("01890000-0000-7000-8000-0000000000aa").bytes, b"s" * 32)
        assert list(source.entries(batch=2)) == [
            RawEntry(i, entry(i), leaf(entry(i))) for i in range(6)
        ]
        assert [e.index for e in source.entries(batch=4, start=2, end=5)] == [2, 3, 4]
        assert [e.index for e in source.entries(batch=1, start=4)] == [4, 5]
        assert [e.index for e in source.entries(batch=3, newest_first=True)] == [5, 4, 3, 2, 1, 0]
        assert list(source.checkpoints(batch=5)) == [RawCheckpoint(4, "cp 4")]
        assert all(source.keeps(k) for k in Kept)
    finally:
        source.close()
        source.close()  # idempotent
    with pytest.raises(StoreError, match="is closed"):
        list(source.entries(batch=1))


def test_receipts_come_in_any_order_or_by_the_callers_rank(full: Path | str) -> None:
    source = opened(full)
    try:
        unordered = list(source.receipts(batch=1))
        assert sorted((r.receipt, r.rank) for r in unordered) == [  # type: ignore[type-var]
            (b"a", None),
            (b"bb", None),
            (b"ccc", None),
        ]

        def rank(raw: object) -> int:
            return len(raw) if isinstance(raw, bytes) else -1

        ranked = list(source.receipts(batch=2, rank=rank))
        assert [(r.bundle_id, r.receipt, r.rank) for r in ranked] == [
            (b"b2".ljust(16, b"\0"), b"a", 1),
            (b"b4".ljust(16, b"\0"), b"bb", 2),
            (b"b1".ljust(16, b"\0"), b"ccc", 3),
        ]
    finally:
        source.close()


def test_several_scans_run_at_once(full: Path | str) -> None:
    # The verifier merges the checkpoints, the ranked receipts and the entries in one
    # pass, and reads entries and receipts again while it narrows a mismatch.
    source = opened(full)
    try:
        entries = source.entries(batch=1)
        ranked = source.receipts(batch=1, rank=lambda raw: -len(raw))  # type: ignore[arg-type]
        checkpoints = source.checkpoints(batch=1)
        assert next(entries).index == 0
        assert next(ranked).receipt == b"ccc"
        assert [e.index for e in source.entries(batch=1, start=3, end=5)] == [3, 4]
        assert next(checkpoints).size == 4
        assert [r.receipt for r in source.receipts(batch=1, rank=len)] == [  # type: ignore[arg-type]
            b"a",
            b"bb",
            b"ccc",
        ]
        assert [r.receipt for r in ranked] == [b"bb", b"a"]
        assert [e.index for e in entries] == [1, 2, 3, 4, 5]
        entries.close()  # a scan left unfinished (the pass stopped at a problem)
        assert [e.index for e in source.entries(batch=2, newest_first=True)][:2] == [5, 4]
    finally:
        source.close()


def test_the_tables_the_log_binds_are_read_in_order(full: Path | str) -> None:
    source = opened(full)
    try:
        (device,) = source.devices(batch=1)
        assert (device.device_id, device.serial, device.label, device.certificate) == (
            b"d" * 16,
            1,
            "kit 1",
            b"cert",
        )
        assert (device.enrolled_how, device.revoked_ms, device.revoke_reason) == (
            "file",
            None,
            None,
        )
        (token,) = source.enroll_tokens(batch=1)
        assert (token.token_hash, token.label, token.created_ms, token.used_ms) == (
            b"e" * 32,
            "kit 2",
            T0 + 2,
            None,
        )
        (admin,) = source.admin_tokens(batch=1)
        assert (admin.token_hash, admin.role, admin.label, admin.revoked_ms) == (
            b"a" * 32,
            "auditor",
            "ops",
            None,
        )
    finally:
        source.close()


def test_the_log_source_reads_one_snapshot(store: Store) -> None:
    append(store, 0, 1)
    source = opened(location(store))
    try:
        assert source.names() == RawNames(None, None)  # the snapshot starts here
        append(store, 2)
        assert [e.index for e in source.entries(batch=10)] == [0, 1]
    finally:
        source.close()
    source = opened(location(store))
    try:
        assert [e.index for e in source.entries(batch=10)] == [0, 1, 2]
    finally:
        source.close()


def test_a_store_edited_by_hand_is_handed_out_as_it_is(tmp_path: Path) -> None:
    # Tables recreated without their types, and without the ones the log binds: values
    # come as found, and what the file does not keep is said, not taken for empty.
    db = tmp_path / "edited.db"
    sql(
        db,
        ("CREATE TABLE meta (key TEXT PRIMARY KEY, value)", ()),
        ("CREATE TABLE audit (idx INTEGER PRIMARY KEY, entry, leaf_hash)", ()),
        ("CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note, created_ms)", ()),
        ("INSERT INTO audit VALUES (0, 'text, not bytes', 12)", ()),
        ("INSERT INTO checkpoints VALUES (1, 5, 0)", ()),
        ("INSERT INTO meta VALUES ('project_id', 'not an id')", ()),
    )
    source = opened(db)
    try:
        assert list(source.entries(batch=1)) == [RawEntry(0, "text, not bytes", 12)]
        assert list(source.checkpoints(batch=1)) == [RawCheckpoint(1, 5)]
        assert source.names() == RawNames("not an id", None)
        assert not any(source.keeps(k) for k in Kept)
        assert list(source.receipts(batch=1)) == []
        assert list(source.devices(batch=1)) == []
    finally:
        source.close()


@pytest.mark.postgres
def test_a_database_edited_by_hand_is_handed_out_as_it_is() -> None:
    with fresh_schema() as url:
        sql(
            url,
            ("CREATE TABLE meta (key text PRIMARY KEY, value text)", ()),
            ("CREATE TABLE audit (idx bigint, entry text, leaf_hash integer)", ()),
            ("CREATE TABLE checkpoints (size bigint, note integer, created_ms bigint)", ()),
            ("INSERT INTO audit VALUES (0, 'text, not bytes', 12)", ()),
            ("INSERT INTO checkpoints VALUES (1, 5, 0)", ()),
            ("INSERT INTO meta VALUES ('project_id', 'not an id')", ()),
        )
        source = opened(url)
        try:
            assert list(source.entries(batch=1)) == [RawEntry(0, "text, not bytes", 12)]
            assert list(source.checkpoints(batch=1)) == [RawCheckpoint(1, 5)]
            assert source.names() == RawNames("not an id", None)
            assert not any(source.keeps(k) for k in Kept)
            assert list(source.receipts(batch=1, rank=lambda raw: 0)) == []
            assert list(source.devices(batch=1)) == []
        finally:
            source.close()


@pytest.fixture
def pg() -> Iterator[PostgresStore]:
    """A store on a fresh PostgreSQL schema, for what only PostgreSQL does."""
    with fresh_schema() as url:
        s = open_store(url, Path("."), audit_key=KEY)
        assert isinstance(s, PostgresStore)
        try:
            yield s
        finally:
            s.close()


@pytest.mark.postgres
def test_ranked_receipts_come_one_per_row_in_bounded_batches(pg: PostgresStore) -> None:
    store = pg
    # More rows than a batch, ties, ranks past 64 bits, and a bundle id twice (the
    # table's key dropped by hand): every row once, in rank order, ties in any order.
    sql(store.url, ("ALTER TABLE bundles DROP CONSTRAINT bundles_pkey CASCADE", ()))
    rows = [(i, b"r%03d" % (i % 7)) for i in range(40)]
    statements: list[tuple[str, tuple[object, ...]]] = [
        (
            "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state,"
            " receipt) VALUES (?, ?, 1, ?, ?, 'accepted', ?)",
            (uuid.UUID(int=i % 37).bytes, bytes(32), b"d" * 16, T0, receipt),
        )
        for i, receipt in rows
    ]
    sql(store.url, *statements)

    def rank(raw: object) -> int:
        assert isinstance(raw, bytes)
        n = int(raw[1:])
        return 10**30 if n == 6 else -n

    source = opened(store.url)
    try:
        got = list(source.receipts(batch=3, rank=rank))
        again = list(source.receipts(batch=100, rank=rank))  # its ranks were cleared
    finally:
        source.close()
    assert [r.rank for r in got] == sorted(rank(receipt) for _, receipt in rows)
    assert sorted((r.bundle_id, r.receipt) for r in got) == sorted(  # type: ignore[type-var]
        (uuid.UUID(int=i % 37).bytes, receipt) for i, receipt in rows
    )
    assert all(r.rank == rank(r.receipt) for r in got)
    assert [r.rank for r in again] == [r.rank for r in got]


@pytest.mark.postgres
def test_the_log_source_on_postgresql_never_writes(pg: PostgresStore) -> None:
    store = pg
    append(store, 0, 1)
    source = opened(store.url)
    try:
        assert isinstance(source, pg_audit.PgLogSource)
        assert source._c is not None
        (ro,) = source._c.execute("SHOW transaction_read_only").fetchone()  # type: ignore[misc]
        assert ro == "on"
        with pytest.raises(StoreError, match=r"cannot read the audit log on .* \(ReadOnlySql"):
            source._run(source._c.execute, "DELETE FROM audit")
    finally:
        source.close()
    assert len(store.read_sync(lambda tx: tx.audit.latest(10))) == 2


def test_what_is_not_a_log_is_told_apart(tmp_path: Path) -> None:  # SQLite files
    other = tmp_path / "other.db"
    sql(other, ("CREATE TABLE t (a)", ()))
    assert open_log_source(other) is None
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError) as e:
        open_log_source(junk)
    assert e.value.message == "junk.db cannot be read (file is not a database)"
    assert e.value.hint == "is it a sealsync store (store.db)?"
    with pytest.raises(StoreError, match=r"^cannot open missing\.db read-only \("):
        open_log_source(tmp_path / "missing.db")


@pytest.mark.postgres
def test_a_database_that_is_not_a_log_is_told_apart() -> None:
    with fresh_schema() as url:
        assert open_log_source(url) is None  # an empty schema
        sql(url, ("CREATE TABLE audit (a integer)", ()))
        assert open_log_source(url) is None  # no meta, no checkpoints
    with pytest.raises(StoreError) as e:
        open_log_source("postgresql://sealsync@127.0.0.1:1/nowhere?connect_timeout=2")
    assert e.value.message == (
        "cannot connect to PostgreSQL (nowhere on 127.0.0.1:1): OperationalError"
    )


def test_the_log_source_never_writes(tmp_path: Path) -> None:  # SQLite: the file's bytes
    s = SqliteStore(tmp_path / "store.db", audit_key=KEY).open()
    try:
        append(s, 0, 1)
    finally:
        s.close()
    before = (tmp_path / "store.db").read_bytes()
    source = opened(tmp_path / "store.db")
    try:
        list(source.receipts(batch=1, rank=lambda raw: 0))  # a function, not a write
        list(source.entries(batch=1))
    finally:
        source.close()
    assert (tmp_path / "store.db").read_bytes() == before


# -- a full disk, recognised where it happens ---------------------------------------------


def test_a_full_database_is_the_stores_to_recognise(tmp_path: Path) -> None:  # SQLite
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert not disk_full(full)  # the file-system check knows files only
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))

    def fails(tx: Tx) -> None:
        raise full

    s = SqliteStore(tmp_path / "store.db", audit_key=KEY).open()
    try:
        with pytest.raises(StorageFull):
            s.write_sync(fails)
    finally:
        s.close()


# -- several servers on one database ------------------------------------------------------


def _race(stores: list[Store], fns: list[Callable[[Tx], T]]) -> list[T | BaseException]:
    """Run ``fns[i]`` in a write of ``stores[i]``, each in a thread of its own, all at
    once; what each returned or raised."""
    out: list[T | BaseException] = [RuntimeError("not run")] * len(fns)

    def run(i: int) -> None:
        try:
            out[i] = stores[i].write_sync(fns[i])
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 2)
    assert not any(t.is_alive() for t in threads), "a racing transaction never finished"
    return out


def test_appenders_at_once_get_one_dense_chain_in_commit_order(store: Store) -> None:
    """Several transactions (on PostgreSQL: several servers) append at once, each after
    the others read the log: every one gets a contiguous run of indexes, none twice,
    none skipped, and the MAC chain is one chain."""
    other = store if _sqlite(store) else reopen(store, key=KEY)  # SQLite: one writer
    try:
        n = 6
        # SQLite's one writer runs the transactions one after another: none to wait for
        barrier = threading.Barrier(1 if _sqlite(store) else n)

        def appends(i: int) -> Callable[[Tx], list[int]]:
            def tx(tx: Tx) -> list[int]:
                tx.audit.latest(1)  # each reads the log's end first
                barrier.wait(PATIENCE)
                got = [tx.audit.append(entry(10 * i + k), leaf(entry(10 * i + k))) for k in (0, 1)]
                if i == 0:
                    raise LookupError("this one rolls back")
                return got

            return tx

        got = _race([store, other] * (n // 2), [appends(i) for i in range(n)])
    finally:
        if other is not store:
            other.close()
    assert isinstance(got[0], LookupError)
    runs = sorted(r for r in got[1:] if isinstance(r, list))
    assert len(runs) == n - 1
    assert [i for run in runs for i in run] == list(range(2 * (n - 1)))
    assert all(run[1] == run[0] + 1 for run in runs)
    assert links_check(store) == 2 * (n - 1)
    for i, run in enumerate(got[1:], start=1):
        assert isinstance(run, list)
        stored = [store.read_sync(lambda tx, x=x: tx.audit.entry(x)) for x in run]
        assert stored == [entry(10 * i), entry(10 * i + 1)]


@pytest.fixture
def servers() -> Iterator[tuple[Store, Store, str]]:
    """Two stores on one fresh PostgreSQL schema, as two ``syncserver run`` processes on
    one database would be, and the URL, whose ``application_name`` names this test's
    connections (to see which of them wait for a lock)."""
    with fresh_schema() as url:
        url += f"&application_name=sealsync_t_{uuid.uuid4().hex[:12]}"
        a = open_store(url, Path("."), audit_key=KEY)
        try:
            b = open_store(url, Path("."), audit_key=KEY)
            try:
                yield a, b, url
            finally:
                b.close()
        finally:
            a.close()


def _waiting_for_a_lock(url: str) -> bool:
    """Whether one of this test's connections waits for a lock (polled, never timed)."""
    import psycopg

    app = url.rsplit("application_name=", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        r = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app,),
        ).fetchone()
    return r is not None and r[0] > 0


def _until(cond: Callable[[], bool]) -> None:
    import time

    deadline = time.monotonic() + PATIENCE
    while not cond():
        assert time.monotonic() < deadline, "the other server never came to wait"
        time.sleep(0.01)


@pytest.mark.postgres
def test_an_appender_waits_for_the_one_before_it_to_commit(
    servers: tuple[Store, Store, str],
) -> None:
    a, b, url = servers
    append(a, 0)
    holding = threading.Event()
    release = threading.Event()

    def first(tx: Tx) -> int:
        n = tx.audit.append(entry(1), leaf(entry(1)))
        holding.set()
        assert release.wait(PATIENCE)
        return n

    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(a.write_sync(first)))
    t.start()
    assert holding.wait(PATIENCE)
    second: list[int] = []
    u = threading.Thread(target=lambda: second.extend(append(b, 2)))
    u.start()
    _until(lambda: _waiting_for_a_lock(url))  # the second waits on the head ...
    assert second == []
    release.set()  # ... until the first commits, then follows it
    t.join(PATIENCE)
    u.join(PATIENCE)
    assert out == [1] and second == [2]
    assert links_check(a) == 3


@pytest.mark.postgres
def test_one_server_at_a_time_holds_the_signing_lease(
    servers: tuple[Store, Store, str],
) -> None:
    a, b, url = servers
    holding = threading.Event()
    release = threading.Event()
    ended = threading.Event()

    def holder(tx: Tx) -> bool:
        held = tx.checkpoints.lease()
        holding.set()
        assert release.wait(PATIENCE)
        tx.checkpoints.keep(1, "signed by the holder", T0)
        ended.set()
        return held

    def next_one(tx: Tx) -> bool:
        assert tx.checkpoints.lease()
        newest = tx.checkpoints.newest()  # what the holder kept is seen under the lease
        return ended.is_set() and newest is not None and newest.note == "signed by the holder"

    out: list[bool] = []
    t = threading.Thread(target=lambda: out.append(a.write_sync(holder)))
    t.start()
    assert holding.wait(PATIENCE)
    got: list[bool] = []
    u = threading.Thread(target=lambda: got.append(b.write_sync(next_one)))
    u.start()
    _until(lambda: _waiting_for_a_lock(url))
    assert got == []
    release.set()
    t.join(PATIENCE)
    u.join(PATIENCE)
    assert out == [True] and got == [True]


@pytest.mark.postgres
def test_the_lease_passes_when_its_holder_dies(servers: tuple[Store, Store, str]) -> None:
    import psycopg

    a, _, url = servers
    holder = psycopg.connect(url)  # a server in its signing turn ...
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (pg_audit.SIGNING_LEASE,))
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(a.write_sync(lambda tx: tx.checkpoints.lease())))
    t.start()
    _until(lambda: _waiting_for_a_lock(url))
    holder.close()  # ... killed: its connection closes
    t.join(PATIENCE)
    assert got == [True]


@pytest.mark.postgres
def test_a_stalled_holder_loses_the_lease(
    servers: tuple[Store, Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_audit, "LEASE_IDLE_MS", 300)
    a, b, _ = servers
    holding = threading.Event()
    taken = threading.Event()
    stalled: list[object] = []

    def stall(tx: Tx) -> None:
        tx.checkpoints.lease()
        holding.set()
        assert taken.wait(PATIENCE)  # idle in its transaction until the other has it
        tx.checkpoints.keep(1, "too late", T0)

    def run() -> None:
        try:
            a.write_sync(stall)
        except StoreError as e:
            stalled.append(e)

    t = threading.Thread(target=run)
    t.start()
    assert holding.wait(PATIENCE)
    assert b.write_sync(lambda tx: tx.checkpoints.lease())
    taken.set()
    t.join(PATIENCE)
    assert len(stalled) == 1  # PostgreSQL cut the stalled holder off; it kept nothing
    assert b.read_sync(lambda tx: tx.checkpoints.newest()) is None


@pytest.mark.postgres
def test_a_lease_that_never_comes_free_is_given_up(
    servers: tuple[Store, Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    monkeypatch.setattr(pg_audit, "LEASE_WAIT_MS", 1000)
    a, _, url = servers
    with psycopg.connect(url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (pg_audit.SIGNING_LEASE,))
        with pytest.raises(StoreError) as e:
            a.write_sync(lambda tx: tx.checkpoints.lease())
    assert e.value.message == "another server held the audit log's signing lease for over 1 s"
    assert e.value.retry_after == 1
