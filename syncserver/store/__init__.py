"""The central store (SQLite now; PostgreSQL behind the same interface next)."""

from ._sqlite import SqliteStore

__all__ = ["SqliteStore"]
