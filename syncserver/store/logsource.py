"""The audit log as an auditor reads it: :class:`LogSource`, a read-only view of a store
that needs no key, and :func:`open_log_source`.

This is the whole of the store that :mod:`syncserver.audit.verify` (the verifier, which
shares no code with the writer) sees: it never meets a transaction, a repository or the
MAC key. Rows come as stored, unchecked (:class:`RawEntry` …): the verifier checks them.
"""

from __future__ import annotations

from pathlib import Path

from ._audit import (
    Kept,
    LogSource,
    RawAdminToken,
    RawCheckpoint,
    RawDevice,
    RawEnrollToken,
    RawEntry,
    RawNames,
    RawReceipt,
)
from .sqlite import open_log_source as _open_sqlite

__all__ = [
    "Kept",
    "LogSource",
    "RawAdminToken",
    "RawCheckpoint",
    "RawDevice",
    "RawEnrollToken",
    "RawEntry",
    "RawNames",
    "RawReceipt",
    "open_log_source",
]


def open_log_source(where: Path | str) -> LogSource | None:
    """The audit log of the store ``where`` names (a SQLite file's path, or a
    ``postgresql://`` URL), read-only, in one snapshot; None when it is a database that
    holds no audit log. Raises :class:`~syncserver.errors.StoreError` when it cannot be
    opened or read."""
    if isinstance(where, str):
        from .postgres import open_log_source as _open_postgres

        return _open_postgres(where)
    return _open_sqlite(where)
