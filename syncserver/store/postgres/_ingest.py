"""PostgreSQL: (being written: the repositories of this domain, mirroring sqlite/_ingest.py)."""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["PgUploads", "PgBundles", "PgRecords", "PgQuarantine"]


class PgUploads:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgBundles:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgRecords:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgQuarantine:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn
