"""Published forms, and the project's own facts (``meta``: its id and public keys).

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`)."""

from __future__ import annotations

import uuid
from typing import Protocol

import msgspec

__all__ = ["FormsRepo", "MetaRepo", "StoredForm"]


class StoredForm(msgspec.Struct, frozen=True, kw_only=True):
    """A published form: one (form_id, version), its digest (``form_digest``) and its
    document (the form as msgpack), as published at ``published_ms``."""

    form_id: str
    version: int
    digest: str
    document: bytes
    published_ms: int


class FormsRepo(Protocol):
    """Published forms; a (form_id, version) is published once and never changes."""

    def get(self, form_id: str, version: int) -> StoredForm | None:
        """Version ``version`` of form ``form_id``, if published."""
        ...

    def versions(self, form_id: str) -> list[StoredForm]:
        """Every published version of ``form_id``, newest first."""
        ...

    def all(self) -> list[StoredForm]:
        """Every published form, by form_id, then version."""
        ...

    def add(self, form: StoredForm) -> None:
        """Publish a new (form_id, version)."""
        ...


class MetaRepo(Protocol):
    """The project's own facts, written once when it is created, and the store's
    schema version."""

    def schema_version(self) -> int:
        """The schema version the store is at (0: an empty store)."""
        ...

    def project_id(self) -> uuid.UUID | None:
        """The id of the project this store belongs to; None if it names none (or
        something that is not an id)."""
        ...

    def set_project(
        self, project_id: uuid.UUID, *, recipient_public: bytes, signing_public: bytes
    ) -> None:
        """Record, once, the project's id and public keys (X25519 recipient, Ed25519
        signing)."""
        ...
