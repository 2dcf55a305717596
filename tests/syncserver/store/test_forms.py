"""The forms and meta repositories (tx.forms, tx.meta) on a bare store (synthetic rows)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncserver.store import SCHEMA_VERSION, SqliteStore, StoredForm

T0 = 1_700_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db").open()
    try:
        yield s
    finally:
        s.close()


def _form(form_id: str, version: int) -> StoredForm:
    return StoredForm(
        form_id=form_id,
        version=version,
        digest=f"{form_id}-{version}".ljust(64, "0"),
        document=b"doc %s %d" % (form_id.encode(), version),
        published_ms=T0 + version,
    )


def test_published_forms_are_found_by_id_and_version(store: SqliteStore) -> None:
    forms = [_form("b", 1), _form("a", 2), _form("a", 1), _form("a", 10)]
    for f in forms:
        store.write_sync(lambda tx, f=f: tx.forms.add(f))
    assert store.read_sync(lambda tx: tx.forms.get("a", 2)) == _form("a", 2)
    assert store.read_sync(lambda tx: tx.forms.get("a", 3)) is None
    assert store.read_sync(lambda tx: tx.forms.get("c", 1)) is None
    assert [(f.form_id, f.version) for f in store.read_sync(lambda tx: tx.forms.all())] == [
        ("a", 1),
        ("a", 2),
        ("a", 10),
        ("b", 1),
    ]
    assert [f.version for f in store.read_sync(lambda tx: tx.forms.versions("a"))] == [10, 2, 1]
    assert store.read_sync(lambda tx: tx.forms.versions("c")) == []


def test_the_project_facts_are_recorded_once(store: SqliteStore) -> None:
    assert store.read_sync(lambda tx: tx.meta.project_id()) is None
    pid = uuid.UUID("01890000-0000-7000-8000-000000000001")
    store.write_sync(
        lambda tx: tx.meta.set_project(pid, recipient_public=b"r" * 32, signing_public=b"s" * 32)
    )
    assert store.read_sync(lambda tx: tx.meta.project_id()) == pid


def test_a_project_id_that_is_not_an_id_is_none(store: SqliteStore, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "store.db")
    conn.execute("INSERT INTO meta (key, value) VALUES ('project_id', ?)", (b"short",))
    conn.commit()
    conn.close()
    assert store.read_sync(lambda tx: tx.meta.project_id()) is None


def test_the_schema_version_is_the_stores(store: SqliteStore, tmp_path: Path) -> None:
    assert store.read_sync(lambda tx: tx.meta.schema_version()) == SCHEMA_VERSION
    sqlite3.connect(tmp_path / "empty.db").close()
    empty = SqliteStore(tmp_path / "empty.db")  # not opened: read-only, never migrated
    try:
        assert empty.read_sync(lambda tx: tx.meta.schema_version()) == 0
    finally:
        empty.close()
