"""Published forms: what the server validates records against (docs/spec/api-v1.md §6).

A form is published once per (id, version); publishing the same document again is a
no-op, and a different document under a published version is refused (form_digest
tells them apart). Records are validated only against exactly the version they name.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass

import msgspec

from schemas.survey import Form, form_digest

from .audit.entries import AuditEntry, append
from .errors import SyncServerError
from .project import Project

__all__ = [
    "FormConflict",
    "PublishedForm",
    "list_forms",
    "publish_form",
]


class FormConflict(SyncServerError):
    status = 409
    code = "form_conflict"


@dataclass(frozen=True)
class PublishedForm:
    form_id: str
    version: int
    digest: str
    published: datetime.datetime


def publish_form(project: Project, form: Form, *, actor: str, now: datetime.datetime) -> bool:
    """Publish ``form``; True if it is new, False if that exact document was published."""
    digest = form_digest(form)
    doc = msgspec.msgpack.encode(form)
    now_ms = int(now.timestamp() * 1000)

    def tx(conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT digest FROM forms WHERE form_id = ? AND version = ?", (form.id, form.version)
        ).fetchone()
        if row is not None:
            if row[0] != digest:
                raise FormConflict(
                    f"form '{form.id}' v{form.version} is already published with other content",
                    hint="give the changed form a new version number",
                )
            return False
        conn.execute(
            "INSERT INTO forms (form_id, version, digest, document, published_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            (form.id, form.version, digest, doc, now_ms),
        )
        append(
            conn,
            AuditEntry(
                kind="form_publish",
                at_ms=now_ms,
                actor=actor,
                subject=f"{form.id}@{form.version}",
                detail={"digest": digest},
            ),
        )
        return True

    result: bool = project.store.write_sync(tx)
    return result


def list_forms(project: Project) -> list[PublishedForm]:
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT form_id, version, digest, published_ms FROM forms ORDER BY form_id, version"
        ).fetchall()
    )
    return [
        PublishedForm(r[0], r[1], r[2], datetime.datetime.fromtimestamp(r[3] / 1000, datetime.UTC))
        for r in rows
    ]
