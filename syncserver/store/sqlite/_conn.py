"""A SQLite connection that is also a transaction of the store (:class:`~.._api.Tx`):
its repositories are made on first use and kept for the connection's life."""

from __future__ import annotations

import sqlite3
from functools import cached_property
from pathlib import Path

from ._access import SqliteAdminTokens, SqliteDevices, SqliteEnrollTokens
from ._audit import SqliteAudit, SqliteCheckpoints
from ._forms import SqliteForms, SqliteMeta
from ._ingest import SqliteBundles, SqliteQuarantine, SqliteRecords, SqliteUploads
from ._respondents import SqliteCandidates, SqliteLinks, SqlitePostings, SqliteRespondents

__all__ = ["Connection", "connect"]


class Connection(sqlite3.Connection):
    """A connection with the store's repositories. The writer's may carry the audit
    log's MAC key (docs/spec/audit-log-v1.md §14.3)."""

    audit_mac_key: bytes | None = None

    @cached_property
    def devices(self) -> SqliteDevices:
        return SqliteDevices(self)

    @cached_property
    def enroll_tokens(self) -> SqliteEnrollTokens:
        return SqliteEnrollTokens(self)

    @cached_property
    def admin_tokens(self) -> SqliteAdminTokens:
        return SqliteAdminTokens(self)

    @cached_property
    def forms(self) -> SqliteForms:
        return SqliteForms(self)

    @cached_property
    def meta(self) -> SqliteMeta:
        return SqliteMeta(self)

    @cached_property
    def uploads(self) -> SqliteUploads:
        return SqliteUploads(self)

    @cached_property
    def bundles(self) -> SqliteBundles:
        return SqliteBundles(self)

    @cached_property
    def records(self) -> SqliteRecords:
        return SqliteRecords(self)

    @cached_property
    def quarantine(self) -> SqliteQuarantine:
        return SqliteQuarantine(self)

    @cached_property
    def audit(self) -> SqliteAudit:
        return SqliteAudit(self)

    @cached_property
    def checkpoints(self) -> SqliteCheckpoints:
        return SqliteCheckpoints(self)

    @cached_property
    def respondents(self) -> SqliteRespondents:
        return SqliteRespondents(self)

    @cached_property
    def postings(self) -> SqlitePostings:
        return SqlitePostings(self)

    @cached_property
    def links(self) -> SqliteLinks:
        return SqliteLinks(self)

    @cached_property
    def candidates(self) -> SqliteCandidates:
        return SqliteCandidates(self)


def connect(
    path: Path, *, readonly: bool = False, factory: type[Connection] = Connection
) -> Connection:
    """A connection to the store at ``path`` (``factory``: a subclass, for fault tests)."""
    uri = f"file:{path}?mode={'ro' if readonly else 'rwc'}"
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, factory=factory
    )
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    return conn
