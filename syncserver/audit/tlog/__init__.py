"""Audit log writer: the append-only Merkle tree and checkpoint signing
(docs/spec/audit-log-v1.md).

:class:`MerkleLog` keeps an RFC 9162 tree over a :class:`LeafStore` and produces roots,
inclusion proofs and consistency proofs; :func:`sign_checkpoint` turns a tree head into
an Ed25519-signed C2SP checkpoint note. Nothing here is shared with the verifier
(``schemas.tlog``): the two halves are written independently and tested against each other.
"""

from ._errors import LogRangeError, NoteInputInvalid, TlogWriteError
from ._log import MerkleLog
from ._sign import sign_checkpoint, sign_note, signer_key_id, verifier_key
from ._store import LeafStore, MemoryLeafStore

__all__ = [
    "LeafStore",
    "LogRangeError",
    "MemoryLeafStore",
    "MerkleLog",
    "NoteInputInvalid",
    "TlogWriteError",
    "sign_checkpoint",
    "sign_note",
    "signer_key_id",
    "verifier_key",
]
