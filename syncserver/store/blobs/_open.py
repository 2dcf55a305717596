"""Choosing the blob store from ``[store] url``: a PostgreSQL store keeps blobs in its
database, a SQLite one in ``DIR/blobs`` and ``DIR/uploads``."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from .._open import is_postgres
from ._api import Blobs
from ._local import LocalBlobs

__all__ = ["open_blobs"]


def open_blobs(url: str, root: Path, *, readonly: bool = False) -> Blobs:
    """The blob store beside the store ``url`` names (the project directory ``root`` for
    SQLite). ``readonly``: for reading stored bundles only (nothing is made or written).
    PostgreSQL: connections are made on first use; the schema is the store's (open the
    store first: it migrates)."""
    if is_postgres(url):
        from ._postgres import PgBlobs

        return PgBlobs(url, readonly=readonly)
    if url.startswith("sqlite:"):
        return LocalBlobs(root, readonly=readonly)
    raise ConfigError(
        "[store] url names no store sealsync knows",
        hint="use sqlite:FILE or postgresql://USER@HOST:PORT/DB",
    )
