"""SQLite: published forms, and the project's own facts (``meta``: its id and public keys,
one row each; the schema version is SQLite's ``user_version``)."""

from __future__ import annotations

import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from .._forms import StoredForm

if TYPE_CHECKING:
    from .._forms import FormsRepo, MetaRepo

__all__ = ["SqliteForms", "SqliteMeta"]

_FORM = "SELECT form_id, version, digest, document, published_ms FROM forms"


def _form(r: Any) -> StoredForm:
    return StoredForm(form_id=r[0], version=r[1], digest=r[2], document=r[3], published_ms=r[4])


class SqliteForms:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def get(self, form_id: str, version: int) -> StoredForm | None:
        r = self._c.execute(
            _FORM + " WHERE form_id = ? AND version = ?", (form_id, version)
        ).fetchone()
        return None if r is None else _form(r)

    def versions(self, form_id: str) -> list[StoredForm]:
        return [
            _form(r)
            for r in self._c.execute(_FORM + " WHERE form_id = ? ORDER BY version DESC", (form_id,))
        ]

    def all(self) -> list[StoredForm]:
        return [_form(r) for r in self._c.execute(_FORM + " ORDER BY form_id, version")]

    def add(self, form: StoredForm) -> None:
        f = form
        self._c.execute(
            "INSERT INTO forms (form_id, version, digest, document, published_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            (f.form_id, f.version, f.digest, f.document, f.published_ms),
        )


class SqliteMeta:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def schema_version(self) -> int:
        (version,) = self._c.execute("PRAGMA user_version").fetchone()
        return int(version)

    def project_id(self) -> uuid.UUID | None:
        r = self._c.execute("SELECT value FROM meta WHERE key = 'project_id'").fetchone()
        if r is None or not isinstance(r[0], bytes) or len(r[0]) != 16:
            return None
        return uuid.UUID(bytes=r[0])

    def set_project(
        self, project_id: uuid.UUID, *, recipient_public: bytes, signing_public: bytes
    ) -> None:
        self._c.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("project_id", project_id.bytes),
                ("recipient_public", recipient_public),
                ("signing_public", signing_public),
            ],
        )


if TYPE_CHECKING:  # mypy checks that these classes implement the interface

    def _implements(c: sqlite3.Connection) -> tuple[FormsRepo, MetaRepo]:
        return SqliteForms(c), SqliteMeta(c)
