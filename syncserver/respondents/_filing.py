"""Filing an interview's keyed tokens in the store (docs/spec/respondent-matching.md §6,
§10).

Every function takes the caller's transaction and runs inside it; nothing here commits.
The store keeps tokens as opaque bytes: they are encoded (msgpack of
:class:`~._pseudonyms.StoredTokens`) and decoded here.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

import msgspec

from ..store import RespondentState, Tx
from ._pseudonyms import TOKEN_VERSION, StoredTokens

__all__ = ["decode_tokens", "encode_tokens", "file_postings", "register"]

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(StoredTokens)


def encode_tokens(tokens: StoredTokens) -> bytes:
    """The tokens of an interview as :func:`register` files them (the same tokens, the
    same bytes)."""
    return _enc.encode(tokens)


def decode_tokens(blob: bytes) -> StoredTokens:
    """The tokens of an interview, as :func:`register` filed them."""
    return _dec.decode(blob)


def register(
    tx: Tx,
    record_id: uuid.UUID,
    tokens: StoredTokens,
    postings: tuple[bytes, ...],
    *,
    now_ms: int,
) -> bool:
    """File the current identity tokens of ``record_id``: a new row for a new record;
    for a new version, the tokens replaced if they changed. True when the row needs
    matching (state ``pending``); an interview with nothing to match on is ``matched``
    at once, alone in its cluster. A pending interview's postings are filed when it is
    matched (:func:`file_postings`); those of a replaced version go at once."""
    pending = tokens != StoredTokens()
    changed = tx.respondents.register(
        record_id,
        token_version=TOKEN_VERSION,
        tokens=encode_tokens(tokens),
        postings=postings,
        state=RespondentState.PENDING if pending else RespondentState.MATCHED,
        at_ms=now_ms,
    )
    return changed and pending


def file_postings(tx: Tx, record_ids: Collection[bytes]) -> None:
    """File the postings of ``record_ids`` (16-byte ids; their current tokens, as
    registered): from now on other interviews find them. The matcher does this in its
    write, for a whole batch sorted by token, rather than ingest for each record:
    postings are keyed by pseudonyms, which are random, so every one lands on its own
    page of the index, and filing them in the upload's transaction cost more than the
    rest of ingest (§6)."""
    tx.postings.file([uuid.UUID(bytes=r) for r in record_ids])
