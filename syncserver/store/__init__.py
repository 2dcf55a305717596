"""The central store (SQLite now; PostgreSQL behind the same interface next)."""

from ._schema import SCHEMA_VERSION
from ._sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "SqliteStore"]
