"""PostgreSQL: (being written: the repositories of this domain, mirroring sqlite/_audit.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from .._audit import LogSource

__all__ = ["PgAudit", "PgCheckpoints", "open_log_source"]


class PgAudit:
    def __init__(self, conn: psycopg.Connection[Any], audit_mac_key: bytes | None) -> None:
        self._c = conn
        self._key = audit_mac_key


class PgCheckpoints:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


def open_log_source(url: str) -> LogSource | None:
    """(being written by the audit domain: the auditor's read-only view on PostgreSQL)"""
    raise NotImplementedError
