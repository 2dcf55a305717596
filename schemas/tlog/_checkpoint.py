"""tlog-checkpoint notes: parse and verify (docs/spec/audit-log-v1.md §9).

A checkpoint is a signed note whose text is exactly::

    <origin>\\n
    <tree size in decimal, no leading zeros>\\n
    <base64 of the 32-byte root hash>\\n
    [<extension line>\\n ...]

sealsync logs use the origin ``sealsync/<project id>`` and sign with a key of the same
name (§9.2), so :func:`verify_checkpoint` checks the origin against the key's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import CheckpointInvalid, NoteInvalid, NoteReason
from ._hashing import EMPTY_ROOT, HASH_SIZE
from ._note import NoteVerifier, _b64decode_canonical, _decode, open_note, parse_verifier_key
from ._proofs import MAX_TREE_SIZE

__all__ = ["Checkpoint", "parse_checkpoint", "verify_checkpoint"]

_DECIMAL = re.compile("0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: who (origin), how many leaves (size), which tree (root hash)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse checkpoint *text* (the signed body of the note, without signatures).

    This checks the format only: the text is not trusted until its signature has been
    verified, which :func:`verify_checkpoint` does. Raises
    :class:`~schemas.errors.CheckpointInvalid`.
    """
    try:
        body = _decode(text)
    except NoteInvalid as e:
        raise CheckpointInvalid(e.reason, e.detail) from None
    if not body.endswith("\n"):
        raise CheckpointInvalid(NoteReason.MALFORMED_CHECKPOINT, "text must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointInvalid(
            NoteReason.MALFORMED_CHECKPOINT, f"{len(lines)} lines, need origin, size and root"
        )
    for number, line in enumerate(lines, start=1):
        if not line:
            raise CheckpointInvalid(NoteReason.MALFORMED_CHECKPOINT, f"line {number} is empty")
    origin, size_line, root_line, *extensions = lines
    if not _DECIMAL.fullmatch(size_line) or int(size_line) > MAX_TREE_SIZE:
        raise CheckpointInvalid(NoteReason.BAD_TREE_SIZE, "line 2")
    size = int(size_line)
    root = _b64decode_canonical(root_line)
    if root is None or len(root) != HASH_SIZE:
        raise CheckpointInvalid(NoteReason.BAD_ROOT_HASH, "line 3")
    if size == 0 and root != EMPTY_ROOT:
        raise CheckpointInvalid(NoteReason.BAD_ROOT_HASH, 'an empty tree\'s root is SHA-256("")')
    return Checkpoint(origin, size, root, tuple(extensions))


def verify_checkpoint(
    note: str | bytes, verifier_key: str | NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note with the log's key and return its tree head (§9.3).

    ``verifier_key`` is the log's verifier key string (or a parsed :class:`NoteVerifier`).
    The checkpoint's origin MUST equal the key's name, and ``origin`` if given (for
    example ``f"sealsync/{project_id}"``). Raises :class:`~schemas.errors.CheckpointInvalid`
    (with ``.reason``) for any note or checkpoint failure, and
    :class:`~schemas.errors.VerifierKeyInvalid` for an unusable key string.
    """
    verifier = (
        verifier_key if isinstance(verifier_key, NoteVerifier) else parse_verifier_key(verifier_key)
    )
    try:
        opened = open_note(note, [verifier])
    except NoteInvalid as e:
        raise CheckpointInvalid(e.reason, e.detail) from None
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != verifier.name:
        raise CheckpointInvalid(
            NoteReason.ORIGIN_MISMATCH, f"origin is not the key name {verifier.name!r}"
        )
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointInvalid(NoteReason.ORIGIN_MISMATCH, f"expected origin {origin!r}")
    return checkpoint
