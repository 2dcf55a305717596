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

While the code moves behind this interface (issue 12), a transaction also still answers
``execute`` as a database connection does; that goes once nothing calls it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, overload

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

    # Transitional (issue 12): SQL still written outside the store. Goes once unused.
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class Store(Protocol):
    """A store: transactions on one database. Open it with its backend's ``open()``."""

    @overload
    def read_sync(self, fn: Callable[[Tx], T]) -> T: ...
    @overload
    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...
    def read_sync(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in a read transaction (from any thread) and return its result."""
        ...

    @overload
    async def read(self, fn: Callable[[Tx], T]) -> T: ...
    @overload
    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...
    async def read(self, fn: Callable[[Any], T]) -> T:
        """:meth:`read_sync` from the event loop, in a reader thread."""
        ...

    @overload
    def write_sync(self, fn: Callable[[Tx], T]) -> T: ...
    @overload
    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...
    def write_sync(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in a durable write transaction; return once it is committed."""
        ...

    @overload
    async def write(self, fn: Callable[[Tx], T]) -> T: ...
    @overload
    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...
    async def write(self, fn: Callable[[Any], T]) -> T:
        """:meth:`write_sync` from the event loop."""
        ...

    def close(self) -> None:
        """Finish what is queued and close. Idempotent."""
        ...
