"""The SQLite backend: the embedded default (WAL, one writer thread with group commit,
readers in a pool). Everything SQLite-specific lives here: the schema and its migrations,
the connection, and one module of repositories per kind of thing kept."""

from ._audit import open_log_source
from ._schema import SCHEMA_VERSION
from ._store import SqliteStore

__all__ = ["SCHEMA_VERSION", "SqliteStore", "open_log_source"]
