"""Published forms: what the server validates records against (docs/spec/api-v1.md §6).

A form is published once per (id, version); publishing the same document again is a
no-op, and a different document under a published version is refused (form_digest
tells them apart). Records are validated only against exactly the version they name.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import msgspec

from schemas.survey import Form, form_digest
from schemas.wire import FormSet, PublishedFormDoc, SignedFormSet, sign_formset

from ._time import from_ms, ms
from .audit.entries import AuditEntry, append
from .errors import SyncServerError
from .project import Project
from .store import StoredForm, Tx

__all__ = [
    "signed_form_set",
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
    row = StoredForm(
        form_id=form.id,
        version=form.version,
        digest=digest,
        document=msgspec.msgpack.encode(form),
        published_ms=ms(now),
    )

    def tx(tx: Tx) -> bool:
        there = tx.forms.get(form.id, form.version)
        if there is not None:
            if there.digest != digest:
                raise FormConflict(
                    f"form '{form.id}' v{form.version} is already published with other content",
                    hint="give the changed form a new version number",
                )
            return False
        tx.forms.add(row)
        append(
            tx,
            AuditEntry(
                kind="form_publish",
                at_ms=row.published_ms,
                actor=actor,
                subject=f"{form.id}@{form.version}",
                detail={"digest": digest},
            ),
        )
        return True

    result: bool = project.store.write_sync(tx)
    return result


def list_forms(project: Project) -> list[PublishedForm]:
    rows = project.store.read_sync(lambda tx: tx.forms.all())
    return [PublishedForm(f.form_id, f.version, f.digest, from_ms(f.published_ms)) for f in rows]


async def signed_form_set(project: Project, *, now: datetime.datetime) -> SignedFormSet:
    """Every published form, in one set signed by the project (``GET /v1/forms``)."""

    def read(tx: Tx) -> list[PublishedFormDoc]:
        return [
            PublishedFormDoc(
                form_id=f.form_id, version=f.version, digest=f.digest, document=f.document
            )
            for f in tx.forms.all()
        ]

    docs = await project.store.read(read)
    return sign_formset(FormSet(issued_at=now, forms=docs), project.identity.signing)
