"""Opening a bundle (docs/spec/bundle-v1.md §9.2).

The opener reads the header, checks what the caller expects of it (project id, bundle
id) before any key is used, unwraps the file key with the project key, checks the header
MAC, verifies the device signature over header and manifest *before* trusting a byte of
the payload, then streams records and attachments, checking each against the manifest.
Records go into memory (decoded, within limits) or, one at a time, to a
:class:`RecordSink` that receives each with its answers still undecoded (a server's
ingest: its memory then does not grow with the bundle, §8). Attachments go to an
attachment sink. Any fault is one opaque :class:`~schemas.errors.BundleInvalid`; its
``reason`` is for the server's private log.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import BundleInvalid, BundleReason
from ..wire import Record, RecordHead, decode_record, decode_record_head
from ._header import LABEL_PAYLOAD, BundleHeader, hkdf, read_header
from ._keys import RecipientKey
from ._limits import DEFAULT_LIMITS, Limits
from ._manifest import Manifest, RecordEntry, decode_manifest, signed_message
from ._sinks import AttachmentSink, DiscardSink
from ._stream import StreamReader

__all__ = ["OpenedBundle", "RecordSink", "open_bundle"]

DeviceKeys = Callable[[uuid.UUID], Ed25519PublicKey | None]


class RecordSink(Protocol):
    """Takes each record as it is read, its hash and fields already checked against the
    signed manifest, its answers undecoded (``head.answers`` is their exact bytes).
    ``entry`` is the record's manifest entry (its size and SHA-256). Records are authentic
    when they arrive, but the bundle is not known to be whole until :func:`open_bundle`
    returns: a sink keeps what it makes of them until then."""

    def record(self, head: RecordHead, entry: RecordEntry) -> None: ...


@dataclass(frozen=True)
class OpenedBundle:
    header: BundleHeader
    manifest: Manifest
    records: tuple[Record, ...]
    sha256: bytes
    size: int

    @property
    def bundle_id(self) -> uuid.UUID:
        return self.header.bundle_id

    def __repr__(self) -> str:
        return (
            f"OpenedBundle(bundle_id={self.bundle_id}, device_id={self.manifest.device_id}, "
            f"records={len(self.records)}, attachments={len(self.manifest.attachments)})"
        )


class _Hashing:
    def __init__(self, src: BinaryIO, limit: int) -> None:
        self.src = src
        self.h = hashlib.sha256()
        self.n = 0
        self.limit = limit

    def read(self, n: int = -1) -> bytes:
        b = self.src.read(n)
        self.n += len(b)
        if self.n > self.limit:
            raise BundleInvalid(BundleReason.LIMIT_EXCEEDED, "bundle too large")
        self.h.update(b)
        return b


def open_bundle(
    src: BinaryIO,
    *,
    recipient: RecipientKey,
    device_keys: DeviceKeys,
    sink: AttachmentSink | None = None,
    records: RecordSink | None = None,
    limits: Limits = DEFAULT_LIMITS,
    project_id: uuid.UUID | None = None,
    bundle_id: uuid.UUID | None = None,
) -> OpenedBundle:
    """Open, authenticate and check a bundle read from ``src``.

    ``device_keys(device_id)`` returns the device's Ed25519 public key, or ``None`` if the
    device is unknown. Attachments go to ``sink`` (by default verified and discarded).
    Records are decoded into ``OpenedBundle.records``, unless ``records`` is given: it
    then receives each one undecoded, and ``OpenedBundle.records`` is empty. With
    ``project_id`` or ``bundle_id``, a header naming another is refused before any key
    is used (``WRONG_PROJECT``, ``WRONG_BUNDLE_ID``).
    """
    sink = sink or DiscardSink()
    expect = _Expect(project_id, bundle_id)
    try:
        result = _open(src, recipient, device_keys, sink, records, limits, expect)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    return result


@dataclass(frozen=True)
class _Expect:
    project_id: uuid.UUID | None
    bundle_id: uuid.UUID | None

    def check(self, header: BundleHeader) -> None:
        if self.project_id is not None and header.project_id != self.project_id:
            raise BundleInvalid(BundleReason.WRONG_PROJECT)
        if self.bundle_id is not None and header.bundle_id != self.bundle_id:
            raise BundleInvalid(BundleReason.WRONG_BUNDLE_ID)


def _open(
    src: BinaryIO,
    recipient: RecipientKey,
    device_keys: DeviceKeys,
    sink: AttachmentSink,
    record_sink: RecordSink | None,
    limits: Limits,
    expect: _Expect,
) -> OpenedBundle:
    reader = _Hashing(src, limits.max_bundle_bytes)
    header = read_header(reader)  # type: ignore[arg-type]
    expect.check(header)
    file_key = header.unwrap(recipient)
    stream = StreamReader(reader, hkdf(file_key, header.payload_nonce, LABEL_PAYLOAD))  # type: ignore[arg-type]
    del file_key

    (mlen,) = struct.unpack(">I", stream.read(4))
    if mlen == 0:
        raise BundleInvalid(BundleReason.MANIFEST_INVALID, "empty manifest")
    if mlen > limits.max_manifest_bytes:
        raise BundleInvalid(BundleReason.LIMIT_EXCEEDED, "manifest too large")
    manifest_raw = stream.read(mlen)
    try:
        manifest = decode_manifest(manifest_raw)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        raise BundleInvalid(BundleReason.MANIFEST_INVALID) from None
    signature = stream.read(64)

    device_key = device_keys(manifest.device_id)
    if device_key is None:
        raise BundleInvalid(BundleReason.UNKNOWN_DEVICE)
    try:
        device_key.verify(signature, signed_message(header.raw, manifest_raw))
    except InvalidSignature:
        raise BundleInvalid(BundleReason.SIGNATURE_INVALID) from None

    _check_manifest(manifest, limits)

    records: list[Record] = []
    listed: set[tuple[uuid.UUID, str]] = set()
    names: dict[uuid.UUID, set[str]] = {}
    for a in manifest.attachments:
        names.setdefault(a.record_id, set()).add(a.name)
    for entry in manifest.records:
        raw = stream.read(entry.size)
        if hashlib.sha256(raw).digest() != entry.sha256:
            raise BundleInvalid(BundleReason.MANIFEST_MISMATCH, "record hash")
        rec: Record | RecordHead
        try:
            rec = decode_record(raw) if record_sink is None else decode_record_head(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise BundleInvalid(BundleReason.RECORD_INVALID) from None
        except RecursionError:  # answers nested beyond what the decoder can follow
            raise BundleInvalid(BundleReason.RECORD_INVALID, "nested too deeply") from None
        if (rec.record_id, rec.version, rec.form_id, rec.form_version) != (
            entry.record_id,
            entry.version,
            entry.form_id,
            entry.form_version,
        ) or not set(rec.attachments) <= names.get(rec.record_id, set()):
            raise BundleInvalid(BundleReason.MANIFEST_MISMATCH, "record fields")
        listed.update((rec.record_id, n) for n in rec.attachments)
        if record_sink is None:
            assert isinstance(rec, Record)
            records.append(rec)
        else:
            assert isinstance(rec, RecordHead)
            record_sink.record(rec, entry)
        del raw, rec
    if any((a.record_id, a.name) not in listed for a in manifest.attachments):
        raise BundleInvalid(BundleReason.MANIFEST_MISMATCH, "attachment named by no record")

    for att in manifest.attachments:
        h = hashlib.sha256()
        sink.begin(att)

        def feed(b: memoryview, h: hashlib._Hash = h) -> None:
            h.update(b)
            sink.write(b)

        stream.read_into(att.size, feed)
        if h.digest() != att.sha256:
            raise BundleInvalid(BundleReason.MANIFEST_MISMATCH, "attachment hash")
        sink.end(att)

    stream.finish()
    return OpenedBundle(
        header=header,
        manifest=manifest,
        records=tuple(records),
        sha256=reader.h.digest(),
        size=reader.n,
    )


def _check_manifest(m: Manifest, limits: Limits) -> None:
    if not m.records:
        raise BundleInvalid(BundleReason.MANIFEST_INVALID, "no records")
    if len(m.records) > limits.max_records or len(m.attachments) > limits.max_attachments:
        raise BundleInvalid(BundleReason.LIMIT_EXCEEDED, "too many entries")
    total = 0
    keys: set[tuple[uuid.UUID, int]] = set()
    for r in m.records:
        if r.size > limits.max_record_bytes:
            raise BundleInvalid(BundleReason.LIMIT_EXCEEDED, "record too large")
        total += r.size
        if (r.record_id, r.version) in keys:
            raise BundleInvalid(BundleReason.MANIFEST_INVALID, "duplicate record")
        keys.add((r.record_id, r.version))
    if total > limits.max_records_total_bytes:
        raise BundleInvalid(BundleReason.LIMIT_EXCEEDED, "records too large")
    record_ids = {r.record_id for r in m.records}
    seen: set[tuple[uuid.UUID, str]] = set()
    for a in m.attachments:
        if a.size > limits.max_attachment_bytes:
            raise BundleInvalid(BundleReason.LIMIT_EXCEEDED, "attachment too large")
        if a.record_id not in record_ids or (a.record_id, a.name) in seen:
            raise BundleInvalid(BundleReason.MANIFEST_INVALID, "attachment entry")
        seen.add((a.record_id, a.name))
