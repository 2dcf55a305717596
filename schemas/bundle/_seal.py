"""Sealing a bundle (docs/spec/bundle-v1.md §9.1).

The sealer draws a fresh file key, wraps it to each recipient, signs the manifest with
the device key and streams records and attachments through the payload STREAM. Memory
stays bounded by one chunk plus the records; attachments are read from their sources
twice (once to hash for the manifest, once to encrypt) and must not change in between.
After sealing, nothing on the device can decrypt the bundle: the file key is gone.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import msgspec

from ..errors import SealError
from ..ids import Clock, Rng, new_id
from ..wire import Record, decode_record, encode_record
from ._header import FILE_KEY_SIZE, LABEL_PAYLOAD, MAX_STANZAS, build_header, hkdf
from ._keys import DeviceKey, RecipientPublicKey
from ._limits import DEFAULT_LIMITS, Limits
from ._manifest import AttachmentEntry, Manifest, RecordEntry, encode_manifest, signed_message
from ._stream import StreamWriter

__all__ = ["Attachment", "SealedBundle", "seal_bundle"]

_READ = 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    """An attachment to seal: which record it belongs to, and how to read it."""

    record_id: uuid.UUID
    name: str
    media_type: str
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class SealedBundle:
    bundle_id: uuid.UUID
    sha256: bytes  # of the whole bundle file: its identity for uploads and chaining
    size: int
    manifest: Manifest


class _Counting:
    def __init__(self, dst: BinaryIO) -> None:
        self.dst = dst
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, b: bytes) -> int:
        self.dst.write(b)
        self.h.update(b)
        self.n += len(b)
        return len(b)


def _hash_source(a: Attachment) -> tuple[int, bytes]:
    h, n = hashlib.sha256(), 0
    with a.open() as f:
        while chunk := f.read(_READ):
            h.update(chunk)
            n += len(chunk)
    return n, h.digest()


def seal_bundle(
    dst: BinaryIO,
    *,
    records: Sequence[Record],
    device: DeviceKey,
    recipients: Sequence[RecipientPublicKey],
    project_id: uuid.UUID,
    device_seq: int,
    prev_bundle_sha256: bytes = bytes(32),
    attachments: Sequence[Attachment] = (),
    limits: Limits = DEFAULT_LIMITS,
    clock: Clock = time.time_ns,
    rng: Rng = os.urandom,
) -> SealedBundle:
    """Seal ``records`` and ``attachments`` into ``dst``.

    Raises :class:`~schemas.errors.SealError` for input it cannot seal; the caller must
    then discard whatever was written to ``dst``. ``clock`` and ``rng`` exist for test
    vectors; production code never passes them.
    """
    if not records:
        raise SealError("a bundle needs at least one record")
    if len(records) > limits.max_records:
        raise SealError(f"more than {limits.max_records} records in one bundle")
    if len(attachments) > limits.max_attachments:
        raise SealError(f"more than {limits.max_attachments} attachments in one bundle")
    if len(prev_bundle_sha256) != 32:
        raise SealError("prev_bundle_sha256 must be 32 bytes")
    if not 1 <= device_seq < 2**63:
        raise SealError("device_seq must be a positive integer")

    encoded = []
    for r in records:
        # Struct constructors do not validate; check each record exactly as the opener
        # will decode it, so that nothing is sealed that cannot be opened.
        try:
            raw = encode_record(r)
            decode_record(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, TypeError) as e:
            where = str(e).split(" - at ")[-1] if " - at " in str(e) else "a field"
            raise SealError(f"record {r.record_id} is not a valid record ({where})") from None
        except RecursionError:
            raise SealError(f"record {r.record_id} has answers nested too deeply") from None
        encoded.append(raw)
    seen: set[tuple[uuid.UUID, int]] = set()
    total = 0
    for r, raw in zip(records, encoded, strict=True):
        if (r.record_id, r.version) in seen:
            raise SealError(f"record {r.record_id} v{r.version} appears twice")
        seen.add((r.record_id, r.version))
        if len(raw) > limits.max_record_bytes:
            raise SealError(f"record {r.record_id} is over {limits.max_record_bytes} bytes")
        total += len(raw)
    if total > limits.max_records_total_bytes:
        raise SealError(f"records total over {limits.max_records_total_bytes} bytes")

    # Attachments belong to a record id; every version of that record in the bundle may
    # name them, and each must be named by at least one (bundle-v1.md §7).
    given: set[tuple[uuid.UUID, str]] = set()
    for a in attachments:
        if (a.record_id, a.name) in given:
            raise SealError(f"attachment {a.name!r} appears twice on record {a.record_id}")
        given.add((a.record_id, a.name))
    named = {(r.record_id, n) for r in records for n in r.attachments}
    if named - given:
        raise SealError("a record names an attachment that was not given")
    if given - named:
        raise SealError("an attachment is named by no record in this bundle")

    att_entries = []
    for a in attachments:
        size, digest = _hash_source(a)
        if size > limits.max_attachment_bytes:
            raise SealError(f"attachment {a.name!r} over {limits.max_attachment_bytes} bytes")
        att_entries.append((a, size, digest))
    try:
        manifest = Manifest(
            device_id=device.device_id,
            device_seq=device_seq,
            prev_bundle_sha256=prev_bundle_sha256,
            created_at=datetime.datetime.fromtimestamp(
                clock() // 1_000_000 / 1000, tz=datetime.UTC
            ),
            records=tuple(
                RecordEntry(
                    record_id=r.record_id,
                    version=r.version,
                    form_id=r.form_id,
                    form_version=r.form_version,
                    size=len(raw),
                    sha256=hashlib.sha256(raw).digest(),
                )
                for r, raw in zip(records, encoded, strict=True)
            ),
            attachments=tuple(
                AttachmentEntry(
                    record_id=a.record_id,
                    name=a.name,
                    media_type=a.media_type,
                    size=size,
                    sha256=digest,
                )
                for a, size, digest in att_entries
            ),
        )
        # Struct constructors do not validate; a round trip through the decoder does.
        manifest_raw = encode_manifest(manifest)
        msgspec.msgpack.decode(manifest_raw, type=Manifest)
    except msgspec.ValidationError as e:
        raise SealError(f"manifest field out of range ({str(e).split(' - at ')[-1]})") from None
    if len(manifest_raw) > limits.max_manifest_bytes:
        raise SealError(f"manifest over {limits.max_manifest_bytes} bytes")

    if not 1 <= len(recipients) <= MAX_STANZAS:
        raise SealError(f"a bundle is sealed to 1 to {MAX_STANZAS} recipients")
    if len({r.key_id for r in recipients}) != len(recipients):
        raise SealError("a recipient is listed twice")
    file_key = rng(FILE_KEY_SIZE)
    bundle_id = new_id(clock=clock, rng=rng)
    header = build_header(
        bundle_id=bundle_id,
        project_id=project_id,
        recipients=recipients,
        file_key=file_key,
        rng=rng,
    )
    out = _Counting(dst)
    out.write(header.raw)
    stream = StreamWriter(out, hkdf(file_key, header.payload_nonce, LABEL_PAYLOAD))  # type: ignore[arg-type]
    del file_key
    stream.write(struct.pack(">I", len(manifest_raw)))
    stream.write(manifest_raw)
    stream.write(device.private.sign(signed_message(header.raw, manifest_raw)))
    for raw in encoded:
        stream.write(raw)
    for a, size, digest in att_entries:
        h, n = hashlib.sha256(), 0
        with a.open() as f:
            while chunk := f.read(_READ):
                h.update(chunk)
                n += len(chunk)
                if n > size:
                    break
                stream.write(chunk)
        if n != size or h.digest() != digest:
            raise SealError(f"attachment {a.name!r} changed while it was being sealed")
    stream.close()
    return SealedBundle(bundle_id=bundle_id, sha256=out.h.digest(), size=out.n, manifest=manifest)
