"""The audit repositories (tx.audit, tx.checkpoints) and the auditor's read-only view
(LogSource) on a bare store, with synthetic entries."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncserver._fs import disk_full
from syncserver.errors import StorageFull, StoreError
from syncserver.store import (
    MAC_FROM_KEY,
    Leaf,
    SqliteStore,
    StoredEntry,
    Tx,
    chain_mac,
    mac_from_marker,
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

KEY = bytes(range(32))
T0 = 1_700_000_000_000


def entry(n: int) -> bytes:
    return b"synthetic entry %d" % n


def leaf(raw: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + raw).digest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(db, audit_key=KEY).open()
    try:
        yield s
    finally:
        s.close()


def append(store: SqliteStore, *ns: int) -> list[int]:
    def write(tx: Tx) -> list[int]:
        return [tx.audit.append(entry(n), leaf(entry(n))) for n in ns]

    return store.write_sync(write)


def sql(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Rows other repositories write (or a hand edit), put in with SQLite itself."""
    conn = sqlite3.connect(db)
    with conn:
        for q, params in statements:
            conn.execute(q, params)
    conn.close()


# -- tx.audit -----------------------------------------------------------------------------


def test_appends_get_dense_indexes_and_a_chained_mac(store: SqliteStore) -> None:
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
    # made with the chain: from the first entry on
    assert store.read_sync(lambda tx: tx.audit.mac_from()) == mac_from_marker(KEY, 0)


def test_an_index_rolled_back_is_given_again(store: SqliteStore) -> None:
    append(store, 0)

    def fails(tx: Tx) -> None:
        assert tx.audit.append(entry(1), leaf(entry(1))) == 1
        raise ValueError("synthetic failure after the append")

    with pytest.raises(ValueError):
        store.write_sync(fails)
    assert append(store, 2) == [1]  # no gap: the index of the rolled-back entry again
    links = store.read_sync(lambda tx: tx.audit.links(0))
    assert links[1].mac == chain_mac(KEY, links[0].mac, 1, leaf(entry(2)))


def test_a_store_opened_without_the_key_cannot_append(db: Path) -> None:
    s = SqliteStore(db).open()
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


def test_migration_4_marks_where_the_chain_starts(db: Path) -> None:
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


def test_a_checkpoint_is_kept_once_per_size(store: SqliteStore, db: Path) -> None:
    store.write_sync(lambda tx: tx.checkpoints.keep(7, "note at 7", T0))
    store.write_sync(lambda tx: tx.checkpoints.keep(3, "note at 3", T0 + 1))
    store.write_sync(lambda tx: tx.checkpoints.keep(7, "another note at 7", T0 + 2))
    source = opened(db)
    try:
        assert list(source.checkpoints(batch=1)) == [
            RawCheckpoint(3, "note at 3"),
            RawCheckpoint(7, "note at 7"),
        ]
    finally:
        source.close()


# -- the auditor's view -------------------------------------------------------------------


def opened(db: Path) -> LogSource:
    source = open_log_source(db)
    assert source is not None
    return source


@pytest.fixture
def full(store: SqliteStore, db: Path) -> Path:
    """A store with entries 0-5, two checkpoints, receipts, a device and two tokens."""
    pid = uuid.UUID("01890000-0000-7000-8000-0000000000aa")
    store.write_sync(
        lambda tx: tx.meta.set_project(pid, recipient_public=b"r" * 32, signing_public=b"s" * 32)
    )
    append(store, 0, 1, 2, 3, 4, 5)
    store.write_sync(lambda tx: tx.checkpoints.keep(4, "cp 4", T0))
    bundle = "INSERT INTO bundles VALUES (?, ?, 1, ?, ?, 'accepted', ?, 0)"
    sql(
        db,
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
            "INSERT INTO enroll_tokens VALUES (?, 'kit 2', ?, ?, NULL, NULL)",
            (b"e" * 32, T0 + 2, T0 + 3),
        ),
        ("INSERT INTO admin_tokens VALUES (?, 'auditor', 'ops', ?, NULL)", (b"a" * 32, T0 + 4)),
    )
    return db


def test_the_log_source_streams_the_log_as_stored(full: Path) -> None:
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


def test_receipts_come_in_any_order_or_by_the_callers_rank(full: Path) -> None:
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


def test_the_tables_the_log_binds_are_read_in_order(full: Path) -> None:
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


def test_the_log_source_reads_one_snapshot(store: SqliteStore, db: Path) -> None:
    append(store, 0, 1)
    source = opened(db)
    try:
        assert source.names() == RawNames(None, None)  # the snapshot starts here
        append(store, 2)
        assert [e.index for e in source.entries(batch=10)] == [0, 1]
    finally:
        source.close()
    source = opened(db)
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


def test_what_is_not_a_log_is_told_apart(tmp_path: Path) -> None:
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


def test_the_log_source_never_writes(full: Path) -> None:
    before = full.read_bytes()
    source = opened(full)
    try:
        list(source.receipts(batch=1, rank=lambda raw: 0))  # a function, not a write
        list(source.entries(batch=1))
    finally:
        source.close()
    assert full.read_bytes() == before


# -- a full disk, recognised where it happens ---------------------------------------------


def test_a_full_database_is_the_stores_to_recognise(store: SqliteStore) -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert not disk_full(full)  # the file-system check knows files only
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))

    def fails(tx: Tx) -> None:
        raise full

    with pytest.raises(StorageFull):
        store.write_sync(fails)
