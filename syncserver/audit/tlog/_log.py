"""The append-only Merkle tree of the audit log: roots and proofs (docs/spec/audit-log-v1.md
§4-§6; RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1).

Proofs are built from the RFC's recursive definitions of MTH, PATH and SUBPROOF, walked
iteratively from the top. Every range those definitions ask for is either a *perfect*
subtree (2^h leaves starting at a multiple of 2^h) or splits into at most one non-perfect
range per level, so a root or a proof costs O(log n) node lookups.

Perfect subtrees of height ≥ ``cache_height`` are cached as they complete, 32 bytes each
in one bytearray per height (about n / 2^(cache_height-1) hashes in all); lower ones are
recomputed from at most 2^cache_height - 1 stored leaves. Opening a log over a non-empty
store reads every leaf once to rebuild the cache.
"""

from __future__ import annotations

from ._errors import LogRangeError, TlogWriteError
from ._hash import EMPTY_TREE_HASH, hash_children, hash_leaf
from ._store import LeafStore

__all__ = ["MerkleLog"]

_MAX_SIZE = 2**64 - 1


def _split(n: int) -> int:
    """k of RFC 9162: the largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SIZE


class MerkleLog:
    """An RFC 9162 Merkle tree over a :class:`~syncserver.audit.tlog.LeafStore`.

    Not thread-safe: one writer appends; readers of proofs must be serialized with it.
    """

    def __init__(self, store: LeafStore, *, cache_height: int = 4) -> None:
        if not isinstance(cache_height, int) or not 1 <= cache_height <= 32:
            raise ValueError("cache_height is an int in 1..32")
        self._store = store
        self._cache_height = cache_height
        #: _cache[h - cache_height] holds the perfect subtrees of height h, in order.
        self._cache: list[bytearray] = []
        #: Roots of the perfect subtrees that make up the whole tree, leftmost first.
        self._edge: list[bytes] = []
        self._size = 0
        for i in range(store.count()):
            self._absorb(store.get(i))

    # -- appending -----------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of leaves in the log."""
        return self._size

    def append(self, entry: bytes) -> int:
        """Append an encoded entry (its leaf hash goes to the store); return its index."""
        return self.append_leaf_hash(hash_leaf(entry))

    def append_leaf_hash(self, leaf_hash: bytes) -> int:
        """Append a 32-byte leaf hash; return its index."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != 32:
            raise TlogWriteError("a leaf hash is 32 bytes")
        if self._size == _MAX_SIZE:
            raise TlogWriteError("the log is full")
        self._store.append(leaf_hash)
        index = self._size
        self._absorb(leaf_hash)
        return index

    def _absorb(self, node: bytes) -> None:
        size, height = self._size, 0
        # Like a binary counter: each trailing 1 of the old size is a completed subtree.
        while size & 1:
            node = hash_children(self._edge.pop(), node)
            height += 1
            size >>= 1
            if height >= self._cache_height:
                level = height - self._cache_height
                if level == len(self._cache):
                    self._cache.append(bytearray())
                self._cache[level] += node
        self._edge.append(node)
        self._size += 1

    # -- reading -------------------------------------------------------------------

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not _is_size(index) or index >= self._size:
            raise LogRangeError(f"no leaf {index!r} in a log of size {self._size}")
        return self._store.get(index)

    def _perfect(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree over leaves [index·2^height, (index+1)·2^height)."""
        if height == 0:
            return self._store.get(index)
        if height >= self._cache_height:
            level = self._cache[height - self._cache_height]
            return bytes(level[index * 32 : index * 32 + 32])
        return hash_children(
            self._perfect(height - 1, 2 * index), self._perfect(height - 1, 2 * index + 1)
        )

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range the RFC recursion produces (hi - lo ≥ 1)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self._perfect(n.bit_length() - 1, lo // n)
        k = _split(n)
        return hash_children(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _check_size(self, size: int | None, what: str = "tree size") -> int:
        if size is None:
            return self._size
        if not _is_size(size) or size > self._size:
            raise LogRangeError(f"{what} {size!r} is not in 0..{self._size}, the log's size")
        return size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        n = self._check_size(size)
        if n == 0:
            return EMPTY_TREE_HASH
        if n == self._size:
            root = self._edge[-1]
            for left in reversed(self._edge[:-1]):
                root = hash_children(left, root)
            return root
        return self._mth(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf end first."""
        n = self._check_size(size)
        if not _is_size(index) or index >= n:
            raise LogRangeError(f"no leaf {index!r} in a tree of size {n}")
        # PATH(m, D[lo:hi]) = PATH(m, left) : MTH(right) if m is left of the split,
        #                     PATH(m, right) : MTH(left) otherwise.
        top_down: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                top_down.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                top_down.append(self._mth(lo, lo + k))
                lo += k
        top_down.reverse()
        return top_down

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[size2]) = SUBPROOF(size1, D[size2], true) of RFC 9162 §2.1.4.1.

        Empty when size1 is 0 or equal to size2 (docs/spec/audit-log-v1.md §6.1).
        """
        n = self._check_size(size2, "second tree size")
        m = self._check_size(size1, "first tree size")
        if m > n:
            raise LogRangeError(f"first tree size {m} is larger than second {n}")
        if m == 0 or m == n:
            return []
        # SUBPROOF(m, D[lo:hi], b):
        #   m == n:  {} if b, else {MTH(D[lo:hi])}
        #   m <= k:  SUBPROOF(m, left, b) : MTH(right)
        #   m > k:   SUBPROOF(m - k, right, false) : MTH(left)
        top_down: list[bytes] = []
        lo, hi, whole = 0, n, True
        while True:
            if m - lo == hi - lo:
                if not whole:
                    top_down.append(self._mth(lo, hi))
                break
            k = _split(hi - lo)
            if m - lo <= k:
                top_down.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                top_down.append(self._mth(lo, lo + k))
                lo += k
                whole = False
        top_down.reverse()
        return top_down
