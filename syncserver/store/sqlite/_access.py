"""SQLite: who may act: devices and their certificates, one-time enrollment tokens, role-scoped
admin tokens."""

from __future__ import annotations

import sqlite3

__all__ = ["SqliteDevices", "SqliteEnrollTokens", "SqliteAdminTokens"]


class SqliteDevices:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteEnrollTokens:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn


class SqliteAdminTokens:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
