"""The audit log: entries with their leaf hashes and MACs, and signed checkpoints
(docs/spec/audit-log-v1.md).

Row types and the repository interfaces every backend implements (the SQLite ones are
in :mod:`syncserver.store.sqlite`):

- :class:`AuditRepo` (``tx.audit``), the writer's: entries are appended inside the
  transaction that makes the change they describe, with dense indexes from 0 allocated
  by the repository, and each row gets the writer's chained MAC (§14.3), computed by
  the backend with the key it was opened with (:func:`chain_mac`).
- :class:`CheckpointsRepo` (``tx.checkpoints``): the signed checkpoints kept for auditors,
  and the lease under which one server at a time signs them (§14.5).
- :class:`LogSource`, the auditor's: a read-only view of a store opened from where it
  lies, with no key, that streams the log and the rows it binds in index order and in
  bounded memory for :mod:`syncserver.audit.verify` (public face:
  :mod:`syncserver.store.logsource`). It shares no code with the writer: it hands out
  the values as stored and checks nothing; the verifier trusts none of them.

The MAC chain is defined here, once, because every backend computes it where its key
is (the writer) and the server checks it before it serves (:mod:`syncserver.audit.log`).
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable, Iterator
from typing import Protocol

import msgspec

__all__ = [
    "MAC_FROM_KEY",
    "AuditRepo",
    "CheckpointsRepo",
    "Kept",
    "Leaf",
    "Link",
    "LogSource",
    "RawAdminToken",
    "RawCheckpoint",
    "RawDevice",
    "RawEnrollToken",
    "RawEntry",
    "RawNames",
    "RawReceipt",
    "StoredCheckpoint",
    "StoredEntry",
    "chain_mac",
    "mac_from_marker",
    "read_mac_from",
]


# -- the MAC chain (audit-log-v1.md §14.3) ------------------------------------------------

MAC_FROM_LABEL = b"sealsync/v1 audit mac from\x00"
#: The ``meta`` key that says from which index every row carries a MAC.
MAC_FROM_KEY = "audit_mac_from"
_ZERO = bytes(32)


def chain_mac(key: bytes, prev: bytes | None, index: int, leaf: bytes) -> bytes:
    """``HMAC-SHA256(K, prev ‖ index as 8 bytes big-endian ‖ leaf hash)``; ``prev`` is the
    MAC of the row before, 32 zero bytes for the first row or one that has none."""
    return hmac.new(key, (prev or _ZERO) + index.to_bytes(8, "big") + leaf, "sha256").digest()


def mac_from_marker(key: bytes, index: int) -> bytes:
    """The ``meta`` value that says rows from ``index`` on carry a MAC: the index as 8
    bytes big-endian, then ``HMAC-SHA256(K, "sealsync/v1 audit mac from\\x00" ‖ index)``."""
    n = index.to_bytes(8, "big")
    return n + hmac.new(key, MAC_FROM_LABEL + n, "sha256").digest()


def read_mac_from(key: bytes, value: object) -> int | None:
    """The index a marker names, or None if it is not one made with ``key``."""
    if not isinstance(value, bytes) or len(value) != 40:
        return None
    index = int.from_bytes(value[:8], "big")
    return index if hmac.compare_digest(mac_from_marker(key, index), value) else None


# -- the writer's side --------------------------------------------------------------------


class StoredEntry(msgspec.Struct, frozen=True):
    """An entry of the log: its index and its bytes (canonical msgpack of an audit entry)."""

    index: int
    entry: bytes


class Leaf(msgspec.Struct, frozen=True):
    """An entry's leaf hash (what the Merkle tree is built of)."""

    index: int
    leaf_hash: bytes


class Link(msgspec.Struct, frozen=True):
    """An entry's leaf hash and the writer's chained MAC over it (None for a row written
    before the store kept one: schema 3 and earlier)."""

    index: int
    leaf_hash: bytes
    mac: bytes | None


class AuditRepo(Protocol):
    """The audit log's entries, in index order.

    Indexes are dense from 0 and allocated by :meth:`append`, in the order the appending
    transactions commit, so that the log has no gap and no entry is ever renumbered.
    """

    def append(self, entry: bytes, leaf_hash: bytes) -> int:
        """Append ``entry`` (whose leaf hash the caller computed) in this transaction with
        the next index and the chained MAC over the entry before; return its index.
        Raises :class:`~syncserver.errors.StoreError` when the store was opened without
        the log's MAC key (read-only use, the key not given)."""
        ...

    def entry(self, index: int) -> bytes | None:
        """The bytes of entry ``index``, or None if there is none."""
        ...

    def latest(self, limit: int) -> list[StoredEntry]:
        """The newest ``limit`` entries, newest first."""
        ...

    def leaves(self, start: int) -> list[Leaf]:
        """The leaf hash of every entry from index ``start`` on, in index order."""
        ...

    def links(self, start: int) -> list[Link]:
        """The leaf hash and MAC of every entry from index ``start`` on, in index order."""
        ...

    def mac_from(self) -> bytes | None:
        """The stored marker (:func:`mac_from_marker`) saying from which index every
        entry carries a MAC; None when none was stored (then every entry must carry one)."""
        ...


class StoredCheckpoint(msgspec.Struct, frozen=True):
    """A signed checkpoint kept in the store: the note signed for a tree of ``size``."""

    size: int
    note: str


class CheckpointsRepo(Protocol):
    """Signed checkpoints of the log, kept for auditors (one per tree size), and the
    signing lease (docs/spec/audit-log-v1.md §14.5)."""

    def keep(self, size: int, note: str, at_ms: int) -> None:
        """Keep the signed ``note`` for a tree of ``size`` entries, made at ``at_ms``;
        a size already kept keeps its first note."""
        ...

    def newest(self) -> StoredCheckpoint | None:
        """The kept checkpoint of the largest size, None when none is kept."""
        ...

    def lease(self) -> bool:
        """Hold the log's signing lease until this transaction ends: one server at a
        time signs checkpoints. Waits while another server's transaction holds it, and
        raises :class:`~syncserver.errors.StoreError` (with ``retry_after``) when it does
        not come free in time; a holder that died or stalled loses it. True once held.

        False, taking nothing, on a store that one server alone writes (SQLite): that
        server always holds the lease and signs without asking in a transaction."""
        ...


# -- the auditor's side -------------------------------------------------------------------
#
# Values are as the store holds them, unchecked: a store edited by hand may hold anything
# in any column (a SQLite table recreated without its types, say), and the verifier names
# what it finds. Fields the verifier checks before use are typed ``object``.


class RawEntry(msgspec.Struct, frozen=True):
    """A row of the log: ``entry`` should be an audit entry, ``leaf_hash`` its hash."""

    index: int
    entry: object
    leaf_hash: object


class RawCheckpoint(msgspec.Struct, frozen=True):
    """A checkpoint the store kept: ``note`` should be a signed note for ``size``."""

    size: int
    note: object


class RawReceipt(msgspec.Struct, frozen=True):
    """A receipt the store kept with a bundle (it should be msgpack of
    :class:`schemas.wire.Receipt`); ``rank`` is what the caller's ``rank`` function made of
    it when the scan was ordered by one (:meth:`LogSource.receipts`)."""

    bundle_id: object
    receipt: object
    rank: int | None = None


class RawDevice(msgspec.Struct, frozen=True):
    """A row of the devices table, as the log binds it (audit-log-v1.md §14.2)."""

    device_id: object
    serial: object
    label: object
    public_key: object
    certificate: object
    not_before_ms: object
    not_after_ms: object
    enrolled_ms: object
    enrolled_how: object
    revoked_ms: object
    revoke_reason: object


class RawEnrollToken(msgspec.Struct, frozen=True):
    """A row of the enrollment tokens table (``token_hash``: the hash the store keeps)."""

    token_hash: object
    label: object
    created_ms: object
    expires_ms: object
    used_ms: object
    device_id: object


class RawAdminToken(msgspec.Struct, frozen=True):
    """A row of the admin tokens table (``token_hash``: the hash the store keeps)."""

    token_hash: object
    role: object
    label: object
    created_ms: object
    revoked_ms: object


class RawNames(msgspec.Struct, frozen=True):
    """What the store says it is: its project id and log signing key (None: not said)."""

    project_id: object
    signing_public: object


class Kept(enum.StrEnum):
    """What a store may keep besides the log itself (a file that is not a whole sealsync
    store may lack some)."""

    RECEIPTS = "receipts"
    DEVICES = "devices"
    ENROLL_TOKENS = "enroll_tokens"
    ADMIN_TOKENS = "admin_tokens"


class LogSource(Protocol):
    """A store's audit log, read-only, in one consistent snapshot taken when it was
    opened, for an auditor (:mod:`syncserver.audit.verify`). Scans stream: ``batch``
    rows at a time at most, so memory does not grow with the log. Reading errors raise
    :class:`~syncserver.errors.StoreError`. Close it when done."""

    def names(self) -> RawNames:
        """The project id and signing key the store names for itself."""
        ...

    def keeps(self, what: Kept) -> bool:
        """Whether the store keeps ``what`` at all (a missing part is not an empty one)."""
        ...

    def entries(
        self,
        *,
        batch: int,
        start: int | None = None,
        end: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[RawEntry]:
        """The log's rows with ``start <= index < end`` (either bound may be None), in
        index order (or newest first)."""
        ...

    def checkpoints(self, *, batch: int) -> Iterator[RawCheckpoint]:
        """The kept checkpoints, in size order."""
        ...

    def receipts(
        self, *, batch: int, rank: Callable[[object], int] | None = None
    ) -> Iterator[RawReceipt]:
        """The receipts kept with bundles: in no set order, or with ``rank`` in ascending
        order of ``rank(receipt)`` (each row carrying it), still in bounded memory."""
        ...

    def devices(self, *, batch: int) -> Iterator[RawDevice]:
        """The devices table, in serial order."""
        ...

    def enroll_tokens(self, *, batch: int) -> Iterator[RawEnrollToken]:
        """The enrollment tokens table, in creation order."""
        ...

    def admin_tokens(self, *, batch: int) -> Iterator[RawAdminToken]:
        """The admin tokens table, in creation order."""
        ...

    def close(self) -> None:
        """End the snapshot and let the store go. Idempotent."""
        ...
