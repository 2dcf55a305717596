"""Tree heads recomputed from leaves (docs/spec/audit-log-v1.md §4; RFC 9162 §2.1.1).

:func:`root_from_leaves` is the MTH definition written out as the RFC gives it: a
reference for small trees. :class:`TreeHasher` computes the same root in a single pass
over any number of leaves with O(log n) memory, which is what an auditor uses to
recompute the whole log from its entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import LogProofInvalid
from ._hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

__all__ = ["TreeHasher", "root_from_leaves"]


def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise LogProofInvalid(f"{what} is not a {HASH_SIZE}-byte hash")


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 1:
        return leaves[lo]
    k = _largest_power_of_two_below(n)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the n leaf hashes, by the recursive definition (small trees).

    MTH({}) = SHA-256(""); MTH({d}) = the leaf hash; otherwise, with k the largest power
    of two below n, MTH(D[n]) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])).
    """
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf hash {i}")
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


class TreeHasher:
    """The root of a growing tree, one leaf at a time, in O(log n) memory.

    It keeps the roots of the perfect subtrees that make up the tree so far (one per set
    bit of the size, largest and leftmost first). Appending a leaf merges equal-sized
    subtrees, like a binary counter carrying; the root folds them from the right, which
    is exactly MTH's split at the largest power of two.

    >>> hasher = TreeHasher()
    >>> hasher.append_entry(b"entry")
    >>> hasher.size
    1
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (32 bytes)."""
        _check_hash(leaf, f"leaf hash {self._size}")
        self._push(leaf)

    def append_entry(self, entry: bytes) -> None:
        """Append one entry: its leaf hash is SHA-256(0x00 ‖ entry)."""
        self._push(leaf_hash(entry))

    def extend_entries(self, entries: Iterable[bytes]) -> None:
        """Append many entries (the fast path for recomputing a whole log)."""
        for entry in entries:
            self._push(leaf_hash(entry))

    def _push(self, h: bytes) -> None:
        stack = self._stack
        n = self._size
        # Each trailing 1 bit of the old size is a perfect subtree of the new leaf's
        # height that is now complete: merge it in.
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self._size += 1

    def root(self) -> bytes:
        """MTH of everything appended so far (SHA-256("") for no leaves)."""
        if not self._stack:
            return EMPTY_ROOT
        it = reversed(self._stack)
        r = next(it)
        for left in it:
            r = node_hash(left, r)
        return r
