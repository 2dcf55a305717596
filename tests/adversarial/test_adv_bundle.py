"""Adversarial bundles against ``open_bundle`` (docs/spec/bundle-v1.md §9.2, §10).

tests/schemas/test_bundle.py already flips single bits, truncates and appends bytes. Here
the adversary goes further (``adv_mutations.py``): splices two bundles, moves chunks between
them, rewrites header fields in place, and, holding only the server's *public* key, seals
rewritten headers, manifests, records and chunk layouts with a correct header MAC, signed
by the genuine device, by a wrong key or by a device the server never enrolled. Property:
``open_bundle`` raises ``BundleInvalid`` and nothing else, and opens only what the genuine
device signed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import time
import uuid
from typing import Any

import msgspec
import pytest
from adv_mutations import Keys, Mutant, Parts, forge, mutants, take_apart
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.bundle import DeviceKey, RecipientKey, open_bundle, seal_bundle
from schemas.errors import BundleInvalid, BundleReason
from schemas.ids import new_id
from schemas.wire import Record

#: Examples per property in ``make test``; bench/fuzz.py runs many more.
EXAMPLES = 400

RK = RecipientKey.from_bytes(bytes(range(32)))
DEVICE = DeviceKey(
    uuid.UUID("01900000-0000-7000-8000-0000000000d1"),
    Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))),
)
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
STRANGER_ID = uuid.UUID("01900000-0000-7000-8000-0000000000d2")
PROJECT = uuid.UUID("01900000-0000-7000-8000-0000000000e1")
KEYS = Keys(DEVICE.device_id, DEVICE.private, STRANGER, STRANGER_ID, RK.public())


def device_keys(device_id: uuid.UUID) -> Ed25519PublicKey | None:
    return DEVICE.public if device_id == DEVICE.device_id else None


def open_(data: bytes) -> Any:
    return open_bundle(io.BytesIO(data), recipient=RK, device_keys=device_keys)


def _record(rng: random.Random, i: int, *, attachments: tuple[str, ...] = ()) -> Record:
    t = msgspec.convert("2026-11-01T00:00:00Z", type=__import__("datetime").datetime)
    return Record(
        record_id=new_id(rng=rng.randbytes),
        version=1 + i % 2,
        form_id="escapee-interview",
        form_version=1,
        created_at=t,
        modified_at=t,
        lang="ko",
        answers={"consent": "yes", "household_size": i, "interviewer_code": f"IC-{i:03d}"},
        attachments=attachments,
    )


@functools.cache
def bases() -> tuple[list[bytes], list[Parts]]:
    """Three valid bundles: one record; several; one with attachments over two chunks."""
    rng = random.Random(6)
    out = []
    for n, att in ((1, False), (4, False), (2, True)):
        recs = [_record(rng, i) for i in range(n)]
        atts = []
        if att:
            recs[0] = _record(rng, 0, attachments=("a.bin", "b.ogg"))
            from schemas.bundle import Attachment

            blobs = {"a.bin": rng.randbytes(70_000), "b.ogg": rng.randbytes(10)}
            atts = [
                Attachment(
                    recs[0].record_id, k, "application/octet-stream", lambda v=v: io.BytesIO(v)
                )  # fmt: skip
                for k, v in blobs.items()
            ]
        buf = io.BytesIO()
        seal_bundle(
            buf,
            records=recs,
            attachments=atts,
            device=DEVICE,
            recipients=[RK.public()],
            project_id=PROJECT,
            device_seq=1,
            rng=rng.randbytes,
        )
        out.append(buf.getvalue())
    return out, [take_apart(b, RK) for b in out]


ANSWERS = st.dictionaries(
    st.sampled_from(["consent", "household_size", "detention", "zzz", ""]),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
        | st.text(max_size=20) | st.binary(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
        max_leaves=10,
    ),
    max_size=4,
)  # fmt: skip


def check_open(m: Mutant, originals: list[bytes]) -> str:
    """The property: BundleInvalid or nothing; only what the genuine device signed opens.
    Returns the outcome (a BundleReason name, or 'opened')."""
    try:
        opened = open_(m.data)
    except BundleInvalid as e:
        assert str(e) == "bundle could not be opened" and repr(e) == "BundleInvalid()"
        return e.reason.name
    assert m.may_open or m.data in originals, f"{m.kind} opened without the device's signature"
    assert opened.size == len(m.data)
    assert opened.manifest.device_id == DEVICE.device_id
    return "opened"


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_bundles_raise_only_bundle_invalid(data: st.DataObject) -> None:
    raw, parts = bases()
    m = data.draw(mutants(raw, parts, KEYS, ANSWERS))
    check_open(m, raw)


def test_the_forger_is_faithful() -> None:
    """Without this, every keyed mutant could be failing for the forger's own mistakes:
    re-sealing the parts unchanged with the genuine key must open, and give the same
    manifest and records."""
    raw, parts = bases()
    for data, p in zip(raw, parts, strict=True):
        again = forge(p, KEYS)
        assert again != data  # a fresh ephemeral share and a fresh signature
        assert open_(again).manifest == open_(data).manifest
        assert open_(again).records == open_(data).records


def _reason(data: bytes) -> BundleReason:
    with pytest.raises(BundleInvalid) as info:
        open_(data)
    return info.value.reason


def test_manifest_re_signed_with_a_wrong_key_is_refused() -> None:
    _, parts = bases()
    assert _reason(forge(parts[1], KEYS, signer="stranger")) is BundleReason.SIGNATURE_INVALID


def test_manifest_re_signed_by_an_unenrolled_device_is_refused() -> None:
    """The right key for the device named in the manifest, but that device is unknown."""
    _, parts = bases()
    m = msgspec.msgpack.decode(parts[1].manifest_raw)
    m["device_id"] = STRANGER_ID.bytes
    raw = msgspec.msgpack.Encoder(uuid_format="bytes").encode(m)
    assert _reason(forge(parts[1], KEYS, manifest_raw=raw, signer="stranger")) is (
        BundleReason.UNKNOWN_DEVICE
    )


@pytest.mark.parametrize("field", ["bundle_id", "project_id", "payload_nonce"])
def test_header_rewritten_with_a_valid_mac_but_the_old_signature_is_refused(field: str) -> None:
    """The header MAC can be made right by anyone who chose the file key; the device's
    signature over SHA-256(header) cannot."""
    _, parts = bases()
    new = {"bundle_id": new_id().bytes, "project_id": bytes(16), "payload_nonce": bytes(16)}
    data = forge(parts[0], KEYS, signer="none", **{field: new[field]})
    assert _reason(data) is BundleReason.SIGNATURE_INVALID


def test_decoy_stanzas_out_of_order_are_non_canonical() -> None:
    _, parts = bases()
    decoys = [b"\xff" * 16, b"\x00" * 16]
    assert _reason(forge(parts[0], KEYS, decoys=decoys, sort=False)) is (
        BundleReason.NON_CANONICAL_HEADER
    )
    open_(forge(parts[0], KEYS, decoys=decoys, sort=True))  # sorted: a valid bundle


@pytest.mark.parametrize(
    ("cuts", "flags", "reason"),
    [
        ([16], None, BundleReason.CHUNK_INVALID),  # a short chunk that claims to be final
        ([4096, 4096], [False, False], BundleReason.CHUNK_INVALID),  # short non-final chunks
        ([70_000], None, BundleReason.CHUNK_INVALID),  # a chunk longer than 64 KiB
    ],
)
def test_chunk_boundaries_moved_by_the_key_holder_are_refused(
    cuts: list[int], flags: list[bool] | None, reason: BundleReason
) -> None:
    _, parts = bases()
    assert _reason(forge(parts[2], KEYS, cuts=cuts, flags=flags)) is reason


def test_manifest_length_prefix_rewritten_is_refused() -> None:
    _, parts = bases()
    for delta in (-1, 1, 2**31):
        assert _reason(forge(parts[0], KEYS, mlen_delta=delta)) in {
            BundleReason.MANIFEST_INVALID,
            BundleReason.LIMIT_EXCEEDED,
            BundleReason.MANIFEST_MISMATCH,
        }


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_msgpack_in_manifest_and_records_is_refused_quickly(depth: int) -> None:
    """A signed manifest or record nested 100,000 arrays deep: BundleInvalid in bounded
    time, never a RecursionError or a stack overflow."""
    _, parts = bases()
    enc = msgspec.msgpack.Encoder(uuid_format="bytes")
    deep = b"\x91" * depth + b"\xc0"  # [[[…[nil]…]]]
    marker = enc.encode("DEEP-MARKER")
    t0 = time.monotonic()
    # In the manifest, as the value of a field the Manifest type does know.
    m = msgspec.msgpack.decode(parts[0].manifest_raw)
    m["attachments"] = "DEEP-MARKER"
    manifest = enc.encode(m).replace(marker, deep)
    assert _reason(forge(parts[0], KEYS, manifest_raw=manifest)) is BundleReason.MANIFEST_INVALID
    # In a record's answers (typed Any: the decoder must follow it, then give up).
    rec = msgspec.msgpack.decode(parts[0].records[0])
    rec["answers"]["consent"] = "DEEP-MARKER"
    rec_raw = enc.encode(rec).replace(marker, deep)
    m = msgspec.msgpack.decode(parts[0].manifest_raw)
    m["records"][0]["size"] = len(rec_raw)
    m["records"][0]["sha256"] = hashlib.sha256(rec_raw).digest()
    data = forge(parts[0], KEYS, manifest_raw=enc.encode(m), records=[rec_raw])
    assert _reason(data) is BundleReason.RECORD_INVALID
    assert time.monotonic() - t0 < 10
