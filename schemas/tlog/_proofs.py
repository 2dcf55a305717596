"""Verifying inclusion and consistency proofs (docs/spec/audit-log-v1.md §5, §6).

The two algorithms are the iterative ones of RFC 9162 §2.1.3.2 and §2.1.4.2, step by
step, with the RFC's variable names. Sizes and hashes come from the network, so every
input is checked (hash lengths, index and size ranges) before any hashing, and every
failure is a :class:`~schemas.errors.LogProofInvalid` that says which check failed.
This module shares no code with the writer (syncserver.tlog); it never builds a proof.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from ..errors import LogProofInvalid
from ._hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "MAX_TREE_SIZE",
    "is_consistent",
    "is_included",
    "verify_consistency",
    "verify_inclusion",
]

#: Tree sizes are unsigned 64-bit integers (the checkpoint size line, §9).
MAX_TREE_SIZE = 2**64 - 1


def _check_hash(h: object, what: str) -> None:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise LogProofInvalid(f"{what} is not a {HASH_SIZE}-byte hash")


def _check_size(n: object, what: str) -> int:
    # bool is an int subclass; a True tree size is a bug, never a size.
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_TREE_SIZE:
        raise LogProofInvalid(f"{what} is not an integer in 0..2^64-1")
    return n


def _check_path(proof: Sequence[bytes], what: str) -> list[bytes]:
    if isinstance(proof, (bytes, bytearray, str)):
        raise LogProofInvalid(f"{what} must be a list of hashes, not a single value")
    path = list(proof)
    # A proof never has more elements than the tree has levels, plus one.
    if len(path) > 130:
        raise LogProofInvalid(f"{what} has {len(path)} elements, more than any tree needs")
    for i, h in enumerate(path):
        _check_hash(h, f"{what}[{i}]")
    return path


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2. Returns nothing on success; raises
    :class:`~schemas.errors.LogProofInvalid` on any failure.
    """
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    leaf_index = _check_size(index, "leaf index")
    size = _check_size(tree_size, "tree size")
    inclusion_path = _check_path(proof, "inclusion proof")

    # 1. leaf_index >= tree_size fails.
    if leaf_index >= size:
        raise LogProofInvalid(f"leaf index {leaf_index} is not in a tree of size {size}")
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn, sn = leaf_index, size - 1
    # 3. r = hash.
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in inclusion_path:
        # If sn is 0, stop and fail.
        if sn == 0:
            raise LogProofInvalid("inclusion proof is longer than the path to the root")
        # If LSB(fn) is set, or fn equals sn:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # If LSB(fn) is not set, right-shift until LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r must equal the root hash.
    if sn != 0:
        raise LogProofInvalid("inclusion proof is shorter than the path to the root")
    if not hmac.compare_digest(r, root):
        raise LogProofInvalid(
            f"inclusion proof for leaf {leaf_index} does not lead to the root of size {size}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of ``size2`` with ``root2``.

    RFC 9162 §2.1.4.2 for 0 < size1 < size2. The edge cases the RFC leaves to the
    caller are decided in docs/spec/audit-log-v1.md §6.2: for size1 == size2 the proof
    MUST be empty and the roots equal; for size1 == 0 the proof MUST be empty and root1
    MUST be SHA-256(""); size1 > size2 always fails.
    """
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    first = _check_size(size1, "first tree size")
    second = _check_size(size2, "second tree size")
    consistency_path = _check_path(proof, "consistency proof")

    if first > second:
        raise LogProofInvalid(f"first tree size {first} is larger than second {second}")
    if first == second:
        if consistency_path:
            raise LogProofInvalid("a proof between equal sizes must be empty")
        if not hmac.compare_digest(root1, root2):
            raise LogProofInvalid(f"two different roots for the same tree size {first}")
        return
    if first == 0:
        if consistency_path:
            raise LogProofInvalid("a proof from the empty tree must be empty")
        if not hmac.compare_digest(root1, EMPTY_ROOT):
            raise LogProofInvalid('the root of the empty tree must be SHA-256("")')
        return

    # 1. An empty consistency_path fails.
    if not consistency_path:
        raise LogProofInvalid(f"empty consistency proof between sizes {first} and {second}")
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        consistency_path.insert(0, root1)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift both until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of consistency_path.
    fr = sr = consistency_path[0]
    # 6. For each subsequent value c:
    for c in consistency_path[1:]:
        # If sn is 0, stop and fail.
        if sn == 0:
            raise LogProofInvalid("consistency proof is longer than the path to the root")
        # If LSB(fn) is set, or fn equals sn:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # If LSB(fn) is not set, right-shift until LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        # Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. fr must equal first_hash, sr must equal second_hash, and sn must be 0.
    if sn != 0:
        raise LogProofInvalid("consistency proof is shorter than the path to the root")
    if not hmac.compare_digest(fr, root1):
        raise LogProofInvalid(f"consistency proof does not lead to the root of size {first}")
    if not hmac.compare_digest(sr, root2):
        raise LogProofInvalid(f"consistency proof does not lead to the root of size {second}")


def is_included(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """:func:`verify_inclusion` as a boolean, for callers that branch on the answer."""
    try:
        verify_inclusion(leaf_hash, index, tree_size, proof, root)
    except LogProofInvalid:
        return False
    return True


def is_consistent(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """:func:`verify_consistency` as a boolean, for callers that branch on the answer."""
    try:
        verify_consistency(size1, size2, proof, root1, root2)
    except LogProofInvalid:
        return False
    return True
