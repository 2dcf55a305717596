"""SQLite: uploads announced and in progress, bundles received, the records merged from them and
what went to quarantine."""

from __future__ import annotations

import sqlite3

__all__ = ["SqliteUploads", "SqliteBundles", "SqliteRecords", "SqliteQuarantine"]


class SqliteUploads:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteBundles:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteRecords:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteQuarantine:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
