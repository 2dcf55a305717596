"""SQLite: published forms, and the project's own facts (``meta``: its id and public keys)."""

from __future__ import annotations

import sqlite3

__all__ = ["SqliteForms", "SqliteMeta"]


class SqliteForms:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteMeta:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
