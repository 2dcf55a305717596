"""PostgreSQL: published forms, and the project's own facts (``meta``: its id and public
keys, one row each; the schema version is the ``schema_version`` table's)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import psycopg

from .._forms import StoredForm

if TYPE_CHECKING:
    from .._forms import FormsRepo, MetaRepo

__all__ = ["PgForms", "PgMeta"]

_FORM = "SELECT form_id, version, digest, document, published_ms FROM forms"


def _form(r: Any) -> StoredForm:
    return StoredForm(
        form_id=r[0], version=r[1], digest=r[2], document=bytes(r[3]), published_ms=r[4]
    )


class PgForms:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def get(self, form_id: str, version: int) -> StoredForm | None:
        r = self._c.execute(
            _FORM + " WHERE form_id = %s AND version = %s", (form_id, version)
        ).fetchone()
        return None if r is None else _form(r)

    def versions(self, form_id: str) -> list[StoredForm]:
        rows = self._c.execute(_FORM + " WHERE form_id = %s ORDER BY version DESC", (form_id,))
        return [_form(r) for r in rows]

    def all(self) -> list[StoredForm]:
        return [_form(r) for r in self._c.execute(_FORM + " ORDER BY form_id, version")]

    def add(self, form: StoredForm) -> None:
        f = form
        self._c.execute(
            "INSERT INTO forms (form_id, version, digest, document, published_ms)"
            " VALUES (%s, %s, %s, %s, %s)",
            (f.form_id, f.version, f.digest, f.document, f.published_ms),
        )


class PgMeta:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._c = conn

    def schema_version(self) -> int:
        # 0 for a database never migrated: PostgreSQL refuses a statement naming a table
        # that does not exist, whatever its WHERE says, so ask whether it exists first.
        exists = self._c.execute("SELECT to_regclass('schema_version')").fetchone()
        if exists is None or exists[0] is None:
            return 0
        r = self._c.execute("SELECT version FROM schema_version").fetchone()
        return 0 if r is None else int(r[0])

    def project_id(self) -> uuid.UUID | None:
        r = self._c.execute("SELECT value FROM meta WHERE key = 'project_id'").fetchone()
        if r is None or len(r[0]) != 16:
            return None
        return uuid.UUID(bytes=bytes(r[0]))

    def set_project(
        self, project_id: uuid.UUID, *, recipient_public: bytes, signing_public: bytes
    ) -> None:
        with self._c.cursor() as cur:
            cur.executemany(
                "INSERT INTO meta (key, value) VALUES (%s, %s)",
                [
                    ("project_id", project_id.bytes),
                    ("recipient_public", recipient_public),
                    ("signing_public", signing_public),
                ],
            )


if TYPE_CHECKING:  # mypy checks that these classes implement the interface

    def _implements(c: psycopg.Connection[Any]) -> tuple[FormsRepo, MetaRepo]:
        return PgForms(c), PgMeta(c)
