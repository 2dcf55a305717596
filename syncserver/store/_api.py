"""The store's interface: what the rest of the server sees of the database.

A :class:`Store` runs a function in a transaction and hands it a :class:`Tx`, whose
attributes are typed repositories, one per kind of thing kept (``tx.devices``,
``tx.bundles``, ``tx.records``, ``tx.audit`` …). Repositories speak in msgspec structs
and enums, never in tuples read by position or in SQL: all SQL lives under
:mod:`syncserver.store`, one folder per backend (:mod:`syncserver.store.sqlite`).

Reads see one consistent snapshot; a write transaction is durable when :meth:`Store.write`
returns (the SQLite backend group-commits concurrent writes, each in its own savepoint).
A function passed to a write may be run again if the backend retries a transaction: it
must not have effects outside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from ._access import AdminTokensRepo, DevicesRepo, EnrollTokensRepo
from ._audit import AuditRepo, CheckpointsRepo
from ._forms import FormsRepo, MetaRepo
from ._ingest import BundlesRepo, QuarantineRepo, RecordsRepo, UploadsRepo
from ._respondents import CandidatesRepo, LinksRepo, PostingsRepo, RespondentsRepo

__all__ = ["Store", "Tx"]

T = TypeVar("T")


class Tx(Protocol):
    """One transaction, and the repositories it hands out."""

    @property
    def devices(self) -> DevicesRepo: ...
    @property
    def enroll_tokens(self) -> EnrollTokensRepo: ...
    @property
    def admin_tokens(self) -> AdminTokensRepo: ...
    @property
    def forms(self) -> FormsRepo: ...
    @property
    def meta(self) -> MetaRepo: ...
    @property
    def uploads(self) -> UploadsRepo: ...
    @property
    def bundles(self) -> BundlesRepo: ...
    @property
    def records(self) -> RecordsRepo: ...
    @property
    def quarantine(self) -> QuarantineRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def checkpoints(self) -> CheckpointsRepo: ...
    @property
    def respondents(self) -> RespondentsRepo: ...
    @property
    def postings(self) -> PostingsRepo: ...
    @property
    def links(self) -> LinksRepo: ...
    @property
    def candidates(self) -> CandidatesRepo: ...


class Store(Protocol):
    """A store: transactions on one database. Open it with its backend's ``open()``."""

    def read_sync(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a read transaction (from any thread) and return its result."""
        ...

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """:meth:`read_sync` from the event loop, in a reader thread."""
        ...

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a durable write transaction; return once it is committed."""
        ...

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """:meth:`write_sync` from the event loop."""
        ...

    def close(self) -> None:
        """Finish what is queued and close. Idempotent."""
        ...
