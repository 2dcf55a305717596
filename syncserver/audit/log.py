"""The audit log as the server runs it: the Merkle tree over the store's log, signed
checkpoints and proofs (docs/spec/audit-log-v1.md).

The store's log (``tx.audit``) is the durable record: entries are appended inside the
transactions that make the changes they describe. :class:`AuditLog` keeps an in-memory
:class:`~syncserver.audit.tlog.MerkleLog` that catches up with the store (:meth:`sync`) before
it answers, signs checkpoints with the project's Ed25519 key under the origin
``sealsync/<project id>``, and stores each checkpoint it signs.

Several servers on one database (audit-log-v1.md §14.5) each keep such a tree (every
one of them hands out inclusion proofs), but sign one at a time: a server signs only
while it holds the store's signing lease (``tx.checkpoints.lease()``), in a transaction
that keeps the checkpoint it signs, and uses the newest kept checkpoint instead when
that one already covers what it needs. A store that one server alone writes (SQLite)
says that its server always holds the lease: that server signs without asking.

:func:`check_before_serving` is what ``syncserver run`` calls before it serves (and so
before it signs anything): the log verifies against its newest signed checkpoint, every
entry after that checkpoint carries the writer's chained MAC (audit-log-v1.md §14.3),
and the tables that decide who may act agree with the log (§14.2). A server never signs
a checkpoint over rows someone added or changed in the store (store.db, or the
PostgreSQL database) by hand.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import msgspec

from .._time import ms, now
from ..errors import StoreError, SyncServerError
from ..project import Project
from ..store import Link, Tx
from .entries import AuditEntry, chain_mac, decode_entry, mac_key, read_mac_from
from .tlog import MemoryLeafStore, MerkleLog, sign_checkpoint, verifier_key

__all__ = [
    "AuditLog",
    "AuditLogBroken",
    "ShownRecent",
    "StartupCheck",
    "check_before_serving",
    "recent_entries",
    "store_checkpoint",
]


class AuditLog:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.origin = project.log_origin
        self._tree = MerkleLog(MemoryLeafStore())
        self._lock = threading.Lock()
        self._last: tuple[int, bytes, str] | None = None  # the newest checkpoint signed
        # Signing under the lease: one turn at a time from this server (its threads
        # queue here, not on the database), and whether other servers sign this log
        # too (None until the store said, at the first signature).
        self._turn = threading.Lock()
        self._shared: bool | None = None

    @property
    def verifier_key(self) -> str:
        """The C2SP verifier key string collectors and auditors pin."""
        return verifier_key(self.origin, self.project.identity.signing_public)

    def sync(self) -> int:
        """Take in every committed entry not yet in the tree; return the tree size."""
        with self._lock:
            start = self._tree.size
            leaves = self.project.store.read_sync(lambda tx: tx.audit.leaves(start))
            for leaf in leaves:
                if leaf.index != self._tree.size:
                    raise RuntimeError("audit table has a gap")  # never: indexes are dense
                self._tree.append_leaf_hash(leaf.leaf_hash)
            return self._tree.size

    def checkpoint(self) -> tuple[int, bytes, str]:
        """(size, root, signed note) for the current tree; the note is stored."""
        if self._shared is not False:
            leased = self._leased(None)
            if leased is not None:
                return leased
        size, root, note = self._sign()
        self.project.store.write_sync(lambda tx: store_checkpoint(tx, size, note))
        return size, root, note

    def covering(self, index: int) -> tuple[int, bytes, str]:
        """A signed checkpoint whose tree holds entry ``index`` (committed): the newest
        one this server signed or used if it does, else a new one. Under load, the
        receipts of one group commit share one signature. The caller stores it
        (:func:`store_checkpoint`) in the transaction that stores what it hands out;
        several servers' checkpoints are stored when signed, under the lease, too."""
        with self._lock:
            last = self._last
        if last is not None and last[0] > index:
            return last
        if self._shared is not False:
            leased = self._leased(index + 1)
            if leased is not None:
                return leased
        return self._sign()

    def _sign(self) -> tuple[int, bytes, str]:
        size = self.sync()
        with self._lock:
            root = self._tree.root(size)
        note = sign_checkpoint(self.origin, size, root, self.origin, self.project.identity.signing)
        with self._lock:
            if self._last is None or size > self._last[0]:
                self._last = (size, root, note)  # sizes only grow: receipts never go back
        return size, root, note

    def _leased(self, want: int | None) -> tuple[int, bytes, str] | None:
        """A checkpoint of at least ``want`` entries (None: of every committed entry),
        signed under the store's signing lease; None when the store has one writer,
        which always holds the lease (then this server signs as it did alone)."""
        self.sync()  # before the turn: the lease is held for as little as can be
        with self._turn:
            with self._lock:
                last = self._last
            if want is not None and last is not None and last[0] >= want:
                return last  # signed while this thread waited for the turn
            got = self.project.store.write_sync(lambda tx: self._turn_tx(tx, want))
            if got is None:
                self._shared = False
                return None
            self._shared = True
            with self._lock:
                if self._last is None or got[0] > self._last[0]:
                    self._last = got
            return got

    def _turn_tx(self, tx: Tx, want: int | None) -> tuple[int, bytes, str] | None:
        """One signing turn, in a write transaction (which the store may run again)."""
        if not tx.checkpoints.lease():
            return None
        with self._lock:  # every entry committed before the lease was taken
            for leaf in tx.audit.leaves(self._tree.size):
                if leaf.index != self._tree.size:
                    raise RuntimeError("audit table has a gap")  # never: indexes are dense
                self._tree.append_leaf_hash(leaf.leaf_hash)
            size = self._tree.size
        if want is not None and size < want:
            raise StoreError(f"audit entry {want - 1} is not in the log")  # never: committed
        kept = tx.checkpoints.newest()
        if kept is not None and kept.size >= (size if want is None else want):
            # Another turn signed it. Used only if it is, byte for byte, the note this
            # server signs over the same entries (Ed25519 signatures are deterministic).
            if kept.size > size:
                raise AuditLogBroken(
                    f"the newest checkpoint kept (size {kept.size}) covers more entries than "
                    f"the audit log holds ({size})",
                    hint=_hint_broken(self.project),
                )
            root, note = self._signed(kept.size)
            if note != kept.note:
                raise AuditLogBroken(
                    f"the checkpoint kept at size {kept.size} is not the one this server "
                    "signs over the same entries",
                    hint=_hint_broken(self.project),
                )
            return kept.size, root, note
        root, note = self._signed(size)
        tx.checkpoints.keep(size, note, ms(now()))
        return size, root, note

    def _signed(self, size: int) -> tuple[bytes, str]:
        with self._lock:
            root = self._tree.root(size)
        signing = self.project.identity.signing
        return root, sign_checkpoint(self.origin, size, root, self.origin, signing)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self.sync()
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        self.sync()
        with self._lock:
            return self._tree.consistency_proof(size1, size2)


def store_checkpoint(tx: Tx, size: int, note: str) -> None:
    """Keep a signed checkpoint for auditors (once per size)."""
    tx.checkpoints.keep(size, note, ms(now()))


# -- the check before serving -------------------------------------------------------------


class AuditLogBroken(SyncServerError):
    """The store's audit log, or a table it decides, was changed outside sealsync: the
    server refuses to start (and so to sign a checkpoint over it)."""

    status = 500
    code = "audit_log_broken"


_HINT_BROKEN = (
    "run `syncserver audit verify` to see where; keep this store.db as evidence (copy it "
    "aside), then restore store.db from a backup made before the change"
)
_HINT_BROKEN_PG = (
    "run `syncserver audit verify` to see where; keep a copy of the database as evidence "
    "(pg_dump), then restore the database from a backup made before the change"
)


def _hint_broken(project: Project) -> str:
    return _HINT_BROKEN_PG if project.config.postgres else _HINT_BROKEN


@dataclass(frozen=True)
class StartupCheck:
    """What :func:`check_before_serving` found: ``entries`` in the log, ``covered`` by
    the newest signed checkpoint, ``unbound`` of those after it written before the store
    kept a MAC per entry (schema 4), and the rows ``unbound`` in the access tables."""

    entries: int
    covered: int
    unbound: int
    unbound_rows: tuple[str, ...]
    seconds: float


def check_before_serving(project: Project) -> StartupCheck:
    """Check the log before a server signs anything over it; raise :class:`AuditLogBroken`
    with what is wrong and what to do otherwise (audit-log-v1.md §14.4).

    1. The whole log verifies with the project's own key (:func:`~syncserver.audit.verify.
       verify_log`): every checkpoint and receipt, the newest included, matches the root
       recomputed from the entries, and every entry hashes to its leaf hash.
    2. Every entry after the newest checkpoint carries a valid chained MAC (from the
       index the store's ``audit_mac_from`` marker names; entries before it were written
       by a sealsync that kept none).
    3. ``devices``, ``enroll_tokens`` and ``admin_tokens`` agree with the log.
    """
    from .verify import verify_log  # the independent verifier; it never imports us

    start = time.perf_counter()
    hint = _hint_broken(project)
    where = "the database" if project.config.postgres else "store.db"
    vkey = verifier_key(project.log_origin, project.identity.signing_public)
    report = verify_log(project.config.store_location, key=vkey)
    if report.differences:
        more = f" (and {len(report.differences) - 1} more)" if len(report.differences) > 1 else ""
        raise AuditLogBroken(
            "refusing to start: the tables that decide who may act differ from the audit "
            f"log: {report.differences[0]}{more}",
            hint=hint,
        )
    if not report.ok:
        raise AuditLogBroken(
            f"refusing to start: the audit log does not verify: {report.first_problem}",
            hint=hint,
        )
    key = mac_key(project.identity.store_key)
    covered = report.covered

    def tail(tx: Tx) -> tuple[bytes | None, list[Link]]:
        return tx.audit.mac_from(), tx.audit.links(max(covered - 1, 0))

    marker, links = project.store.read_sync(tail)
    if marker is None:
        mac_from = 0  # a store made with the chain: every entry carries a MAC
    else:
        found = read_mac_from(key, marker)
        if found is None:
            raise AuditLogBroken(
                "refusing to start: the store's record of where the audit log's MAC chain "
                "starts (meta audit_mac_from) was changed",
                hint=hint,
            )
        mac_from = found
    prev: bytes | None = None
    unbound = 0
    for link in links:
        idx, leaf, mac = link.index, link.leaf_hash, link.mac
        if idx < covered:  # the row before the tail: only its MAC is used
            prev = mac
            continue
        if idx < mac_from:
            unbound += 1
        elif mac is None or mac != chain_mac(key, prev, idx, leaf):
            raise AuditLogBroken(
                f"refusing to start: entry {idx} of the audit log was not written by this "
                f"server: it comes after the last signed checkpoint (size {covered}) and "
                f"{'carries no MAC' if mac is None else 'its MAC does not check'} "
                f"(added or changed in {where} by hand?)",
                hint=hint,
            )
        prev = mac
    return StartupCheck(
        entries=report.entries,
        covered=covered,
        unbound=unbound,
        unbound_rows=report.unbound,
        seconds=time.perf_counter() - start,
    )


async def recent_entries(project: Project, *, kind: str | None, limit: int) -> list[ShownRecent]:
    """The newest entries of the log, newest first: at most ``limit`` of kind ``kind``
    (any kind when None) among the newest 5,000 (``GET /v1/admin/audit``)."""
    rows = await project.store.read(lambda tx: tx.audit.latest(5000))
    out: list[ShownRecent] = []
    for row in rows:
        e = decode_entry(row.entry)
        if kind and e.kind != kind:
            continue
        out.append(ShownRecent(index=row.index, entry=e))
        if len(out) >= limit:
            break
    return out


class ShownRecent(msgspec.Struct, frozen=True):
    """One entry of :func:`recent_entries` with its index."""

    index: int
    entry: AuditEntry
