"""Sealing and opening bundles (docs/spec/bundle-v1.md): round trips, mutations, errors,
limits, sinks, reprs and bounded memory. Every answer here is synthetic."""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import io
import json
import random
import tracemalloc
import types
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas.bundle as bundle
from schemas.bundle import (
    CHUNK_SIZE,
    DEFAULT_LIMITS,
    Attachment,
    AttachmentEntry,
    DeviceKey,
    DirectorySink,
    DiscardSink,
    Limits,
    MemorySink,
    OpenedBundle,
    RecipientKey,
    SealedBundle,
    open_bundle,
    read_header,
    seal_bundle,
)
from schemas.bundle._manifest import encode_manifest
from schemas.errors import BundleInvalid, BundleReason, SealError
from schemas.wire import Record

C = CHUNK_SIZE
ENC = CHUNK_SIZE + 16
HEADER_1 = 197  # a one-recipient header
RK = RecipientKey.from_bytes(hashlib.sha256(b"test recipient").digest())
RK2 = RecipientKey.from_bytes(hashlib.sha256(b"test recipient 2").digest())
DK = DeviceKey(
    uuid.UUID("7a1e0d2c-4b3f-4e5a-9d8c-1b2a3c4d5e6f"),
    Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test device").digest()),
)
PROJECT = uuid.UUID("2b4c6d8e-0f1a-4b3c-8d5e-6f7a8b9c0d1e")
T0 = datetime.datetime(2024, 5, 1, 9, 30, tzinfo=datetime.UTC)
SECRET_ANSWER = "synthetic-answer-7f3a91"  # must never appear in a repr
FIXED_CLOCK = 1_717_236_000_123_000_000
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "bundle"


def make_record(
    i: int = 0,
    *,
    record_id: uuid.UUID | None = None,
    version: int = 1,
    attachments: Sequence[str] = (),
    answers: dict[str, Any] | None = None,
    **fields: Any,
) -> Record:
    return Record(
        record_id=record_id or uuid.UUID(int=(0x0190 << 112) | (0x7 << 76) | (2 << 62) | i),
        version=version,
        form_id=fields.pop("form_id", "escapee-interview"),
        form_version=fields.pop("form_version", 1),
        created_at=T0,
        modified_at=T0,
        lang=fields.pop("lang", "ko"),
        answers={"n": i, "note": SECRET_ANSWER} if answers is None else answers,
        attachments=tuple(attachments),
        **fields,
    )


def from_bytes(
    record_id: uuid.UUID, name: str, data: bytes, media: str = "image/jpeg"
) -> Attachment:
    return Attachment(record_id, name, media, lambda: io.BytesIO(data))


def seal(
    records: Sequence[Record],
    attachments: Sequence[Attachment] = (),
    **kw: Any,
) -> tuple[bytes, SealedBundle]:
    buf = io.BytesIO()
    kw.setdefault("recipients", [RK.public()])
    sealed = seal_bundle(
        buf,
        records=records,
        attachments=attachments,
        device=DK,
        project_id=PROJECT,
        device_seq=kw.pop("device_seq", 1),
        **kw,
    )
    return buf.getvalue(), sealed


def device_keys(device_id: uuid.UUID) -> Ed25519PublicKey | None:
    return DK.public if device_id == DK.device_id else None


def open_(
    data: bytes,
    *,
    sink: Any = None,
    limits: Limits = DEFAULT_LIMITS,
    recipient: RecipientKey = RK,
) -> OpenedBundle:
    return open_bundle(
        io.BytesIO(data), recipient=recipient, device_keys=device_keys, sink=sink, limits=limits
    )


def reason(data: bytes, **kw: Any) -> BundleReason:
    with pytest.raises(BundleInvalid) as info:
        open_(data, **kw)
    assert str(info.value) == "bundle could not be opened"
    assert repr(info.value) == "BundleInvalid()"
    return info.value.reason


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------------------------
# Public face


def test_all_is_exactly_the_public_names() -> None:
    public = {
        n
        for n, v in vars(bundle).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert set(bundle.__all__) == public
    assert len(bundle.__all__) == len(set(bundle.__all__))
    assert all(hasattr(bundle, n) for n in bundle.__all__)


# --------------------------------------------------------------------------------------
# Round trips

_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
    | st.dates().map(lambda d: d.isoformat())
)
_answers = st.dictionaries(
    _names,
    st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=5,
)
_times = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1),
    max_value=datetime.datetime(2100, 1, 1),
    timezones=st.just(datetime.UTC),
)
SIZES = [0, 1, C - 1, C, C + 1, 2 * C]


@st.composite
def contents(draw: st.DrawFn) -> tuple[list[Record], list[tuple[uuid.UUID, str, bytes]]]:
    n = draw(st.integers(1, 4))
    ids = draw(st.lists(st.uuids(), min_size=n, max_size=n, unique=True))
    sizes = draw(st.lists(st.sampled_from(SIZES), max_size=3))
    owners = [draw(st.integers(0, n - 1)) for _ in sizes]
    atts = [
        (ids[o], f"file-{j}.bin", blob(draw(st.integers(0, 2**32)), size))
        for j, (o, size) in enumerate(zip(owners, sizes, strict=True))
    ]
    records = [
        Record(
            record_id=rid,
            version=draw(st.integers(1, 2**31 - 1)),
            form_id=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
            form_version=draw(st.integers(1, 2**31 - 1)),
            created_at=draw(_times),
            modified_at=draw(_times),
            lang=draw(st.from_regex(r"[a-z]{2,3}", fullmatch=True)),
            answers=draw(_answers),
            attachments=tuple(name for owner, name, _ in atts if owner == rid),
            stopped_early=draw(st.booleans()),
        )
        for rid in ids
    ]
    return records, atts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents())
def test_round_trip(content: tuple[list[Record], list[tuple[uuid.UUID, str, bytes]]]) -> None:
    records, atts = content
    data, sealed = seal(records, [from_bytes(r, n, d) for r, n, d in atts])
    assert sealed.sha256 == hashlib.sha256(data).digest()
    assert sealed.size == len(data)
    sink = MemorySink()
    opened = open_(data, sink=sink)
    assert opened.records == tuple(records)
    assert opened.bundle_id == sealed.bundle_id
    assert opened.manifest == sealed.manifest
    assert (opened.sha256, opened.size) == (sealed.sha256, sealed.size)
    assert sink.files == {(str(r), n): d for r, n, d in atts}
    for entry, (_, _, d) in zip(opened.manifest.attachments, atts, strict=True):
        assert (entry.size, entry.sha256) == (len(d), hashlib.sha256(d).digest())


@pytest.mark.parametrize("size", SIZES)
def test_attachment_sizes_around_chunk_boundaries(size: int) -> None:
    rec = make_record(attachments=["a.bin"])
    content = blob(size, size)
    data, sealed = seal([rec], [from_bytes(rec.record_id, "a.bin", content)])
    sink = MemorySink()
    open_(data, sink=sink)
    assert sink.files == {(str(rec.record_id), "a.bin"): content}
    payload = len(data) - HEADER_1
    chunks = -(-payload // ENC)
    assert payload - 16 * chunks > (chunks - 1) * C  # final chunk never empty


def test_payload_of_exact_chunk_multiples_ends_with_a_full_final_chunk() -> None:
    rec = make_record(attachments=["fill.bin"])

    def attempt(filler: int) -> tuple[bytes, int]:
        data, sealed = seal(
            [rec],
            [from_bytes(rec.record_id, "fill.bin", bytes(filler))],
            clock=lambda: FIXED_CLOCK,
        )
        enc = len(data) - HEADER_1
        return data, enc - 16 * -(-enc // ENC)

    filler = 0
    for _ in range(5):
        data, payload = attempt(filler)
        if payload == 2 * C:
            break
        filler += 2 * C - payload
    assert payload == 2 * C
    assert len(data) == HEADER_1 + 2 * ENC
    opened = open_(data)
    assert opened.manifest.attachments[0].size == filler
    assert reason(data + b"\x00") is BundleReason.TRAILING_DATA
    assert reason(data[:-ENC]) is BundleReason.TRUNCATED


def test_two_recipients_either_key_opens() -> None:
    data, sealed = seal([make_record()], recipients=[RK.public(), RK2.public()])
    assert open_(data, recipient=RK).manifest == open_(data, recipient=RK2).manifest
    header = read_header(io.BytesIO(data))
    assert set(header.recipient_key_ids) == {RK.public().key_id, RK2.public().key_id}
    assert header.bundle_id == sealed.bundle_id
    assert reason(data, recipient=RecipientKey.generate()) is BundleReason.WRONG_RECIPIENT


def test_sealing_is_deterministic_with_injected_clock_and_rng() -> None:
    def rng_for(seed: str) -> Callable[[int], bytes]:
        r = random.Random(seed)
        return r.randbytes

    recs = [make_record(i) for i in range(3)]
    a, _ = seal(recs, clock=lambda: FIXED_CLOCK, rng=rng_for("x"))
    b, _ = seal(recs, clock=lambda: FIXED_CLOCK, rng=rng_for("x"))
    c, _ = seal(recs, clock=lambda: FIXED_CLOCK, rng=rng_for("y"))
    assert a == b != c


# --------------------------------------------------------------------------------------
# Mutations: any change is one BundleInvalid, never success, never another exception


@functools.cache
def mutation_bases() -> list[bytes]:
    r0 = make_record(0, attachments=["a.bin", "b.bin", "c.bin"])
    r1 = make_record(1)
    multi, _ = seal(
        [r0, r1],
        [
            from_bytes(r0.record_id, "a.bin", b""),
            from_bytes(r0.record_id, "b.bin", blob(1, C - 1)),
            from_bytes(r0.record_id, "c.bin", blob(2, C + 1)),
        ],
    )
    small, _ = seal([make_record(2)], recipients=[RK.public(), RK2.public()])
    return [multi, small]


_base = st.sampled_from([0, 1])


@settings(max_examples=300, deadline=None)
@given(which=_base, where=st.data())
def test_any_single_bit_flip_is_refused(which: int, where: st.DataObject) -> None:
    data = mutation_bases()[which]
    n = len(data)
    offset = where.draw(
        st.one_of(st.integers(0, 400), st.integers(0, n - 1), st.integers(max(0, n - 400), n - 1))
    )
    bit = where.draw(st.integers(0, 7))
    mutated = bytearray(data)
    mutated[offset] ^= 1 << bit
    reason(bytes(mutated))


@settings(max_examples=200, deadline=None)
@given(which=_base, where=st.data())
def test_any_truncation_is_refused(which: int, where: st.DataObject) -> None:
    data = mutation_bases()[which]
    n = len(data)
    cut = where.draw(st.one_of(st.integers(0, 400), st.integers(0, n - 1)))
    reason(data[:cut])


def test_truncation_at_every_chunk_boundary_is_truncated() -> None:
    data = mutation_bases()[0]
    cuts = list(range(HEADER_1, len(data), ENC))
    assert len(cuts) == 3
    for cut in cuts:
        assert reason(data[:cut]) is BundleReason.TRUNCATED


@settings(max_examples=100, deadline=None)
@given(which=_base, extra=st.binary(min_size=1, max_size=80))
def test_appended_bytes_are_refused(which: int, extra: bytes) -> None:
    reason(mutation_bases()[which] + extra)


def test_appending_a_whole_chunk_is_refused() -> None:
    data = mutation_bases()[0]
    assert reason(data + data[HEADER_1 : HEADER_1 + ENC]) is BundleReason.CHUNK_INVALID


# --------------------------------------------------------------------------------------
# SealError


def test_seal_needs_a_record() -> None:
    with pytest.raises(SealError, match="at least one record"):
        seal([])


def test_seal_refuses_a_duplicate_record() -> None:
    rec = make_record()
    with pytest.raises(SealError, match="appears twice"):
        seal([rec, rec])


def test_seal_refuses_an_attachment_listed_but_not_given() -> None:
    with pytest.raises(SealError, match="names an attachment that was not given"):
        seal([make_record(attachments=["photo.jpg"])])


def test_seal_refuses_an_attachment_given_but_not_listed() -> None:
    rec = make_record()
    with pytest.raises(SealError, match="is named by no record in this bundle"):
        seal([rec], [from_bytes(rec.record_id, "photo.jpg", b"x")])
    with pytest.raises(SealError, match="is named by no record in this bundle"):
        seal([rec], [from_bytes(uuid.uuid4(), "photo.jpg", b"x")])


def test_seal_refuses_the_same_attachment_twice() -> None:
    rec = make_record(attachments=["photo.jpg"])
    att = from_bytes(rec.record_id, "photo.jpg", b"x")
    with pytest.raises(SealError, match="appears twice"):
        seal([rec], [att, att])


def _changing(first: bytes, then: bytes) -> Callable[[], io.BytesIO]:
    calls: list[int] = []

    def open_source() -> io.BytesIO:
        calls.append(1)
        return io.BytesIO(first if len(calls) == 1 else then)

    return open_source


@pytest.mark.parametrize(
    "then",
    [b"B" * 1000, b"A" * 999, b"A" * 1001, b"A" * (3 * 1024 * 1024)],
    ids=["same-size", "shrunk", "grew", "grew-large"],
)
def test_seal_refuses_an_attachment_that_changes_between_reads(then: bytes) -> None:
    rec = make_record(attachments=["audio.ogg"])
    att = Attachment(rec.record_id, "audio.ogg", "audio/ogg", _changing(b"A" * 1000, then))
    with pytest.raises(SealError, match="changed while it was being sealed"):
        seal([rec], [att])


def test_seal_refuses_a_record_over_the_limit() -> None:
    rec = make_record(answers={"long": "x" * 500})
    with pytest.raises(SealError, match="is over 100 bytes") as info:
        seal([rec], limits=Limits(max_record_bytes=100))
    assert "xxx" not in str(info.value)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"limits": Limits(max_records=1)}, "more than 1 records"),
        ({"limits": Limits(max_records_total_bytes=10)}, "records total over"),
        ({"prev_bundle_sha256": b"short"}, "prev_bundle_sha256"),
        ({"device_seq": 0}, "device_seq"),
    ],
)
def test_seal_refuses_bad_arguments(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(SealError, match=message):
        seal([make_record(0), make_record(1)], **kw)


def test_seal_refuses_bad_record_and_manifest_fields() -> None:
    with pytest.raises(SealError, match=r"is not a valid record \(`\$\.form_id`\)"):
        seal([make_record(form_id="Not A Form")])
    rec = make_record(attachments=["../escape"])
    with pytest.raises(SealError, match=r"is not a valid record \(`\$\.attachments\[0\]`\)"):
        seal([rec], [from_bytes(rec.record_id, "../escape", b"x")])
    # The media type lives only in the manifest: the manifest check catches it.
    rec = make_record(attachments=["a.ogg"])
    bad_type = Attachment(rec.record_id, "a.ogg", "Audio OGG", lambda: io.BytesIO(b"x"))
    with pytest.raises(SealError, match="manifest field out of range"):
        seal([rec], [bad_type])


def test_seal_refuses_an_attachment_over_the_limit() -> None:
    rec = make_record(attachments=["big.bin"])
    with pytest.raises(SealError, match="over 10 bytes"):
        seal(
            [rec],
            [from_bytes(rec.record_id, "big.bin", bytes(11))],
            limits=Limits(max_attachment_bytes=10),
        )


@pytest.mark.parametrize("n", [0, 9, "twice"])
def test_seal_refuses_bad_recipient_lists_with_seal_error(n: int | str) -> None:
    """Wrap at the boundary: seal_bundle's input errors are SealError, not ValueError.

    Fails today: build_header's ValueError escapes seal_bundle.
    """
    recipients = (
        [RK.public(), RK.public()]
        if n == "twice"
        else [RecipientKey.generate().public() for _ in range(int(n))]
    )
    with pytest.raises(SealError):
        seal([make_record()], recipients=recipients)


def test_seal_wraps_too_deeply_nested_answers_in_seal_error() -> None:
    """Fails today: msgspec's RecursionError escapes seal_bundle."""
    deep: Any = None
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SealError):
        seal([make_record(answers={"a": deep})])


def _opens(data: bytes) -> OpenedBundle:
    try:
        return open_(data)
    except BundleInvalid as e:
        pytest.fail(f"seal_bundle wrote a bundle that does not open: {e.reason.name}")


def test_what_seal_bundle_writes_opens_two_versions_of_one_record() -> None:
    """seal_bundle either refuses or writes a bundle that opens.

    Fails today: the sealer matches attachments to the *first* version of a record only
    (``by_record.pop``), the opener to every version, so [v1 listing 'a.jpg', v2 listing
    nothing] + attachment 'a.jpg' seals, and then fails to open (MANIFEST_MISMATCH).
    """
    rid = uuid.UUID("01900000-0000-7000-8000-00000000abcd")
    v1 = make_record(record_id=rid, version=1, attachments=["a.jpg"])
    v2 = make_record(record_id=rid, version=2)
    try:
        data, _ = seal([v1, v2], [from_bytes(rid, "a.jpg", b"synthetic jpeg")])
    except SealError:
        return
    assert _opens(data).records == (v1, v2)


def test_seal_accepts_what_open_accepts_for_two_versions() -> None:
    """Two versions of one record that both list 'a.jpg', and one attachment 'a.jpg':
    the opener accepts such a bundle (§7: a record's names equal the set listed for its
    record id), but seal_bundle refuses it with a misleading message. Fails today."""
    rid = uuid.UUID("01900000-0000-7000-8000-00000000abce")
    v1 = make_record(record_id=rid, version=1, attachments=["a.jpg"])
    v2 = make_record(record_id=rid, version=2, attachments=["a.jpg"])
    try:
        data, _ = seal([v1, v2], [from_bytes(rid, "a.jpg", b"synthetic jpeg")])
    except SealError as e:
        pytest.fail(f"seal_bundle refused a bundle the opener accepts: {e}")
    assert _opens(data).records == (v1, v2)


@pytest.mark.parametrize(
    "fields",
    [{"lang": "KOREAN"}, {"answers": {1: "one"}}, {"form_version": 0}],
    ids=["lang", "answer-key", "form-version"],
)
def test_what_seal_bundle_writes_opens_records_it_did_not_validate(fields: dict[str, Any]) -> None:
    """Record() does not validate (msgspec Structs never do); seal_bundle checks the
    manifest by a decode round trip but not the records, so a record the opener will
    reject as RECORD_INVALID is sealed anyway. Fails today for 'lang' and 'answer-key'."""
    rec = make_record(**fields)
    try:
        data, _ = seal([rec])
    except SealError:
        return
    _opens(data)


# --------------------------------------------------------------------------------------
# Limits on open


@functools.cache
def limits_bundle() -> bytes:
    r0 = make_record(0, attachments=["a.bin", "b.bin"])
    data, _ = seal(
        [r0, make_record(1), make_record(2)],
        [from_bytes(r0.record_id, "a.bin", blob(3, 5000)), from_bytes(r0.record_id, "b.bin", b"")],
    )
    return data


@pytest.mark.parametrize(
    "limits",
    [
        Limits(max_records=2),
        Limits(max_record_bytes=100),
        Limits(max_records_total_bytes=300),
        Limits(max_attachments=1),
        Limits(max_attachment_bytes=4999),
        Limits(max_manifest_bytes=100),
        Limits(max_bundle_bytes=100),
    ],
    ids=lambda lim: next(
        f"{k}={v}" for k, v in vars(lim).items() if v != getattr(DEFAULT_LIMITS, k)
    ),
)
def test_open_enforces_limits(limits: Limits) -> None:
    assert reason(limits_bundle(), limits=limits) is BundleReason.LIMIT_EXCEEDED


def test_open_bundle_size_limit_is_inclusive() -> None:
    data = limits_bundle()
    open_(data, limits=Limits(max_bundle_bytes=len(data)))
    assert reason(data, limits=Limits(max_bundle_bytes=len(data) - 1)) is (
        BundleReason.LIMIT_EXCEEDED
    )


def test_open_at_the_limits_succeeds() -> None:
    opened = open_(limits_bundle())
    lim = Limits(
        max_records=3,
        max_record_bytes=max(r.size for r in opened.manifest.records),
        max_records_total_bytes=sum(r.size for r in opened.manifest.records),
        max_attachments=2,
        max_attachment_bytes=5000,
        max_manifest_bytes=len(encode_manifest(opened.manifest)),
        max_bundle_bytes=opened.size,
    )
    assert open_(limits_bundle(), limits=lim).manifest == opened.manifest


# --------------------------------------------------------------------------------------
# Sinks


def _listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_directory_sink_stores_content_addressed_files(tmp_path: Path) -> None:
    r0 = make_record(0, attachments=["a.bin", "b.bin", "same.bin", "empty.bin"])
    a, b = blob(4, C + 3), blob(5, 10)
    data, _ = seal(
        [r0],
        [
            from_bytes(r0.record_id, "a.bin", a),
            from_bytes(r0.record_id, "b.bin", b),
            from_bytes(r0.record_id, "same.bin", b),
            from_bytes(r0.record_id, "empty.bin", b""),
        ],
    )
    sink = DirectorySink(tmp_path / "store")
    open_(data, sink=sink)
    want = {hashlib.sha256(x).hexdigest(): x for x in (a, b, b"")}
    assert _listing(tmp_path / "store") == sorted(want)
    for name, content in want.items():
        assert (tmp_path / "store" / name).read_bytes() == content
    assert [(e.name, p.name) for e, p in sink.stored] == [
        ("a.bin", hashlib.sha256(a).hexdigest()),
        ("b.bin", hashlib.sha256(b).hexdigest()),
        ("same.bin", hashlib.sha256(b).hexdigest()),
        ("empty.bin", hashlib.sha256(b"").hexdigest()),
    ]


@pytest.mark.parametrize("tamper", ["last-chunk-tag", "trailing-after-full-chunk", "truncated"])
def test_directory_sink_keeps_nothing_when_opening_fails(tmp_path: Path, tamper: str) -> None:
    r0 = make_record(0, attachments=["a.bin", "b.bin"])
    data, _ = seal(
        [r0],
        [
            from_bytes(r0.record_id, "a.bin", blob(6, 100)),
            from_bytes(r0.record_id, "b.bin", blob(7, 2 * C)),
        ],
    )
    if tamper == "last-chunk-tag":
        bad = data[:-1] + bytes([data[-1] ^ 1])
    elif tamper == "trailing-after-full-chunk":
        bad = data[: HEADER_1 + ENC] + data[HEADER_1 + ENC : HEADER_1 + 2 * ENC] + b"x"
    else:
        bad = data[: HEADER_1 + 2 * ENC]
    store = tmp_path / "store"
    sink = DirectorySink(store)
    reason(bad, sink=sink)
    assert _listing(store) == []
    assert sink.stored == []


@pytest.mark.parametrize("vector", ["payload_trailing_next_chunk", "empty_final_chunk"])
def test_directory_sink_keeps_nothing_when_the_end_is_wrong(tmp_path: Path, vector: str) -> None:
    """Every attachment was received in full; the failure comes after (step 7)."""
    v = json.loads((VECTORS / f"{vector}.json").read_text())
    devices = {
        uuid.UUID(k): Ed25519PublicKey.from_public_bytes(bytes.fromhex(h))
        for k, h in v["devices"].items()
    }
    sink = DirectorySink(tmp_path)
    with pytest.raises(BundleInvalid):
        open_bundle(
            io.BytesIO(base64.b64decode(v["bundle"])),
            recipient=RecipientKey.from_bytes(bytes.fromhex(v["recipient_private_key"])),
            device_keys=devices.get,
            sink=sink,
        )
    assert _listing(tmp_path) == []


def test_memory_sink_keeps_nothing_when_opening_fails() -> None:
    data = mutation_bases()[0]
    sink = MemorySink()
    reason(data[:-1] + bytes([data[-1] ^ 1]), sink=sink)
    assert sink.files == {}
    open_(data, sink=sink)
    assert len(sink.files) == 3


# --------------------------------------------------------------------------------------
# Nothing secret in a repr


def test_reprs_show_no_key_material_and_no_answers() -> None:
    rk_private = RK.private.private_bytes_raw().hex()
    dk_private = DK.private.private_bytes_raw().hex()
    for text in (repr(RK), str(RK)):
        assert rk_private not in text and RK.public().raw.hex() not in text
        assert RK.public().key_id.hex() in text
    for text in (repr(DK), str(DK)):
        assert dk_private not in text and DK.public_bytes().hex() not in text
        assert str(DK.device_id) in text

    rec = make_record(attachments=["a.bin"])
    assert SECRET_ANSWER not in repr(rec) and SECRET_ANSWER not in str(rec)
    data, sealed = seal([rec], [from_bytes(rec.record_id, "a.bin", SECRET_ANSWER.encode())])
    opened = open_(data)
    for obj in (opened, sealed, opened.records):
        assert SECRET_ANSWER not in repr(obj)
        assert SECRET_ANSWER.encode().hex() not in repr(obj)
    assert rk_private not in repr(opened) and dk_private not in repr(sealed)


def test_bundle_invalid_is_opaque() -> None:
    e = BundleInvalid(BundleReason.HEADER_MAC, "detail for the private log")
    assert str(e) == "bundle could not be opened"
    assert repr(e) == "BundleInvalid()"
    assert e.args == ("bundle could not be opened",)
    assert e.reason is BundleReason.HEADER_MAC


# --------------------------------------------------------------------------------------
# Bounded memory


class PatternSource(io.RawIOBase):
    """``size`` bytes of a fixed pattern, produced on demand (never all in memory)."""

    PATTERN = hashlib.sha256(b"pattern").digest() * 2049  # 65,568 bytes: not chunk-aligned

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        out = memoryview(b).cast("B")
        n = min(len(out), self.size - self.pos)
        done = 0
        while done < n:
            start = (self.pos + done) % len(self.PATTERN)
            take = min(n - done, len(self.PATTERN) - start)
            out[done : done + take] = self.PATTERN[start : start + take]
            done += take
        self.pos += n
        return n


class HashSink(DiscardSink):
    def __init__(self) -> None:
        self.hashes: list[tuple[int, bytes]] = []
        self._h = hashlib.sha256()
        self._n = 0

    def begin(self, entry: AttachmentEntry) -> None:
        self._h, self._n = hashlib.sha256(), 0

    def write(self, data: memoryview) -> None:
        self._h.update(data)
        self._n += len(data)

    def end(self, entry: AttachmentEntry) -> None:
        self.hashes.append((self._n, self._h.digest()))


def test_sealing_and_opening_64_mib_in_bounded_memory(tmp_path: Path) -> None:
    size = 64 * 1024 * 1024
    want = hashlib.sha256()
    with io.BufferedReader(PatternSource(size)) as f:
        while chunk := f.read(1 << 20):
            want.update(chunk)
    rec = make_record(attachments=["long.ogg"])
    path = tmp_path / "big.bundle"
    tracemalloc.start()
    try:
        with path.open("wb") as dst:
            sealed = seal_bundle(
                dst,
                records=[rec],
                attachments=[
                    Attachment(rec.record_id, "long.ogg", "audio/ogg", lambda: PatternSource(size))
                ],
                device=DK,
                recipients=[RK.public()],
                project_id=PROJECT,
                device_seq=1,
            )
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = HashSink()
        with path.open("rb") as src:
            opened = open_bundle(src, recipient=RK, device_keys=device_keys, sink=sink)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sealed.size == path.stat().st_size > size
    assert opened.sha256 == sealed.sha256
    assert sink.hashes == [(size, want.digest())]
    assert seal_peak < 16 * 1024 * 1024, seal_peak
    assert open_peak < 16 * 1024 * 1024, open_peak
