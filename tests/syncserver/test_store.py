"""The SQLite store: migrations, durability settings, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from syncserver.errors import StorageFull, StoreError
from syncserver.store import SCHEMA_VERSION, SqliteStore


def test_wal_full_sync_and_schema_version(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "s.db").open()
    try:
        mode = s.write_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        sync = s.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert (mode, sync) == ("wal", 2)  # 2 = FULL: a commit is on disk when it returns
        version = s.read_sync(lambda c: c.execute("PRAGMA user_version").fetchone()[0])
        assert version == SCHEMA_VERSION == 5
        indexes = s.read_sync(
            lambda c: c.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        )
        assert ("uploads_open",) in indexes  # migration 3
        assert ("admin_tokens_live_label",) in indexes  # migration 5
    finally:
        s.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer sealsync"):
        SqliteStore(tmp_path / "s.db").open()


@pytest.mark.asyncio
async def test_concurrent_writes_are_group_committed_and_isolated(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "s.db").open()
    try:

        def insert(i: int):  # type: ignore[no-untyped-def]
            def tx(c: sqlite3.Connection) -> int:
                c.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", b"v"))
                if i == 7:
                    raise ValueError("this write fails on its own")
                return i

            return tx

        results = await asyncio.gather(
            *(s.write(insert(i)) for i in range(200)), return_exceptions=True
        )
        assert isinstance(results[7], ValueError)
        assert [r for i, r in enumerate(results) if i != 7] == [i for i in range(200) if i != 7]
        keys = s.read_sync(lambda c: {r[0] for r in c.execute("SELECT key FROM meta")})
        assert keys == {f"k{i}" for i in range(200) if i != 7}  # the failed one rolled back alone
        assert s.batches < 200  # fewer commits (fsyncs) than writes
    finally:
        s.close()


def test_sync_writes_share_the_writer_and_closed_store_is_one_error(tmp_path: Path) -> None:
    import threading

    s = SqliteStore(tmp_path / "s.db").open()
    threads = [
        threading.Thread(
            target=lambda i=i: s.write_sync(
                lambda c: c.execute("INSERT INTO meta VALUES (?, ?)", (f"t{i}", b"v"))
            )
        )
        for i in range(50)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM meta").fetchone()[0]) == 50
    assert s.batches <= 50
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.write_sync(lambda c: None)


def test_a_full_database_is_storage_full_and_loses_nothing(tmp_path: Path) -> None:
    """SQLITE_FULL (here a real one: the database may not grow) is StorageFull, which the
    API answers 507; the failed write leaves nothing, the others and earlier ones stay."""
    store = SqliteStore(tmp_path / "store.db").open()
    try:
        store.write_sync(lambda c: c.execute("CREATE TABLE t (v BLOB)"))
        store.write_sync(lambda c: c.execute("INSERT INTO t VALUES (x'01')"))
        pages = store.read_sync(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        store.write_sync(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
        with pytest.raises(StorageFull) as e:
            store.write_sync(lambda c: c.execute("INSERT INTO t VALUES (?)", (bytes(1 << 20),)))
        assert e.value.status == 507
        store.write_sync(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))
        store.write_sync(lambda c: c.execute("INSERT INTO t VALUES (x'02')"))  # space again
        rows = store.read_sync(lambda c: c.execute("SELECT v FROM t ORDER BY rowid").fetchall())
        assert rows == [(b"\x01",), (b"\x02",)]
    finally:
        store.close()


def test_an_error_of_sqlite_inside_a_write_is_a_store_error_and_alone(tmp_path: Path) -> None:
    """A write that breaks a constraint gets StoreError (never a sqlite3 error, which the
    web layer would answer with a bare 500), and rolls back alone: the others commit."""
    s = SqliteStore(tmp_path / "s.db").open()
    try:
        s.write_sync(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('a', x'00')"))
        with pytest.raises(StoreError, match=r"store write failed \(IntegrityError\)") as info:
            s.write_sync(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('a', x'01')"))
        assert not isinstance(info.value.__cause__, sqlite3.Error)
        s.write_sync(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('b', x'02')"))
        assert s.read_sync(lambda c: c.execute("SELECT key FROM meta ORDER BY key").fetchall()) == [
            ("a",),
            ("b",),
        ]
    finally:
        s.close()
