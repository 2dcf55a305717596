"""Generate the bundle test vectors in ``tests/vectors/bundle/`` (docs/spec/bundle-v1.md §11).

One JSON file per case, each saying what must happen::

    name, description          the case and the attack it stands for
    expect                     "success" or "invalid"
    reason                     the BundleReason name an opener reports (null on success)
    recipient_private_key      hex, the X25519 key to open with
    devices                    device id -> Ed25519 public key (hex): what the opener knows
    expected                   on success: what the opened bundle holds
    bundle                     base64 of the bundle file

Everything is deterministic: randomness comes from a SHA-256 counter-mode DRBG seeded
with a per-vector string, the clock is fixed, and every key is derived from a label. Run
twice, the generator writes byte-identical files.

Usage (from the repository root, with the package importable, e.g. ``make vectors``)::

    python tests/vectors/generate_bundle_vectors.py            # write missing vectors only
    python tests/vectors/generate_bundle_vectors.py --check    # compare, write nothing
    python tests/vectors/generate_bundle_vectors.py --force    # rewrite every vector

By default existing files are left alone, so re-running is harmless. ``--force`` exists
for a deliberate format change and is never for a fixed attack: a vector that pins a
fixed attack is data, and is never regenerated.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import hashlib
import hmac
import io
import json
import struct
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from schemas.bundle import CHUNK_SIZE, Attachment, DeviceKey, RecipientKey, seal_bundle
from schemas.bundle._header import (
    FILE_KEY_SIZE,
    LABEL_HEADER,
    LABEL_PAYLOAD,
    LABEL_X25519,
    PREFIX_SIZE,
    STANZA_SIZE,
    VERSION_LINE,
    ZERO_NONCE,
    BundleHeader,
    Stanza,
    _stanza_aad,
    build_header,
    hkdf,
)
from schemas.bundle._keys import _raw_public
from schemas.bundle._manifest import (
    AttachmentEntry,
    Manifest,
    RecordEntry,
    encode_manifest,
    signed_message,
)
from schemas.bundle._stream import ENC_CHUNK, _nonce
from schemas.ids import Rng, new_id
from schemas.wire import Record, encode_record

OUT_DIR = Path(__file__).resolve().parent / "bundle"

# ---------------------------------------------------------------------------------------
# Deterministic inputs


class Drbg:
    """SHA-256 in counter mode over a seed string. For test vectors only, never for keys."""

    def __init__(self, seed: str) -> None:
        self._key = hashlib.sha256(b"sealsync test vector drbg\x00" + seed.encode()).digest()
        self._counter = 0
        self._buf = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buf) < n:
            block = self._key + self._counter.to_bytes(8, "big")
            self._buf += hashlib.sha256(block).digest()
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _key_bytes(label: str) -> bytes:
    return hashlib.sha256(b"sealsync test vector key\x00" + label.encode()).digest()


def recipient(label: str) -> RecipientKey:
    return RecipientKey.from_bytes(_key_bytes(f"recipient {label}"))


def device(label: str, device_id: str) -> DeviceKey:
    private = Ed25519PrivateKey.from_private_bytes(_key_bytes(f"device {label}"))
    return DeviceKey(uuid.UUID(device_id), private)


RECIPIENT_A = recipient("A")
RECIPIENT_B = recipient("B")
RECIPIENT_OTHER = recipient("other")
DEVICE_A = device("A", "6f1c0a52-3d4e-4b7a-9c2d-5e8f1a2b3c4d")
DEVICE_B = device("B", "0b7e3c1d-9a2f-4e6b-8d1c-2f3a4b5c6d7e")
DEVICE_UNKNOWN = device("unknown", "c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f")
KNOWN_DEVICES = (DEVICE_A, DEVICE_B)
PROJECT_ID = uuid.UUID("5a0f3e2d-1c4b-4a69-8877-665544332211")
CLOCK_NS = 1_717_236_000_123_000_000  # 2024-06-01T10:00:00.123Z
RECORD_TIME = datetime.datetime(2024, 5, 30, 8, 15, tzinfo=datetime.UTC)
FORM_ID = "escapee-interview"


def clock() -> int:
    return CLOCK_NS


def record(
    rng: Rng,
    i: int,
    *,
    version: int = 1,
    attachments: Sequence[str] = (),
    record_id: uuid.UUID | None = None,
    lang: str = "ko",
    answers: dict[str, Any] | None = None,
) -> Record:
    """A synthetic record: no real person, no real testimony."""
    return Record(
        record_id=record_id or new_id(clock=lambda: CLOCK_NS - 86_400_000_000_000, rng=rng),
        version=version,
        form_id=FORM_ID,
        form_version=3,
        created_at=RECORD_TIME,
        modified_at=RECORD_TIME + datetime.timedelta(minutes=version),
        lang=lang,
        answers=answers
        if answers is not None
        else {
            "interviewer_code": f"INT-{i:03d}",
            "age_band": ["18-29", "30-39", "40-49", "50-59"][i % 4],
            "region_code": f"R{i % 7}",
            "consent": True,
            "household": [{"relation": "sibling", "birth_year": 1980 + i % 20}],
            "notes": f"synthetic test record {i}",
        },
        attachments=tuple(attachments),
    )


@dataclass(frozen=True)
class Content:
    """What a bundle carries: records, and attachments as (record id, name, type, bytes)."""

    records: tuple[Record, ...]
    attachments: tuple[tuple[uuid.UUID, str, str, bytes], ...] = ()


def pattern(label: str, n: int) -> bytes:
    return Drbg(f"attachment {label}")(n)


# ---------------------------------------------------------------------------------------
# Sealing: the real sealer, and a hand-made one that can be told to lie


@dataclass(frozen=True)
class Sealed:
    data: bytes
    bundle_id: uuid.UUID
    manifest: Manifest


def seal(
    content: Content,
    seed: str,
    *,
    recipients: Sequence[RecipientKey] = (RECIPIENT_A,),
    dev: DeviceKey = DEVICE_A,
    device_seq: int = 1,
    prev_bundle_sha256: bytes = bytes(32),
) -> Sealed:
    """Seal with :func:`schemas.bundle.seal_bundle`, pinned clock and randomness."""
    buf = io.BytesIO()

    def opener(data: bytes) -> Callable[[], io.BytesIO]:
        return lambda: io.BytesIO(data)

    sealed = seal_bundle(
        buf,
        records=content.records,
        attachments=[Attachment(r, n, t, opener(d)) for r, n, t, d in content.attachments],
        device=dev,
        recipients=[r.public() for r in recipients],
        project_id=PROJECT_ID,
        device_seq=device_seq,
        prev_bundle_sha256=prev_bundle_sha256,
        clock=clock,
        rng=Drbg(seed),
    )
    return Sealed(buf.getvalue(), sealed.bundle_id, sealed.manifest)


def build_manifest(
    content: Content,
    encoded: Sequence[bytes],
    *,
    dev: DeviceKey = DEVICE_A,
    device_seq: int = 1,
    prev_bundle_sha256: bytes = bytes(32),
) -> Manifest:
    """The manifest seal_bundle would write (docs/spec/bundle-v1.md §6.1)."""
    return Manifest(
        device_id=dev.device_id,
        device_seq=device_seq,
        prev_bundle_sha256=prev_bundle_sha256,
        created_at=datetime.datetime.fromtimestamp(CLOCK_NS // 1_000_000 / 1000, tz=datetime.UTC),
        records=tuple(
            RecordEntry(
                record_id=r.record_id,
                version=r.version,
                form_id=r.form_id,
                form_version=r.form_version,
                size=len(raw),
                sha256=hashlib.sha256(raw).digest(),
            )
            for r, raw in zip(content.records, encoded, strict=True)
        ),
        attachments=tuple(
            AttachmentEntry(
                record_id=rid,
                name=name,
                media_type=media_type,
                size=len(data),
                sha256=hashlib.sha256(data).digest(),
            )
            for rid, name, media_type, data in content.attachments
        ),
    )


def wrap_stanza(prefix: bytes, to: RecipientKey, file_key: bytes, rng: Rng) -> Stanza:
    """One X25519 stanza (§4.1), as build_header makes it, for any prefix."""
    pub = to.public()
    eph = X25519PrivateKey.from_private_bytes(rng(32))
    eph_pub = _raw_public(eph.public_key())
    wrap_key = hkdf(eph.exchange(pub.x25519()), eph_pub + pub.raw, LABEL_X25519)
    wrapped = ChaCha20Poly1305(wrap_key).encrypt(
        ZERO_NONCE, file_key, _stanza_aad(prefix, pub.key_id)
    )
    return Stanza(pub.key_id, eph_pub, wrapped)


def assemble_header(prefix: bytes, stanzas: Sequence[Stanza], file_key: bytes) -> bytes:
    """Prefix, stanzas in the order given, and a correct header MAC (§4.2)."""
    body = prefix + b"".join(s.encode() for s in stanzas)
    return body + hmac.new(hkdf(file_key, b"", LABEL_HEADER), body, hashlib.sha256).digest()


def encrypt_payload(key: bytes, plaintext: bytes, *, empty_final_chunk: bool = False) -> bytes:
    """The STREAM of §5, written independently of schemas.bundle._stream.

    With ``empty_final_chunk`` every piece of plaintext goes into non-final chunks and an
    empty final chunk follows: what §5 forbids.
    """
    aead = ChaCha20Poly1305(key)
    pieces = [plaintext[i : i + CHUNK_SIZE] for i in range(0, len(plaintext), CHUNK_SIZE)]
    if empty_final_chunk or not pieces:
        pieces.append(b"")
    last = len(pieces) - 1
    return b"".join(aead.encrypt(_nonce(i, i == last), p, None) for i, p in enumerate(pieces))


HeaderHook = Callable[[BundleHeader, bytes, Rng], bytes]


@dataclass(frozen=True)
class Lies:
    """What :func:`seal_by_hand` does differently from an honest sealer."""

    record_bytes: Callable[[int, bytes], bytes] | None = None  # before the manifest sees them
    manifest: Callable[[Manifest], Manifest] | None = None
    manifest_bytes: Callable[[bytes], bytes] | None = None
    bundle_id: Callable[[uuid.UUID], uuid.UUID] | None = None
    header: HeaderHook | None = None  # (header, file key, rng) -> raw header bytes
    signed_header: bytes | None = None  # sign over this header instead of the real one
    plaintext: Callable[[bytes], bytes] | None = None
    empty_final_chunk: bool = False


def seal_by_hand(
    content: Content,
    seed: str,
    lies: Lies = Lies(),  # noqa: B008 - frozen, never mutated
    *,
    recipients: Sequence[RecipientKey] = (RECIPIENT_A,),
    dev: DeviceKey = DEVICE_A,
    device_seq: int = 1,
) -> bytes:
    """Seal like seal_bundle, step by step (§9.1), so that any one step can be made wrong.

    With no lies it writes exactly what :func:`seal` writes (a test checks this), so a
    vector made with one lie differs from a valid bundle in that lie only: the header MAC,
    the stanzas and the signature are all correct for the bytes as written.
    """
    rng = Drbg(seed)
    encoded = [encode_record(r) for r in content.records]
    if lies.record_bytes:
        encoded = [lies.record_bytes(i, raw) for i, raw in enumerate(encoded)]
    manifest = build_manifest(content, encoded, dev=dev, device_seq=device_seq)
    if lies.manifest:
        manifest = lies.manifest(manifest)
    manifest_raw = encode_manifest(manifest)
    if lies.manifest_bytes:
        manifest_raw = lies.manifest_bytes(manifest_raw)

    file_key = rng(FILE_KEY_SIZE)
    bundle_id = new_id(clock=clock, rng=rng)
    if lies.bundle_id:
        bundle_id = lies.bundle_id(bundle_id)
    header = build_header(
        bundle_id=bundle_id,
        project_id=PROJECT_ID,
        recipients=[r.public() for r in recipients],
        file_key=file_key,
        rng=rng,
    )
    header_raw = lies.header(header, file_key, rng) if lies.header else header.raw
    payload_nonce = header_raw[51:67]
    signature = dev.private.sign(signed_message(lies.signed_header or header_raw, manifest_raw))
    plaintext = b"".join(
        [struct.pack(">I", len(manifest_raw)), manifest_raw, signature, *encoded]
        + [data for _, _, _, data in content.attachments]
    )
    if lies.plaintext:
        plaintext = lies.plaintext(plaintext)
    payload_key = hkdf(file_key, payload_nonce, LABEL_PAYLOAD)
    return header_raw + encrypt_payload(
        payload_key, plaintext, empty_final_chunk=lies.empty_final_chunk
    )


# ---------------------------------------------------------------------------------------
# Contents and base bundles


@functools.cache
def single_content() -> Content:
    return Content((record(Drbg("content single"), 0),))


@functools.cache
def chunk_size_content() -> Content:
    """One attachment of exactly CHUNK_SIZE bytes: the payload takes two chunks."""
    rec = record(Drbg("content chunk size"), 0, attachments=("interview.ogg",))
    data = pattern("chunk size", CHUNK_SIZE)
    return Content((rec,), ((rec.record_id, "interview.ogg", "audio/ogg", data),))


@functools.cache
def multi_chunk_content() -> Content:
    """Two records and attachments spanning three chunks (two full, one short)."""
    rng = Drbg("content multi chunk")
    r0 = record(rng, 0, attachments=("interview.ogg", "sketch.png"))
    r1 = record(rng, 1)
    return Content(
        (r0, r1),
        (
            (r0.record_id, "interview.ogg", "audio/ogg", pattern("multi ogg", 2 * CHUNK_SIZE)),
            (r0.record_id, "sketch.png", "image/png", pattern("multi png", 1_234)),
        ),
    )


def payload_size(content: Content) -> int:
    encoded = [encode_record(r) for r in content.records]
    manifest_raw = encode_manifest(build_manifest(content, encoded))
    data = sum(len(d) for _, _, _, d in content.attachments)
    return 4 + len(manifest_raw) + 64 + sum(map(len, encoded)) + data


@functools.cache
def exact_multiple_content() -> Content:
    """Attachments of 0 and CHUNK_SIZE bytes and a filler sized so that the payload
    plaintext is exactly 2 * CHUNK_SIZE: the final chunk is full, never empty."""
    rec = record(Drbg("content exact multiple"), 0, attachments=("empty.txt", "a.bin", "b.bin"))

    def content(filler: int) -> Content:
        return Content(
            (rec,),
            (
                (rec.record_id, "empty.txt", "text/plain", b""),
                (rec.record_id, "a.bin", "application/octet-stream", pattern("a", CHUNK_SIZE)),
                (rec.record_id, "b.bin", "application/octet-stream", pattern("b", filler)),
            ),
        )

    filler = 0
    for _ in range(10):  # the manifest's length depends (a little) on the filler's size
        nxt = 2 * CHUNK_SIZE - (payload_size(content(filler)) - filler)
        if nxt == filler:
            break
        filler = nxt
    result = content(filler)
    assert payload_size(result) == 2 * CHUNK_SIZE
    return result


@functools.cache
def base_small() -> Sealed:
    return seal(single_content(), "base small")


@functools.cache
def base_two_chunks() -> Sealed:
    return seal(chunk_size_content(), "base two chunks")


@functools.cache
def base_three_chunks() -> Sealed:
    return seal(multi_chunk_content(), "base three chunks")


@functools.cache
def base_exact_multiple() -> Sealed:
    return seal(exact_multiple_content(), "base exact multiple")


@functools.cache
def base_two_recipients() -> Sealed:
    return seal(single_content(), "base two recipients", recipients=(RECIPIENT_A, RECIPIENT_B))


def header_len(n_stanzas: int = 1) -> int:
    return PREFIX_SIZE + n_stanzas * STANZA_SIZE + 32


def chunks(data: bytes, n_stanzas: int = 1) -> tuple[bytes, list[bytes]]:
    h = header_len(n_stanzas)
    payload = data[h:]
    return data[:h], [payload[i : i + ENC_CHUNK] for i in range(0, len(payload), ENC_CHUNK)]


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[offset] ^= 1 << bit
    return bytes(b)


# ---------------------------------------------------------------------------------------
# The vectors


def _devices(devices: Sequence[DeviceKey]) -> dict[str, str]:
    return {str(d.device_id): d.public_bytes().hex() for d in devices}


def invalid(
    description: str,
    reason: str,
    data: bytes,
    *,
    key: RecipientKey = RECIPIENT_A,
    devices: Sequence[DeviceKey] = KNOWN_DEVICES,
    expect_project_id: uuid.UUID | None = None,
    expect_bundle_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    v = {
        "description": description,
        "expect": "invalid",
        "reason": reason,
        "recipient_private_key": key.private.private_bytes_raw().hex(),
        "devices": _devices(devices),
        "bundle": base64.b64encode(data).decode(),
    }
    # What the opener is told to expect of the header (bundle-v1.md §9.2 step 2).
    if expect_project_id is not None:
        v["expect_project_id"] = str(expect_project_id)
    if expect_bundle_id is not None:
        v["expect_bundle_id"] = str(expect_bundle_id)
    return v


def success(
    description: str,
    sealed: Sealed,
    content: Content,
    *,
    key: RecipientKey = RECIPIENT_A,
    devices: Sequence[DeviceKey] = KNOWN_DEVICES,
) -> dict[str, Any]:
    m = sealed.manifest
    return {
        "description": description,
        "expect": "success",
        "reason": None,
        "recipient_private_key": key.private.private_bytes_raw().hex(),
        "devices": _devices(devices),
        "expected": {
            "bundle_id": str(sealed.bundle_id),
            "sha256": hashlib.sha256(sealed.data).hexdigest(),
            "size": len(sealed.data),
            "device_id": str(m.device_id),
            "device_seq": m.device_seq,
            "prev_bundle_sha256": m.prev_bundle_sha256.hex(),
            "record_count": len(content.records),
            "records": [
                {
                    "record_id": str(r.record_id),
                    "version": r.version,
                    "form_id": r.form_id,
                    "form_version": r.form_version,
                }
                for r in content.records
            ],
            "attachments": [
                {
                    "record_id": str(rid),
                    "name": name,
                    "media_type": media_type,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                for rid, name, media_type, data in content.attachments
            ],
        },
        "bundle": base64.b64encode(sealed.data).decode(),
    }


VECTORS: dict[str, Callable[[], dict[str, Any]]] = {}


def vector(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    VECTORS[fn.__name__] = fn
    return fn


# --- success --------------------------------------------------------------------------


@vector
def single_record() -> dict[str, Any]:
    return success(
        "One record, no attachments: the smallest ordinary bundle.", base_small(), single_content()
    )


@vector
def many_records() -> dict[str, Any]:
    rng = Drbg("content many")
    recs = [record(rng, i) for i in range(40)]
    recs.append(record(rng, 40, version=2, record_id=recs[0].record_id))
    content = Content(tuple(recs))
    prev = hashlib.sha256(base_small().data).digest()
    sealed = seal(content, "many records", device_seq=2, prev_bundle_sha256=prev)
    return success(
        "41 records (one of them a second version of another) in one bundle;"
        " device_seq 2 chained to single_record by prev_bundle_sha256.",
        sealed,
        content,
    )


@vector
def attachment_empty() -> dict[str, Any]:
    rec = record(Drbg("content empty attachment"), 0, attachments=("blank.txt",))
    content = Content((rec,), ((rec.record_id, "blank.txt", "text/plain", b""),))
    return success(
        "A record with one empty (0-byte) attachment.", seal(content, "empty att"), content
    )


@vector
def attachment_chunk_size() -> dict[str, Any]:
    return success(
        "One attachment of exactly CHUNK_SIZE (65536) bytes; the payload takes two chunks.",
        base_two_chunks(),
        chunk_size_content(),
    )


@vector
def payload_exact_multiple() -> dict[str, Any]:
    return success(
        "Attachments of 0, 65536 and a filler size chosen so that the payload plaintext"
        " (4 + manifest + 64 + records + attachments) is exactly 2 * 65536 bytes: two full"
        " chunks, the second one final; no empty final chunk.",
        base_exact_multiple(),
        exact_multiple_content(),
    )


@vector
def multi_chunk() -> dict[str, Any]:
    return success(
        "Two records and two attachments (131072 and 1234 bytes) over three chunks.",
        base_three_chunks(),
        multi_chunk_content(),
    )


@vector
def two_recipients_key_a() -> dict[str, Any]:
    return success(
        "Sealed to two recipients; opened with the first key (same bundle as"
        " two_recipients_key_b).",
        base_two_recipients(),
        single_content(),
        key=RECIPIENT_A,
    )


@vector
def two_recipients_key_b() -> dict[str, Any]:
    return success(
        "Sealed to two recipients; opened with the second key (same bundle as"
        " two_recipients_key_a).",
        base_two_recipients(),
        single_content(),
        key=RECIPIENT_B,
    )


# --- header ---------------------------------------------------------------------------


@vector
def empty_file() -> dict[str, Any]:
    return invalid("A zero-byte file.", "MALFORMED_HEADER", b"")


@vector
def truncated_version_line() -> dict[str, Any]:
    return invalid(
        "File ends inside the version line (10 bytes).", "MALFORMED_HEADER", base_small().data[:10]
    )


@vector
def truncated_header() -> dict[str, Any]:
    return invalid(
        "File ends inside the header (100 of 197 bytes: in the stanza).",
        "MALFORMED_HEADER",
        base_small().data[:100],
    )


@vector
def truncated_header_mac() -> dict[str, Any]:
    return invalid(
        "File ends inside the header MAC (196 of 197 bytes).",
        "MALFORMED_HEADER",
        base_small().data[:196],
    )


@vector
def unsupported_version() -> dict[str, Any]:
    data = b"sealsync/bundle/v2\n" + base_small().data[len(VERSION_LINE) :]
    return invalid(
        'Version line "sealsync/bundle/v2\\n": a later version this opener does not know.',
        "UNSUPPORTED_VERSION",
        data,
    )


@vector
def bitflip_version_line() -> dict[str, Any]:
    return invalid(
        "Bit 0 of byte 0 flipped ('s' -> 'r'): not a sealsync version line at all.",
        "MALFORMED_HEADER",
        flip(base_small().data, 0),
    )


@vector
def bitflip_version_digit() -> dict[str, Any]:
    return invalid(
        "Bit 0 of byte 17 flipped ('v1' -> 'v0'): a sealsync/bundle/ line of another version.",
        "UNSUPPORTED_VERSION",
        flip(base_small().data, 17),
    )


@vector
def bitflip_bundle_id() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the last bundle id byte (offset 34) flipped; still a UUIDv7, but the"
        " stanza AAD binds the header prefix, so the wrapped key fails to open.",
        "STANZA_INVALID",
        flip(base_small().data, 34),
    )


@vector
def bitflip_project_id() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the first project id byte (offset 35) flipped; caught by the stanza AAD.",
        "STANZA_INVALID",
        flip(base_small().data, 35),
    )


@vector
def bitflip_payload_nonce() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the first payload nonce byte (offset 51) flipped; caught by the stanza AAD.",
        "STANZA_INVALID",
        flip(base_small().data, 51),
    )


@vector
def bitflip_stanza_count() -> dict[str, Any]:
    return invalid(
        "Stanza count 1 -> 3 (bit 1 of offset 67): the second 'stanza' starts at the old"
        " header MAC, whose first byte is not the X25519 stanza type.",
        "MALFORMED_HEADER",
        flip(base_small().data, 67, 1),
    )


@vector
def bitflip_stanza_type() -> dict[str, Any]:
    return invalid(
        "Stanza type 0x01 -> 0x03 (bit 1 of offset 68): an unknown stanza type.",
        "MALFORMED_HEADER",
        flip(base_small().data, 68, 1),
    )


@vector
def bitflip_stanza_key_id() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the stanza's first key id byte (offset 69) flipped: no stanza names the"
        " opener's key any more.",
        "WRONG_RECIPIENT",
        flip(base_small().data, 69),
    )


@vector
def bitflip_ephemeral() -> dict[str, Any]:
    return invalid(
        "Top bit of the ephemeral share (bit 7 of offset 116) flipped. X25519 ignores that"
        " bit, so the shared secret is unchanged; the wrap key's HKDF salt holds the share's"
        " exact bytes, so the wrapped key fails to open.",
        "STANZA_INVALID",
        flip(base_small().data, 116, 7),
    )


@vector
def bitflip_wrapped_key() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the first wrapped key byte (offset 117) flipped.",
        "STANZA_INVALID",
        flip(base_small().data, 117),
    )


@vector
def bitflip_header_mac() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the first header MAC byte (offset 165) flipped.",
        "HEADER_MAC",
        flip(base_small().data, 165),
    )


@vector
def bitflip_other_stanza() -> dict[str, Any]:
    sealed = base_two_recipients()
    ids = sorted([RECIPIENT_A.public().key_id, RECIPIENT_B.public().key_id])
    other = ids.index(RECIPIENT_B.public().key_id)
    offset = PREFIX_SIZE + other * STANZA_SIZE + 49  # first byte of B's wrapped key
    return invalid(
        "Two recipients; a bit of the other recipient's wrapped key flipped. The opener's"
        " own stanza opens, and only the header MAC covers the other stanza.",
        "HEADER_MAC",
        flip(sealed.data, offset),
    )


@vector
def wrong_recipient() -> dict[str, Any]:
    return invalid(
        "A valid bundle sealed to another project key.",
        "WRONG_RECIPIENT",
        base_small().data,
        key=RECIPIENT_OTHER,
    )


@vector
def wrong_project() -> dict[str, Any]:
    return invalid(
        "A valid bundle sealed to this recipient key, whose header names another project"
        " than the one the opener serves: refused before the stanza is opened.",
        "WRONG_PROJECT",
        base_small().data,
        expect_project_id=uuid.UUID("0d1e2f30-4152-4637-8899-aabbccddeeff"),
    )


@vector
def wrong_bundle_id() -> dict[str, Any]:
    return invalid(
        "A valid bundle uploaded under another bundle id than its header's: refused"
        " before the stanza is opened.",
        "WRONG_BUNDLE_ID",
        base_small().data,
        expect_project_id=PROJECT_ID,
        expect_bundle_id=uuid.UUID("018f0000-0000-7000-8000-000000000001"),
    )


def _reorder_stanzas(header: BundleHeader, file_key: bytes, rng: Rng) -> bytes:
    return assemble_header(header.raw[:PREFIX_SIZE], header.stanzas[::-1], file_key)


@vector
def stanzas_out_of_order() -> dict[str, Any]:
    data = seal_by_hand(
        single_content(),
        "stanzas out of order",
        Lies(header=_reorder_stanzas),
        recipients=(RECIPIENT_A, RECIPIENT_B),
    )
    return invalid(
        "Two stanzas with key ids in descending order. Every stanza opens, the header MAC"
        " and the signature are correct for these bytes: only the order is wrong.",
        "NON_CANONICAL_HEADER",
        data,
    )


def _stanza_count(n: int) -> HeaderHook:
    def hook(header: BundleHeader, file_key: bytes, rng: Rng) -> bytes:
        prefix = header.raw[: PREFIX_SIZE - 1] + bytes([n])
        keys = [RECIPIENT_A] + [recipient(f"extra {i}") for i in range(n - 1)] if n else []
        keys.sort(key=lambda k: k.public().key_id)
        return assemble_header(
            prefix, [wrap_stanza(prefix, k, file_key, rng) for k in keys], file_key
        )

    return hook


@vector
def stanza_count_0() -> dict[str, Any]:
    data = seal_by_hand(single_content(), "stanza count 0", Lies(header=_stanza_count(0)))
    return invalid(
        "A header with a stanza count of 0 and no stanzas (MAC correct under the file key).",
        "MALFORMED_HEADER",
        data,
    )


@vector
def stanza_count_9() -> dict[str, Any]:
    data = seal_by_hand(single_content(), "stanza count 9", Lies(header=_stanza_count(9)))
    return invalid(
        "Nine well-formed stanzas in ascending order, one for the opener, MAC and signature"
        " correct: more than the 8 allowed.",
        "OVERSIZED_HEADER",
        data,
    )


@vector
def bundle_id_not_v7() -> dict[str, Any]:
    data = seal_by_hand(
        single_content(),
        "bundle id v4",
        Lies(bundle_id=lambda u: uuid.UUID(int=u.int, version=4)),
    )
    return invalid(
        "Bundle id is a UUIDv4 (version nibble 4); otherwise a correct bundle.",
        "NON_CANONICAL_HEADER",
        data,
    )


def _ephemeral(share: bytes) -> HeaderHook:
    def hook(header: BundleHeader, file_key: bytes, rng: Rng) -> bytes:
        (s,) = header.stanzas
        return assemble_header(
            header.raw[:PREFIX_SIZE], [Stanza(s.key_id, share, s.wrapped)], file_key
        )

    return hook


@vector
def ephemeral_zero() -> dict[str, Any]:
    data = seal_by_hand(single_content(), "ephemeral zero", Lies(header=_ephemeral(bytes(32))))
    return invalid(
        "Ephemeral share of 32 zero bytes (a low-order point: the shared secret is all"
        " zeros), header MAC recomputed.",
        "STANZA_INVALID",
        data,
    )


@vector
def ephemeral_low_order() -> dict[str, Any]:
    order8 = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
    data = seal_by_hand(single_content(), "ephemeral order 8", Lies(header=_ephemeral(order8)))
    return invalid(
        "Ephemeral share is a point of order 8 (shared secret all zeros), MAC recomputed.",
        "STANZA_INVALID",
        data,
    )


# --- stream ---------------------------------------------------------------------------


@vector
def truncated_after_header() -> dict[str, Any]:
    return invalid(
        "The header alone: the payload is missing entirely.",
        "TRUNCATED",
        base_small().data[: header_len()],
    )


@vector
def truncated_in_tag() -> dict[str, Any]:
    return invalid(
        "The header and 10 payload bytes: shorter than one chunk's tag.",
        "TRUNCATED",
        base_small().data[: header_len() + 10],
    )


@vector
def truncated_at_chunk_boundary() -> dict[str, Any]:
    head, cs = chunks(base_two_chunks().data)
    return invalid(
        "Two-chunk bundle cut right after its first (full, non-final) chunk. The chunk opens"
        " as non-final but is last in the file.",
        "TRUNCATED",
        head + cs[0],
    )


@vector
def truncated_mid_chunk() -> dict[str, Any]:
    data = base_two_chunks().data
    return invalid(
        "Two-chunk bundle with its final chunk cut 100 bytes short. A cut inside a chunk"
        " cannot be told from corruption, so the reason given is CHUNK_INVALID.",
        "CHUNK_INVALID",
        data[:-100],
    )


@vector
def reordered_chunks() -> dict[str, Any]:
    head, cs = chunks(base_three_chunks().data)
    return invalid(
        "Three-chunk bundle with its two full chunks swapped (1, 0, 2).",
        "CHUNK_INVALID",
        head + cs[1] + cs[0] + cs[2],
    )


@vector
def duplicated_chunk() -> dict[str, Any]:
    head, cs = chunks(base_two_chunks().data)
    return invalid(
        "Two-chunk bundle with its first chunk repeated (0, 0, 1).",
        "CHUNK_INVALID",
        head + cs[0] + cs[0] + cs[1],
    )


@vector
def spliced_chunk() -> dict[str, Any]:
    head, cs = chunks(base_two_chunks().data)
    _, donor = chunks(seal(chunk_size_content(), "splice donor").data)
    assert len(donor[1]) == len(cs[1])
    return invalid(
        "Two-chunk bundle whose final chunk is taken from another bundle with the same"
        " contents, sealed to the same key (different file key).",
        "CHUNK_INVALID",
        head + cs[0] + donor[1],
    )


@vector
def trailing_after_full_final_chunk() -> dict[str, Any]:
    return invalid(
        "payload_exact_multiple (final chunk full) plus one 0x00 byte: the full final chunk"
        " then sits where a non-final chunk must be, and opens only as final.",
        "TRAILING_DATA",
        base_exact_multiple().data + b"\x00",
    )


@vector
def trailing_after_short_final_chunk() -> dict[str, Any]:
    return invalid(
        "single_record (short final chunk) plus one 0x00 byte: the extra byte becomes part"
        " of the final chunk, which then fails to authenticate.",
        "CHUNK_INVALID",
        base_small().data + b"\x00",
    )


@vector
def bitflip_first_chunk() -> dict[str, Any]:
    return invalid(
        "Bit 0 of the first payload byte (first chunk, non-final) flipped.",
        "CHUNK_INVALID",
        flip(base_two_chunks().data, header_len()),
    )


@vector
def bitflip_last_chunk_tag() -> dict[str, Any]:
    data = base_two_chunks().data
    return invalid(
        "Bit 0 of the last byte of the file (the final chunk's tag) flipped.",
        "CHUNK_INVALID",
        flip(data, len(data) - 1),
    )


@vector
def empty_final_chunk() -> dict[str, Any]:
    data = seal_by_hand(exact_multiple_content(), "empty final chunk", Lies(empty_final_chunk=True))
    return invalid(
        "Payload of exactly 2 * 65536 bytes sealed as two non-final chunks followed by an"
        " empty final chunk (a correct STREAM otherwise, but forbidden by §5).",
        "EMPTY_FINAL_CHUNK",
        data,
    )


@vector
def empty_payload() -> dict[str, Any]:
    data = seal_by_hand(single_content(), "empty payload", Lies(plaintext=lambda p: b""))
    return invalid(
        "Correct header, payload a single empty final chunk (no manifest length at all)."
        " The stream layer accepts an empty chunk 0, and the opener reports the missing"
        " manifest as MANIFEST_MISMATCH ('payload ends early'), not EMPTY_FINAL_CHUNK.",
        "MANIFEST_MISMATCH",
        data,
    )


# --- signature and manifest -----------------------------------------------------------


@vector
def signed_by_other_device() -> dict[str, Any]:
    impostor = DeviceKey(DEVICE_A.device_id, DEVICE_B.private)
    sealed = seal(single_content(), "signed by other device", dev=impostor)
    return invalid(
        "Manifest names device A but carries a valid signature by device B's key; the"
        " opener knows both devices.",
        "SIGNATURE_INVALID",
        sealed.data,
    )


@vector
def unknown_device() -> dict[str, Any]:
    sealed = seal(single_content(), "unknown device", dev=DEVICE_UNKNOWN)
    return invalid(
        "Correctly signed by a device the opener does not know.",
        "UNKNOWN_DEVICE",
        sealed.data,
    )


@vector
def signature_over_other_header() -> dict[str, Any]:
    data = seal_by_hand(
        single_content(),
        "signature over other header",
        Lies(signed_header=base_small().data[: header_len()]),
    )
    return invalid(
        "Device A's signature is over another bundle's header (a manifest and signature"
        " replayed into a new bundle).",
        "SIGNATURE_INVALID",
        data,
    )


def _replace_record_entry(i: int, **changes: Any) -> Callable[[Manifest], Manifest]:
    def lie(m: Manifest) -> Manifest:
        recs = list(m.records)
        recs[i] = msgspec.structs.replace(recs[i], **changes)
        return msgspec.structs.replace(m, records=tuple(recs))

    return lie


def _replace_attachment_entry(i: int, **changes: Any) -> Callable[[Manifest], Manifest]:
    def lie(m: Manifest) -> Manifest:
        atts = list(m.attachments)
        atts[i] = msgspec.structs.replace(atts[i], **changes)
        return msgspec.structs.replace(m, attachments=tuple(atts))

    return lie


def _attached_content(seed: str) -> Content:
    rec = record(Drbg(seed), 0, attachments=("photo.jpg",))
    return Content((rec,), ((rec.record_id, "photo.jpg", "image/jpeg", pattern(seed, 300)),))


@vector
def manifest_record_hash_mismatch() -> dict[str, Any]:
    content = single_content()
    wrong = bytes(32)
    data = seal_by_hand(
        content, "record hash mismatch", Lies(manifest=_replace_record_entry(0, sha256=wrong))
    )
    return invalid(
        "Signed manifest gives the record's SHA-256 as 32 zero bytes.",
        "MANIFEST_MISMATCH",
        data,
    )


@vector
def manifest_record_fields_mismatch() -> dict[str, Any]:
    data = seal_by_hand(
        single_content(),
        "record fields mismatch",
        Lies(manifest=_replace_record_entry(0, version=2)),
    )
    return invalid(
        "Signed manifest entry says version 2; the record (whose size and hash match) is"
        " version 1.",
        "MANIFEST_MISMATCH",
        data,
    )


@vector
def manifest_attachment_hash_mismatch() -> dict[str, Any]:
    content = _attached_content("attachment hash mismatch")
    data = seal_by_hand(
        content,
        "attachment hash mismatch",
        Lies(manifest=_replace_attachment_entry(0, sha256=bytes(32))),
    )
    return invalid(
        "Signed manifest gives a 300-byte attachment's SHA-256 as 32 zero bytes.",
        "MANIFEST_MISMATCH",
        data,
    )


@vector
def manifest_attachment_list_mismatch() -> dict[str, Any]:
    rec = record(Drbg("attachment list mismatch"), 0, attachments=("photo.jpg",))
    data = seal_by_hand(Content((rec,)), "attachment list mismatch")
    return invalid(
        "The record lists attachment 'photo.jpg'; the signed manifest lists no attachments"
        " (and the payload carries none).",
        "MANIFEST_MISMATCH",
        data,
    )


@vector
def manifest_declares_oversized_record() -> dict[str, Any]:
    content = single_content()
    data = seal_by_hand(
        content,
        "oversized record",
        Lies(manifest=_replace_record_entry(0, size=2 * 1024 * 1024)),
    )
    return invalid(
        "Signed manifest declares a 2 MiB record, over the default 1 MiB record limit; the"
        " opener must refuse on reading the manifest, before reading the record.",
        "LIMIT_EXCEEDED",
        data,
    )


@vector
def manifest_attachment_unnamed() -> dict[str, Any]:
    seed = "attachment unnamed"
    rec = record(Drbg(seed), 0)
    content = Content((rec,), ((rec.record_id, "photo.jpg", "image/jpeg", pattern(seed, 300)),))
    data = seal_by_hand(content, seed)
    return invalid(
        "The signed manifest and the payload carry attachment 'photo.jpg' of the bundle's one"
        " record, but the record names no attachments (every attachment must be named by a"
        " record version, bundle-v1.md §7).",
        "MANIFEST_MISMATCH",
        data,
    )


@vector
def manifest_attachment_size_mismatch() -> dict[str, Any]:
    content = _attached_content("attachment size mismatch")
    data = seal_by_hand(
        content,
        "attachment size mismatch",
        Lies(manifest=_replace_attachment_entry(0, size=301)),
    )
    return invalid(
        "Signed manifest says the last attachment has 301 bytes; the payload ends after 300.",
        "MANIFEST_MISMATCH",
        data,
    )


@vector
def manifest_non_canonical() -> dict[str, Any]:
    def map16(raw: bytes) -> bytes:
        assert raw[0] == 0x86  # fixmap of the 6 manifest fields
        return b"\xde\x00\x06" + raw[1:]

    data = seal_by_hand(single_content(), "manifest map16", Lies(manifest_bytes=map16))
    return invalid(
        "The manifest's top-level map is written as map16 (de 00 06) instead of fixmap (86):"
        " same fields and values, correctly signed, but not the canonical encoding.",
        "MANIFEST_INVALID",
        data,
    )


@vector
def manifest_non_canonical_int_width() -> dict[str, Any]:
    def uint8(raw: bytes) -> bytes:
        key = b"\xaadevice_seq\x01"
        assert raw.count(key) == 1
        return raw.replace(key, b"\xaadevice_seq\xcc\x01")

    data = seal_by_hand(single_content(), "manifest uint8", Lies(manifest_bytes=uint8))
    return invalid(
        "device_seq 1 written as uint8 (cc 01) instead of a positive fixint (01); correctly"
        " signed, not canonical.",
        "MANIFEST_INVALID",
        data,
    )


@vector
def manifest_unknown_field() -> dict[str, Any]:
    def extra(raw: bytes) -> bytes:
        assert raw[0] == 0x86
        return b"\x87" + raw[1:] + b"\xa7comment\xa4note"

    data = seal_by_hand(single_content(), "manifest unknown field", Lies(manifest_bytes=extra))
    return invalid(
        "The signed manifest carries a seventh, unknown key 'comment'.",
        "MANIFEST_INVALID",
        data,
    )


@vector
def manifest_empty() -> dict[str, Any]:
    data = seal_by_hand(single_content(), "manifest empty", Lies(manifest_bytes=lambda r: b""))
    return invalid(
        "Manifest length 0 (a signature over the empty manifest follows).",
        "MANIFEST_INVALID",
        data,
    )


@vector
def manifest_no_records() -> dict[str, Any]:
    data = seal_by_hand(
        single_content(),
        "manifest no records",
        Lies(manifest=lambda m: msgspec.structs.replace(m, records=())),
    )
    return invalid(
        "The signed manifest lists no records (the payload still holds one).",
        "MANIFEST_INVALID",
        data,
    )


@vector
def manifest_duplicate_record() -> dict[str, Any]:
    rec = single_content().records[0]
    data = seal_by_hand(Content((rec, rec)), "manifest duplicate record")
    return invalid(
        "The same (record id, version) twice, in the signed manifest and in the payload.",
        "MANIFEST_INVALID",
        data,
    )


@vector
def manifest_orphan_attachment() -> dict[str, Any]:
    rec = record(Drbg("orphan attachment"), 0)
    stranger = uuid.UUID("01900000-0000-7000-8000-000000000001")
    content = Content((rec,), ((stranger, "photo.jpg", "image/jpeg", b"synthetic"),))
    data = seal_by_hand(content, "orphan attachment")
    return invalid(
        "An attachment entry whose record id is no record of this bundle.",
        "MANIFEST_INVALID",
        data,
    )


@vector
def record_invalid() -> dict[str, Any]:
    rng = Drbg("record invalid")
    content = Content((record(rng, 0, lang="KOREAN"),))
    data = seal_by_hand(content, "record invalid")
    return invalid(
        "Record bytes match the signed manifest (size, hash, ids) but break the Record type"
        " (lang 'KOREAN' does not match ^[a-z]{2,3}$).",
        "RECORD_INVALID",
        data,
    )


def _deep_answers(i: int, raw: bytes) -> bytes:
    """Replace the answer {"a": null} with 5,000 nested one-element arrays."""
    small = b"\xa7answers\x81\xa1a\xc0"
    assert raw.count(small) == 1
    return raw.replace(small, b"\xa7answers\x81\xa1a" + b"\x91" * 5000 + b"\xc0")


@vector
def record_too_deeply_nested() -> dict[str, Any]:
    content = Content((record(Drbg("record deep"), 0, answers={"a": None}),))
    data = seal_by_hand(content, "record deep", Lies(record_bytes=_deep_answers))
    return invalid(
        "A correctly signed record (5 KiB) whose answer is 5,000 nested one-element arrays:"
        " well under the size limits. Decoding it must fail as RECORD_INVALID, not with an"
        " exception other than BundleInvalid.",
        "RECORD_INVALID",
        data,
    )


@vector
def payload_trailing() -> dict[str, Any]:
    data = seal_by_hand(
        single_content(), "payload trailing", Lies(plaintext=lambda p: p + b"synthetic extra")
    )
    return invalid(
        "15 bytes of plaintext after the last record, inside the final chunk.",
        "PAYLOAD_TRAILING",
        data,
    )


@vector
def payload_trailing_next_chunk() -> dict[str, Any]:
    data = seal_by_hand(
        exact_multiple_content(),
        "payload trailing next chunk",
        Lies(plaintext=lambda p: p + b"extra"),
    )
    return invalid(
        "payload_exact_multiple's contents plus 5 bytes of plaintext, which fall into a"
        " third (final) chunk after the last attachment ended exactly at a chunk boundary.",
        "PAYLOAD_TRAILING",
        data,
    )


# ---------------------------------------------------------------------------------------
# Output


def render(name: str) -> bytes:
    body = VECTORS[name]()
    doc = {"name": name, **body}
    return (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode()


def write_vectors(out: Path, *, force: bool = False) -> list[str]:
    """Write each vector not yet in ``out`` (all of them with ``force``); return names."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in VECTORS:
        path = out / f"{name}.json"
        if path.exists() and not force:
            continue
        path.write_bytes(render(name))
        written.append(name)
    return written


def check_vectors(out: Path) -> list[str]:
    """Differences between ``out`` and what the generator makes (empty when in sync)."""
    problems = []
    on_disk = {p.stem for p in out.glob("*.json")}
    problems += [f"stale file {n}.json" for n in sorted(on_disk - set(VECTORS))]
    for name in VECTORS:
        path = out / f"{name}.json"
        if not path.exists():
            problems.append(f"missing {name}.json")
        elif path.read_bytes() != render(name):
            problems.append(f"differs {name}.json")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT_DIR, help="directory (default: %(default)s)")
    p.add_argument(
        "--force",
        action="store_true",
        help="rewrite existing vectors too; never for a fixed attack",
    )
    p.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = p.parse_args(argv)
    if args.check:
        problems = check_vectors(args.out)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    written = write_vectors(args.out, force=args.force)
    print(f"wrote {len(written)} of {len(VECTORS)} vectors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
