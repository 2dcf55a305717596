"""The signed manifest (docs/spec/bundle-v1.md §6).

The manifest lists what the payload carries (records and attachments, with sizes and
SHA-256 hashes) and where the bundle sits in the device's chain (sequence number and the
hash of the previous bundle). The device signs ``SIG_LABEL ‖ SHA-256(header) ‖ manifest``
with Ed25519, which binds the manifest to this header, hence to this bundle id and file key.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import Annotated

import msgspec

from .. import text

__all__ = ["AttachmentEntry", "Manifest", "RecordEntry", "signed_message"]

SIG_LABEL = b"sealsync/bundle/v1 manifest signature\x00"

Sha256 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Size = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Positive = Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
# Matched whole: no final newline, no control character (schemas/text.py).
FormId = text.FormId
AttachmentName = text.AttachmentName
MediaType = text.MediaType


class RecordEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    record_id: uuid.UUID
    version: Positive
    form_id: FormId
    form_version: Positive
    size: Size
    sha256: Sha256


class AttachmentEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    record_id: uuid.UUID
    name: AttachmentName
    media_type: MediaType
    size: Size
    sha256: Sha256


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    device_id: uuid.UUID
    device_seq: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    prev_bundle_sha256: Sha256
    created_at: datetime.datetime
    records: tuple[RecordEntry, ...]
    attachments: tuple[AttachmentEntry, ...] = ()


_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_decoder = msgspec.msgpack.Decoder(Manifest)


def encode_manifest(m: Manifest) -> bytes:
    return _encoder.encode(m)


def decode_manifest(data: bytes) -> Manifest:
    """Decode, type-check and require canonical bytes (re-encoding gives ``data`` back)."""
    m = _decoder.decode(data)
    if _encoder.encode(m) != data:
        raise ValueError("manifest is not canonically encoded")
    if m.created_at.tzinfo is None or m.created_at.utcoffset() != datetime.timedelta(0):
        raise ValueError("created_at must be UTC")
    return m


def signed_message(header_raw: bytes, manifest_raw: bytes) -> bytes:
    return SIG_LABEL + hashlib.sha256(header_raw).digest() + manifest_raw
