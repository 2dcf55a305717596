"""The audit log as the server runs it: the Merkle tree over the ``audit`` table, signed
checkpoints and proofs (docs/spec/audit-log-v1.md).

The ``audit`` table is the durable record: entries are appended inside the transactions
that make the changes they describe. :class:`AuditLog` keeps an in-memory
:class:`~syncserver.tlog.MerkleLog` that catches up with the table (:meth:`sync`) before
it answers, signs checkpoints with the project's Ed25519 key under the origin
``sealsync/<project id>``, and stores each checkpoint it signs.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from .project import Project
from .tlog import MemoryLeafStore, MerkleLog, sign_checkpoint, verifier_key

__all__ = ["AuditLog", "store_checkpoint"]


class AuditLog:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.origin = project.log_origin
        self._tree = MerkleLog(MemoryLeafStore())
        self._lock = threading.Lock()
        self._last: tuple[int, bytes, str] | None = None  # the newest checkpoint signed

    @property
    def verifier_key(self) -> str:
        """The C2SP verifier key string collectors and auditors pin."""
        return verifier_key(self.origin, self.project.identity.signing_public)

    def sync(self) -> int:
        """Take in every committed entry not yet in the tree; return the tree size."""
        with self._lock:
            start = self._tree.size
            rows = self.project.store.read_sync(
                lambda c: c.execute(
                    "SELECT idx, leaf_hash FROM audit WHERE idx >= ? ORDER BY idx", (start,)
                ).fetchall()
            )
            for idx, h in rows:
                if idx != self._tree.size:
                    raise RuntimeError("audit table has a gap")  # never: indexes are dense
                self._tree.append_leaf_hash(h)
            return self._tree.size

    def checkpoint(self) -> tuple[int, bytes, str]:
        """(size, root, signed note) for the current tree; the note is stored."""
        size, root, note = self._sign()
        self.project.store.write_sync(lambda conn: store_checkpoint(conn, size, note))
        return size, root, note

    def covering(self, index: int) -> tuple[int, bytes, str]:
        """A signed checkpoint whose tree holds entry ``index``: the newest one signed if
        it does, else a new one. Under load, the receipts of one group commit share one
        signature. Not stored: the caller stores it (:func:`store_checkpoint`) in the
        transaction that stores what it hands out."""
        with self._lock:
            last = self._last
        if last is not None and last[0] > index:
            return last
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

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self.sync()
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        self.sync()
        with self._lock:
            return self._tree.consistency_proof(size1, size2)


def store_checkpoint(conn: sqlite3.Connection, size: int, note: str) -> None:
    """Keep a signed checkpoint for auditors (once per size)."""
    conn.execute(
        "INSERT OR IGNORE INTO checkpoints (size, note, created_ms) VALUES (?, ?, ?)",
        (size, note, int(time.time() * 1000)),
    )
