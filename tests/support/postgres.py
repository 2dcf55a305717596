"""PostgreSQL for the suite: a fresh schema per test on the server at 127.0.0.1:5432
(trust auth, database ``test``), dropped afterwards.

Where no server answers, a test that needs one is skipped with the reason, except under
``CI=true``, where it fails: CI must run the PostgreSQL half of the suite, never skip it.
``SEALSYNC_TEST_POSTGRES`` names another server (a libpq URL without a schema).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

__all__ = ["SERVER", "fresh_schema", "need_postgres"]

SERVER = os.environ.get("SEALSYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable() -> str | None:
    """None if the server answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(SERVER, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(e).__name__})"
    return None


_WHY: list[str | None] = []


def need_postgres() -> None:
    """Skip the calling test (fail it under CI=true) when no PostgreSQL answers."""
    if not _WHY:
        _WHY.append(_reachable())
    why = _WHY[0]
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must run the PostgreSQL tests (.ci/run starts the server)")
    pytest.skip(f"{why}; set SEALSYNC_TEST_POSTGRES or start PostgreSQL to run these")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A store URL whose ``search_path`` is a new, empty schema; dropped on exit."""
    import psycopg

    need_postgres()
    name = f"sealsync_t_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in SERVER else "?"
    try:
        yield f"{SERVER}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
