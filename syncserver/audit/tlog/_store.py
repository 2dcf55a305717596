"""Where the log's leaf hashes live (docs/spec/audit-log-v1.md §3).

:class:`LeafStore` is the whole contract between the Merkle tree and storage: leaves are
appended in order, read back by index, and counted. The tree keeps its interior node
cache itself, so a store holds nothing but leaf hashes. :class:`MemoryLeafStore` is for
tests and tools; the SQLite store implements the same protocol.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["LeafStore", "MemoryLeafStore"]


class LeafStore(Protocol):
    """Append-only storage of 32-byte leaf hashes with dense indexes from 0.

    The :class:`~syncserver.audit.tlog.MerkleLog` over a store must be its only writer.
    """

    def append(self, leaf_hash: bytes) -> None:
        """Store ``leaf_hash`` at index ``count()``, durably, before returning."""
        ...

    def get(self, index: int) -> bytes:
        """The leaf hash at ``index`` (0 ≤ index < count())."""
        ...

    def count(self) -> int:
        """How many leaf hashes are stored."""
        ...


class MemoryLeafStore:
    """A :class:`LeafStore` in one bytearray (32 bytes a leaf, no per-leaf objects)."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        self._data += leaf_hash

    def get(self, index: int) -> bytes:
        if not 0 <= index < len(self._data) // 32:
            raise IndexError(index)
        return bytes(self._data[index * 32 : index * 32 + 32])

    def count(self) -> int:
        return len(self._data) // 32
