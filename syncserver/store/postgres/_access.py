"""PostgreSQL: (being written: the repositories of this domain, mirroring sqlite/_access.py)."""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["PgDevices", "PgEnrollTokens", "PgAdminTokens"]


class PgDevices:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgEnrollTokens:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgAdminTokens:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn
