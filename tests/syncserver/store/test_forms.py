"""The forms and meta repositories (tx.forms, tx.meta) on a bare store (synthetic rows),
on every backend."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from support.postgres import fresh_schema

from syncserver.store import SCHEMA_VERSION, SqliteStore, Store, StoredForm
from syncserver.store.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from syncserver.store.postgres import PostgresStore

T0 = 1_700_000_000_000


def _form(form_id: str, version: int) -> StoredForm:
    return StoredForm(
        form_id=form_id,
        version=version,
        digest=f"{form_id}-{version}".ljust(64, "0"),
        document=b"doc %s %d" % (form_id.encode(), version),
        published_ms=T0 + version,
    )


def test_published_forms_are_found_by_id_and_version(store: Store) -> None:
    forms = [_form("b", 1), _form("a", 2), _form("a", 1), _form("a", 10), _form("B", 1)]
    for f in forms:
        store.write_sync(lambda tx, f=f: tx.forms.add(f))
    assert store.read_sync(lambda tx: tx.forms.get("a", 2)) == _form("a", 2)
    assert store.read_sync(lambda tx: tx.forms.get("a", 3)) is None
    assert store.read_sync(lambda tx: tx.forms.get("c", 1)) is None
    assert [(f.form_id, f.version) for f in store.read_sync(lambda tx: tx.forms.all())] == [
        ("B", 1),  # ids in byte order, as SQLite compares them
        ("a", 1),
        ("a", 2),
        ("a", 10),
        ("b", 1),
    ]
    assert [f.version for f in store.read_sync(lambda tx: tx.forms.versions("a"))] == [10, 2, 1]
    assert store.read_sync(lambda tx: tx.forms.versions("c")) == []
    got = store.read_sync(lambda tx: tx.forms.get("b", 1))
    assert got is not None and type(got.document) is bytes


def test_the_project_facts_are_recorded_once(store: Store) -> None:
    assert store.read_sync(lambda tx: tx.meta.project_id()) is None
    pid = uuid.UUID("01890000-0000-7000-8000-000000000001")
    store.write_sync(
        lambda tx: tx.meta.set_project(pid, recipient_public=b"r" * 32, signing_public=b"s" * 32)
    )
    assert store.read_sync(lambda tx: tx.meta.project_id()) == pid


def test_a_project_id_that_is_not_an_id_is_none(store: Store, tmp_path: Path) -> None:
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(tmp_path / "store.db")
        conn.execute("INSERT INTO meta (key, value) VALUES ('project_id', ?)", (b"short",))
        conn.commit()
        conn.close()
    else:
        import psycopg

        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.url, autocommit=True) as pg:
            pg.execute("INSERT INTO meta (key, value) VALUES ('project_id', %s)", (b"short",))
    assert store.read_sync(lambda tx: tx.meta.project_id()) is None


def test_the_schema_version_is_the_stores(store: Store) -> None:
    want = SCHEMA_VERSION if isinstance(store, SqliteStore) else PG_SCHEMA_VERSION
    assert store.read_sync(lambda tx: tx.meta.schema_version()) == want


def test_a_store_never_migrated_has_schema_0_on_sqlite(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    empty = SqliteStore(tmp_path / "empty.db")  # not opened: read-only, never migrated
    try:
        assert empty.read_sync(lambda tx: tx.meta.schema_version()) == 0
    finally:
        empty.close()


@pytest.mark.postgres
def test_a_database_never_migrated_has_schema_0_on_postgres() -> None:
    """An empty database (read-only: never migrated) is schema 0, as SQLite's empty file,
    so that a read-only command says to start the server once rather than failing."""
    with fresh_schema() as url:
        empty = PostgresStore(url, readonly=True).open()
        try:
            assert empty.read_sync(lambda tx: tx.meta.schema_version()) == 0
        finally:
            empty.close()
