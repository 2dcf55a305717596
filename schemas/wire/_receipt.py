"""Receipts: the server's signed word that it holds a bundle (docs/spec/api-v1.md §5).

The receipt names the bundle and its SHA-256, carries the ``upload`` audit entry itself,
that entry's inclusion proof and the signed checkpoint it is proved against. The
collector verifies all of it with keys it pinned at enrollment (:func:`verify_receipt`)
and only then deletes its copy. A receipt says nothing about whether the bundle opened:
that is the server's private business.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ReceiptInvalid, TlogError
from ..tlog import leaf_hash, verify_checkpoint, verify_inclusion

__all__ = ["RECEIPT_LABEL", "Receipt", "ReceiptBody", "sign_receipt", "verify_receipt"]

RECEIPT_LABEL = b"sealsync/v1 receipt\x00"
_SHA = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class ReceiptBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    bundle_id: uuid.UUID
    sha256: _SHA
    size: int
    received_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)]
    log_index: int
    log_entry: Annotated[bytes, msgspec.Meta(max_length=4096)]
    checkpoint: Annotated[str, msgspec.Meta(max_length=65536)]
    inclusion_proof: Annotated[list[_SHA], msgspec.Meta(max_length=64)]


class Receipt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    body: Annotated[bytes, msgspec.Meta(max_length=131072)]
    signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


_enc = msgspec.msgpack.Encoder(uuid_format="bytes")
_dec = msgspec.msgpack.Decoder(ReceiptBody)


def sign_receipt(body: ReceiptBody, key: Ed25519PrivateKey) -> Receipt:
    raw = _enc.encode(body)
    return Receipt(body=raw, signature=key.sign(RECEIPT_LABEL + raw))


def verify_receipt(
    receipt: Receipt,
    *,
    signing_public: Ed25519PublicKey,
    log_verifier_key: str,
    origin: str,
    bundle_id: uuid.UUID,
    sha256: bytes,
) -> ReceiptBody:
    """Check everything a collector must before deleting its copy of ``bundle_id``.

    The signature by the project key; that the receipt names this bundle and these
    bytes; the checkpoint's signature by the log key; that the logged entry is this
    bundle's upload entry; and its inclusion proof against the checkpoint's root.
    Raises :class:`~schemas.errors.ReceiptInvalid` naming what failed.
    """
    try:
        signing_public.verify(receipt.signature, RECEIPT_LABEL + receipt.body)
    except InvalidSignature:
        raise ReceiptInvalid("signature") from None
    try:
        body = _dec.decode(receipt.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ReceiptInvalid("malformed") from None
    if body.bundle_id != bundle_id or body.sha256 != sha256:
        raise ReceiptInvalid("names another bundle")
    try:
        cp = verify_checkpoint(body.checkpoint, log_verifier_key, origin=origin)
        verify_inclusion(
            leaf_hash(body.log_entry), body.log_index, cp.size, body.inclusion_proof, cp.root_hash
        )
    except TlogError as e:
        raise ReceiptInvalid(f"log proof: {e}") from None
    try:
        entry = msgspec.msgpack.decode(body.log_entry)
    except msgspec.DecodeError:
        raise ReceiptInvalid("log entry malformed") from None
    if not (
        isinstance(entry, dict)
        and entry.get("kind") == "upload"
        and entry.get("subject") == str(bundle_id)
        and isinstance(entry.get("detail"), dict)
        and entry["detail"].get("sha256") == sha256.hex()
    ):
        raise ReceiptInvalid("log entry is not this bundle's upload")
    return body
