"""RFC 6962 / RFC 9162 §2.1.1 hashing for the audit log (docs/spec/audit-log-v1.md §3, §4).

A leaf hash is SHA-256(0x00 ‖ entry); an interior node is SHA-256(0x01 ‖ left ‖ right);
the empty tree's root is SHA-256 of the empty string. The prefixes keep a leaf from ever
being mistaken for a node (second-preimage resistance).
"""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "leaf_hash", "node_hash"]

#: Bytes in every hash of the log: leaf hashes, node hashes, proof elements, roots.
HASH_SIZE = 32

#: MTH({}) = SHA-256(""), the root hash of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 ‖ entry): the leaf hash of one encoded audit entry."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()
