"""The repository tests run on every backend: ``store`` is a bare store (no project) on
SQLite and on PostgreSQL (a fresh schema), opened with a synthetic audit MAC key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import fresh_schema

from syncserver.store import Store, open_store

#: A synthetic MAC key for the audit log (tests only).
AUDIT_KEY = bytes(range(32))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store("sqlite:store.db", tmp_path, audit_key=AUDIT_KEY)
        try:
            yield s
        finally:
            s.close()
        return
    with fresh_schema() as url:
        s = open_store(url, tmp_path, audit_key=AUDIT_KEY)
        try:
            yield s
        finally:
            s.close()
