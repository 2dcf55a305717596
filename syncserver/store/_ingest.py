"""Uploads announced and in progress, bundles received, the records merged from them and
what went to quarantine.

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`). Ids are :class:`uuid.UUID`, times Unix milliseconds,
states the enums below (their values are what the database stores)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Iterator
from typing import Protocol

import msgspec

__all__ = [
    "Bundle",
    "BundleState",
    "BundlesRepo",
    "CurrentRecord",
    "Quarantined",
    "QuarantineRepo",
    "RecordKey",
    "RecordSource",
    "RecordStatus",
    "RecordsRepo",
    "ReviewState",
    "StoredRecord",
    "Upload",
    "UploadsRepo",
]


class BundleState(enum.StrEnum):
    """Where a received bundle is in ingest (docs/spec/api-v1.md §5)."""

    STORED = "stored"  # durable, not yet (or again) opened and merged
    ACCEPTED = "accepted"  # opened; its valid records merged
    QUARANTINED = "quarantined"  # could not be opened, or its device could not seal it


class RecordStatus(enum.StrEnum):
    """What one stored version of a record is to the dataset."""

    CURRENT = "current"  # the version that counts
    SUPERSEDED = "superseded"  # history: a newer version arrived, or a conflict was resolved
    CONFLICT = "conflict"  # same version, other content: waiting for a reviewer


class ReviewState(enum.StrEnum):
    """A data manager's review of a record's current version (as in ODK Central)."""

    RECEIVED = "received"
    HAS_ISSUES = "has_issues"
    APPROVED = "approved"
    REJECTED = "rejected"


class Upload(msgspec.Struct, frozen=True):
    """An upload announced by a device; ``completed_ms`` once its bundle is persisted."""

    bundle_id: uuid.UUID
    device_id: uuid.UUID
    size: int
    sha256: bytes
    created_ms: int
    completed_ms: int | None


class Bundle(msgspec.Struct, frozen=True):
    """A bundle received and kept (its bytes are the blob named by ``sha256``).
    ``audit_index`` is its ``upload`` audit entry; ``receipt`` the signed receipt, once
    one was sent (msgpack of :class:`schemas.wire.Receipt`)."""

    bundle_id: uuid.UUID
    sha256: bytes
    size: int
    device_id: uuid.UUID
    received_ms: int
    state: BundleState
    receipt: bytes | None
    audit_index: int | None


class RecordKey(msgspec.Struct, frozen=True):
    """One stored version of a record, as the merge and the conflict review tell them
    apart: a record id, a version and the SHA-256 of the version's content."""

    record_id: uuid.UUID
    version: int
    sha256: bytes


class StoredRecord(msgspec.Struct, frozen=True):
    """One stored version of a record. ``answers`` is the record (msgpack of
    :class:`schemas.wire.Record`) with its plain answers only; ``sealed`` its sensitive
    answers, encrypted with the store key (:mod:`syncserver.records.sensitive`)."""

    record_id: uuid.UUID
    version: int
    sha256: bytes
    status: RecordStatus
    review: ReviewState
    form_id: str
    form_version: int
    bundle_id: uuid.UUID
    device_id: uuid.UUID
    received_ms: int
    answers: bytes
    sealed: bytes | None

    def __repr__(self) -> str:  # answers are testimony: never in a repr
        return f"StoredRecord({self.record_id} v{self.version} {self.status})"


class CurrentRecord(msgspec.Struct, frozen=True):
    """A current record as an export reads it: ``respondent`` is the respondent cluster
    its interview belongs to (None before it was registered); ``sealed`` is None unless
    asked for."""

    record_id: uuid.UUID
    version: int
    sha256: bytes
    answers: bytes
    sealed: bytes | None
    review: ReviewState
    received_ms: int
    respondent: uuid.UUID | None

    def __repr__(self) -> str:  # answers are testimony: never in a repr
        return f"CurrentRecord({self.record_id} v{self.version})"


class RecordSource(msgspec.Struct, frozen=True):
    """Where a record's version came from: the bundle's blob (its SHA-256) and the
    device that sealed it."""

    bundle_sha256: bytes
    device_id: uuid.UUID


class Quarantined(msgspec.Struct, frozen=True):
    """An item in quarantine: a whole bundle (no ``record_id``) or one of its records.
    ``reason`` is private (never sent to the uploader); ``problems`` is msgpack of
    ``list[schemas.errors.Problem]``."""

    id: int
    bundle_id: uuid.UUID
    record_id: uuid.UUID | None
    version: int | None
    reason: str
    problems: bytes | None
    created_ms: int
    released_ms: int | None


class UploadsRepo(Protocol):
    """Uploads announced by devices (docs/spec/api-v1.md §4).

    Several servers may share the store: what is read and then written on that basis
    must be made atomic by the method that writes (:meth:`announce` inserts only what
    is not there, :meth:`forget` deletes only what is still open), or serialised with
    :meth:`lock_device`."""

    def get(self, bundle_id: uuid.UUID) -> Upload | None:
        """The upload announced for ``bundle_id``, if any."""
        ...

    def open_count(self, device_id: uuid.UUID) -> int:
        """How many uploads ``device_id`` announced and has not completed."""
        ...

    def announce(
        self, bundle_id: uuid.UUID, device_id: uuid.UUID, size: int, sha256: bytes, at_ms: int
    ) -> bool:
        """A new upload, unless ``bundle_id`` was announced already (by anyone, on any
        server: the upload announced first stays, unchanged); whether it is new. An
        announcement another transaction made and has not committed is waited for: when
        this answers False, :meth:`get` in the same transaction reads the upload."""
        ...

    def lock_device(self, device_id: uuid.UUID) -> None:
        """Serialise the announcements of one device, until this transaction ends:
        another transaction that locks the same device's uploads waits, and then reads
        what this one wrote. Take it before counting the device's open uploads against
        a cap and announcing one, so that the cap holds across servers. (PostgreSQL: an
        advisory transaction lock, apart from the device's row, which merges lock;
        SQLite, with one writer, needs none.)"""
        ...

    def complete(self, bundle_id: uuid.UUID, at_ms: int) -> None:
        """The upload's bundle is persisted."""
        ...

    def open_before(self, cutoff_ms: int) -> list[uuid.UUID]:
        """The uploads announced before ``cutoff_ms`` and not completed."""
        ...

    def forget(self, bundle_id: uuid.UUID) -> bool:
        """Delete the upload if it is still open and no bundle was persisted under its
        id; whether it was deleted."""
        ...


class BundlesRepo(Protocol):
    """Bundles received and kept."""

    def get(self, bundle_id: uuid.UUID) -> Bundle | None: ...

    def lock(self, bundle_id: uuid.UUID) -> None:
        """Serialise the transactions that persist ``bundle_id``, until this one ends:
        another transaction that locks the same id waits, and then reads what this one
        wrote. Take it before :meth:`get` when a missing bundle will be added, so that
        two servers completing one upload add it (and log it) once. (PostgreSQL: an
        advisory transaction lock; SQLite, with one writer, needs none.)"""
        ...

    def add(
        self,
        bundle_id: uuid.UUID,
        *,
        sha256: bytes,
        size: int,
        device_id: uuid.UUID,
        received_ms: int,
        audit_index: int,
    ) -> None:
        """A bundle just persisted, in state ``stored`` (its id is new: see :meth:`lock`)."""
        ...

    def set_state(self, bundle_id: uuid.UUID, state: BundleState) -> None: ...

    def settle(self, bundle_id: uuid.UUID, state: BundleState) -> bool:
        """A ``stored`` bundle becomes ``state`` (accepted or quarantined), if it is
        still stored; whether it moved. Of two transactions settling one bundle, the
        second waits for the first to end and then answers False (the first one's
        outcome stands): ingest does its work only when this answers True."""
        ...

    def keep_receipt(self, bundle_id: uuid.UUID, receipt: bytes) -> bytes:
        """Keep ``receipt`` as the bundle's receipt, unless it has one already; the
        receipt kept. A bundle has one receipt: when two servers sign one at once, the
        one committed first is kept, and the other answers it too."""
        ...

    def in_state(self, state: BundleState) -> list[uuid.UUID]:
        """The ids of the bundles in ``state``, in id order."""
        ...


class RecordsRepo(Protocol):
    """Every stored version of every record. A record's versions are told apart by
    (version, SHA-256): the same version may be stored twice, with other content, as a
    conflict."""

    def lock(self, record_ids: Iterable[uuid.UUID]) -> None:
        """Serialise the transactions that merge versions of these records, until this
        one ends: another transaction that locks one of them waits, and then reads what
        this one wrote. Take every lock a transaction needs in one call, before the
        first :meth:`versions` (the locks are taken in one order, so that two merges of
        overlapping records cannot deadlock), and before the transaction's first audit
        entry (which serialises appenders until they commit). (PostgreSQL: advisory
        transaction locks; SQLite, with one writer, needs none.)"""
        ...

    def versions(self, record_id: uuid.UUID) -> list[RecordKey]:
        """The versions stored for ``record_id`` (any status, no order)."""
        ...

    def add(
        self,
        record_id: uuid.UUID,
        version: int,
        *,
        form_id: str,
        form_version: int,
        sha256: bytes,
        bundle_id: uuid.UUID,
        device_id: uuid.UUID,
        answers: bytes,
        sealed: bytes | None,
        status: RecordStatus,
        received_ms: int,
    ) -> None:
        """A new stored version, review state ``received``."""
        ...

    def mark_conflict(self, record_id: uuid.UUID, version: int) -> None:
        """Every stored content of this version of the record is in conflict."""
        ...

    def supersede_current(self, record_id: uuid.UUID) -> None:
        """The record's current version (if any) becomes history."""
        ...

    def history(self, record_id: uuid.UUID) -> list[StoredRecord]:
        """Every stored version of the record, by version, then as they arrived."""
        ...

    def conflicts(self, record_id: uuid.UUID | None = None) -> list[RecordKey]:
        """The versions in conflict (of every record, or of ``record_id``), by record
        id, version, then as they arrived."""
        ...

    def resolve_conflict(self, record_id: uuid.UUID, keep_sha256: bytes) -> None:
        """The record's conflicting versions become history, and the content
        ``keep_sha256`` of the record becomes current (under the record's :meth:`lock`,
        which this takes: a merge of the record waits for it, or it for the merge)."""
        ...

    def set_review(self, record_id: uuid.UUID, state: ReviewState) -> bool:
        """Set the review state of the record's current version; False if it has none."""
        ...

    def source(self, record_id: uuid.UUID) -> RecordSource | None:
        """Where the record's current version came from (its newest version if none is
        current); None for an unknown record."""
        ...

    def current_of_form(
        self, form_id: str, form_version: int, *, sealed: bool, batch: int
    ) -> Iterator[CurrentRecord]:
        """The current records of one form version, in arrival order, fetched
        ``batch`` at a time: memory does not grow with their number. ``sealed``: read
        the sealed answers too (else they are not even read). Consume it inside the
        read transaction that made it."""
        ...

    def unresolved_conflicts(self, form_id: str, form_version: int | None = None) -> int:
        """How many records of the form (of one version of it) are in conflict and have
        no current version."""
        ...


class QuarantineRepo(Protocol):
    """What ingest could not accept, with its reasons."""

    def add(
        self,
        bundle_id: uuid.UUID,
        reason: str,
        at_ms: int,
        *,
        record_id: uuid.UUID | None = None,
        version: int | None = None,
        problems: bytes | None = None,
    ) -> int:
        """A new item (a whole bundle, or one record of it); its id. Ids are allocated
        here, unique and increasing in the order they are allocated (with several
        writers, not necessarily in commit order, and with gaps where a transaction
        rolled back)."""
        ...

    def get(self, item_id: int) -> Quarantined | None: ...

    def items(self, *, include_released: bool = False) -> list[Quarantined]:
        """The items not released (or every item), by id."""
        ...

    def release(self, item_id: int, at_ms: int) -> bool:
        """Release an item not released yet; False (and nothing changed) if it is
        unknown or was released already, by this or another server's transaction (the
        second of two releases at once waits for the first, then answers False)."""
        ...
