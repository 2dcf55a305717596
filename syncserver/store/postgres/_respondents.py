"""PostgreSQL: respondents (being written, mirroring sqlite/_respondents.py)."""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["PgRespondents", "PgPostings", "PgLinks", "PgCandidates"]


class PgRespondents:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgPostings:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgLinks:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn


class PgCandidates:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn
