"""SQLite: respondents' keyed pseudonyms, their postings, links and the review queue."""

from __future__ import annotations

import sqlite3

__all__ = ["SqliteRespondents"]


class SqliteRespondents:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
