"""Choosing the backend from ``[store] url`` (docs/operations.md): ``sqlite:FILE``, the
embedded default, FILE relative to the project directory; ``postgresql://…``, several
servers on one database."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, StoreError
from ._api import Store

__all__ = ["is_postgres", "open_store"]


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql:", "postgres:"))


def open_store(
    url: str, root: Path, *, audit_key: bytes | None = None, readonly: bool = False
) -> Store:
    """The store ``url`` names, open: migrated if need be (not when ``readonly``: a
    read-only store is never written, and a store on an older schema is refused).
    ``audit_key``: the audit log's MAC key; without it nothing can be appended."""
    if is_postgres(url):
        from .postgres import PostgresStore

        pg = PostgresStore(url, audit_key=audit_key, readonly=readonly).open()
        if readonly:
            from .postgres import SCHEMA_VERSION as PG_VERSION

            _current(pg, PG_VERSION)
        return pg
    if url.startswith("sqlite:"):
        from .sqlite import SCHEMA_VERSION, SqliteStore

        path = root / url.removeprefix("sqlite:")
        if readonly:
            if not path.is_file():
                raise StoreError(
                    f"no store at {path}", hint="restore store.db from a backup, or check --dir"
                )
            lite = SqliteStore(path)  # not open()ed: read-only connections, made on use
            _current(lite, SCHEMA_VERSION)
            return lite
        return SqliteStore(path, audit_key=audit_key).open()
    raise ConfigError(
        "[store] url names no store sealsync knows",
        hint="use sqlite:FILE or postgresql://USER@HOST:PORT/DB",
    )


def _current(store: Store, version: int) -> None:
    """Refuse (and close) a store opened read-only whose schema is not this sealsync's:
    a read-only open never migrates."""
    try:
        have = store.read_sync(lambda tx: tx.meta.schema_version())
        if have > version:
            raise StoreError(
                f"the store was written by a newer sealsync (schema {have})",
                hint="upgrade sealsync before opening this project",
            )
        if have < version:
            raise StoreError(
                f"the store has schema {have}; this sealsync reads schema {version}",
                hint="start the server once (`syncserver run`): it upgrades the store",
            )
    except BaseException:
        store.close()
        raise
