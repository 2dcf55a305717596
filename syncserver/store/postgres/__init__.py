"""The PostgreSQL backend, for several servers on one database: the schema and its
migrations, the store (a connection pool, one transaction per call, retried when
PostgreSQL aborts it for a conflict with another server), and one module of repositories
per kind of thing kept, mirroring :mod:`syncserver.store.sqlite`."""

from ._audit import open_log_source
from ._schema import SCHEMA_VERSION
from ._store import PostgresStore

__all__ = ["SCHEMA_VERSION", "PostgresStore", "open_log_source"]
