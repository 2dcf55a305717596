"""SQLite: the audit log: entries with their leaf hashes and MACs, and signed checkpoints."""

from __future__ import annotations

import sqlite3

__all__ = ["SqliteAudit", "SqliteCheckpoints"]


class SqliteAudit:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteCheckpoints:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
