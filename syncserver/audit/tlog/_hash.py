"""The writer's own RFC 9162 §2.1.1 hashes (docs/spec/audit-log-v1.md §3, §4).

Written separately from ``schemas.tlog`` on purpose: the verifier must share no code path
with the writer, so that a mistake in one is caught by the other.
"""

from __future__ import annotations

from hashlib import sha256

__all__ = ["EMPTY_TREE_HASH", "LEAF_PREFIX", "NODE_PREFIX", "hash_children", "hash_leaf"]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_TREE_HASH = sha256().digest()


def hash_leaf(entry: bytes) -> bytes:
    """Leaf hash of an encoded entry: SHA-256(0x00 ‖ entry)."""
    h = sha256(LEAF_PREFIX)
    h.update(entry)
    return h.digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return sha256(NODE_PREFIX + left + right).digest()
