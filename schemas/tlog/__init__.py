"""Audit log verification: the verifier's half (docs/spec/audit-log-v1.md).

What collectors and auditors use to check the sync server's log: RFC 6962/9162 leaf and
node hashes, tree heads recomputed from the leaves (:func:`root_from_leaves` by the
definition, :class:`TreeHasher` in one streaming pass), inclusion and consistency proof
verification (RFC 9162 §2.1.3.2, §2.1.4.2), and Ed25519-signed C2SP notes and
tlog-checkpoints. It shares no code with the writer (``syncserver.tlog``), as DESIGN.md
asks: a bug in one half is caught by the other.
"""

from ._checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ._hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from ._note import (
    ED25519,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    NoteVerifier,
    key_id,
    open_note,
    parse_verifier_key,
)
from ._proofs import (
    MAX_TREE_SIZE,
    is_consistent,
    is_included,
    verify_consistency,
    verify_inclusion,
)
from ._tree import TreeHasher, root_from_leaves

__all__ = [
    "ED25519",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "Note",
    "NoteSignature",
    "NoteVerifier",
    "TreeHasher",
    "is_consistent",
    "is_included",
    "key_id",
    "leaf_hash",
    "node_hash",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "root_from_leaves",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
