"""The ingest repositories (tx.uploads, tx.bundles, tx.records, tx.quarantine): what each
method answers and changes, on a bare store (synthetic rows, no project)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncserver.store import (
    Bundle,
    BundleState,
    CurrentRecord,
    Device,
    EnrollHow,
    Quarantined,
    RecordKey,
    RecordSource,
    RecordStatus,
    RespondentState,
    ReviewState,
    SqliteStore,
    StoredRecord,
    Tx,
    Upload,
)

T0 = 1_700_000_000_000
DEVICE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
FORM = "synthetic-form"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db").open()
    try:

        def enroll(tx: Tx) -> None:
            for n, device_id in enumerate((DEVICE, OTHER), 1):
                tx.devices.add(_device(n, device_id))

        s.write_sync(enroll)
        yield s
    finally:
        s.close()


def _device(serial: int, device_id: uuid.UUID) -> Device:
    return Device(
        device_id=device_id,
        serial=serial,
        label=f"kit {serial}",
        public_key=bytes([serial]) * 32,
        certificate=b"cert",
        not_before_ms=T0 - 1000,
        not_after_ms=T0 + 86_400_000,
        enrolled_ms=T0,
        enrolled_how=EnrollHow.FILE,
    )


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _bundle(store: SqliteStore, n: int, device_id: uuid.UUID = DEVICE) -> uuid.UUID:
    bundle_id = uuid.UUID(int=1000 + n)
    store.write_sync(
        lambda tx: tx.bundles.add(
            bundle_id,
            sha256=_sha(f"bundle {n}"),
            size=100 + n,
            device_id=device_id,
            received_ms=T0 + n,
            audit_index=n,
        )
    )
    return bundle_id


def _add(
    tx: Tx,
    record_id: uuid.UUID,
    version: int,
    content: str,
    bundle_id: uuid.UUID,
    *,
    status: RecordStatus = RecordStatus.CURRENT,
    at: int = T0,
    form_version: int = 1,
    sealed: bytes | None = b"sealed",
) -> None:
    tx.records.add(
        record_id,
        version,
        form_id=FORM,
        form_version=form_version,
        sha256=_sha(content),
        bundle_id=bundle_id,
        device_id=DEVICE,
        answers=content.encode(),
        sealed=sealed,
        status=status,
        received_ms=at,
    )


# -- uploads ------------------------------------------------------------------------------


def test_an_announced_upload_round_trips_and_counts_as_open(store: SqliteStore) -> None:
    b = uuid.UUID(int=7)
    assert store.read_sync(lambda tx: tx.uploads.get(b)) is None
    store.write_sync(lambda tx: tx.uploads.announce(b, DEVICE, 123, _sha("x"), T0))
    up = store.read_sync(lambda tx: tx.uploads.get(b))
    assert up == Upload(b, DEVICE, 123, _sha("x"), T0, None)
    assert store.read_sync(lambda tx: tx.uploads.open_count(DEVICE)) == 1
    assert store.read_sync(lambda tx: tx.uploads.open_count(OTHER)) == 0
    store.write_sync(lambda tx: tx.uploads.complete(b, T0 + 5))
    done = store.read_sync(lambda tx: tx.uploads.get(b))
    assert done is not None and done.completed_ms == T0 + 5
    assert store.read_sync(lambda tx: tx.uploads.open_count(DEVICE)) == 0


def test_open_uploads_before_a_cutoff_and_forgetting_them(store: SqliteStore) -> None:
    old, new, done, kept = (uuid.UUID(int=i) for i in (11, 12, 13, 14))

    def setup(tx: Tx) -> None:
        tx.uploads.announce(old, DEVICE, 1, _sha("old"), T0)
        tx.uploads.announce(new, DEVICE, 1, _sha("new"), T0 + 100)
        tx.uploads.announce(done, DEVICE, 1, _sha("done"), T0)
        tx.uploads.complete(done, T0 + 1)
        tx.uploads.announce(kept, DEVICE, 1, _sha("kept"), T0)

    store.write_sync(setup)
    # A bundle persisted under an open upload's id keeps the upload.
    store.write_sync(
        lambda tx: tx.bundles.add(
            kept, sha256=_sha("kept"), size=1, device_id=DEVICE, received_ms=T0, audit_index=0
        )
    )
    stale = store.read_sync(lambda tx: tx.uploads.open_before(T0 + 100))
    assert sorted(stale) == sorted([old, kept])
    gone = store.write_sync(lambda tx: [b for b in (old, kept, done) if tx.uploads.forget(b)])
    assert gone == [old]
    assert store.read_sync(lambda tx: tx.uploads.get(old)) is None
    assert store.read_sync(lambda tx: tx.uploads.get(kept)) is not None
    assert store.write_sync(lambda tx: tx.uploads.forget(uuid.UUID(int=99))) is False


# -- bundles ------------------------------------------------------------------------------


def test_a_bundle_is_added_stored_and_changes_state_and_receipt(store: SqliteStore) -> None:
    b = _bundle(store, 1)
    got = store.read_sync(lambda tx: tx.bundles.get(b))
    assert got == Bundle(
        bundle_id=b,
        sha256=_sha("bundle 1"),
        size=101,
        device_id=DEVICE,
        received_ms=T0 + 1,
        state=BundleState.STORED,
        receipt=None,
        audit_index=1,
    )
    assert type(got.state) is BundleState
    store.write_sync(lambda tx: tx.bundles.set_state(b, BundleState.ACCEPTED))
    store.write_sync(lambda tx: tx.bundles.set_receipt(b, b"receipt"))
    again = store.read_sync(lambda tx: tx.bundles.get(b))
    assert again is not None
    assert (again.state, again.receipt) == (BundleState.ACCEPTED, b"receipt")
    assert store.read_sync(lambda tx: tx.bundles.get(uuid.UUID(int=5))) is None


def test_bundles_in_a_state_come_in_id_order(store: SqliteStore) -> None:
    ids = [_bundle(store, n) for n in (3, 1, 2)]
    store.write_sync(lambda tx: tx.bundles.set_state(ids[2], BundleState.QUARANTINED))
    assert store.read_sync(lambda tx: tx.bundles.in_state(BundleState.STORED)) == sorted(ids[:2])
    assert store.read_sync(lambda tx: tx.bundles.in_state(BundleState.QUARANTINED)) == [ids[2]]
    assert store.read_sync(lambda tx: tx.bundles.in_state(BundleState.ACCEPTED)) == []


# -- records ------------------------------------------------------------------------------


def test_versions_merge_states_and_history(store: SqliteStore) -> None:
    b = _bundle(store, 1)
    r = uuid.UUID(int=500)
    assert store.read_sync(lambda tx: tx.records.versions(r)) == []

    def merge(tx: Tx) -> None:
        _add(tx, r, 1, "v1", b, at=T0 + 1)
        tx.records.supersede_current(r)  # a newer version arrives
        _add(tx, r, 2, "v2a", b, at=T0 + 2)
        tx.records.mark_conflict(r, 2)  # same version, other content
        _add(tx, r, 2, "v2b", b, status=RecordStatus.CONFLICT, at=T0 + 3)

    store.write_sync(merge)
    versions = store.read_sync(lambda tx: tx.records.versions(r))
    assert sorted((k.version, k.sha256) for k in versions) == sorted(
        [(1, _sha("v1")), (2, _sha("v2a")), (2, _sha("v2b"))]
    )
    assert all(k.record_id == r for k in versions)
    history = store.read_sync(lambda tx: tx.records.history(r))
    assert [(h.version, h.status, h.answers) for h in history] == [
        (1, RecordStatus.SUPERSEDED, b"v1"),
        (2, RecordStatus.CONFLICT, b"v2a"),
        (2, RecordStatus.CONFLICT, b"v2b"),
    ]
    first = history[0]
    assert first == StoredRecord(
        record_id=r,
        version=1,
        sha256=_sha("v1"),
        status=RecordStatus.SUPERSEDED,
        review=ReviewState.RECEIVED,
        form_id=FORM,
        form_version=1,
        bundle_id=b,
        device_id=DEVICE,
        received_ms=T0 + 1,
        answers=b"v1",
        sealed=b"sealed",
    )
    assert type(first.status) is RecordStatus and type(first.review) is ReviewState
    assert repr(first) == f"StoredRecord({r} v1 superseded)"  # testimony: no answers
    assert store.read_sync(lambda tx: tx.records.history(uuid.UUID(int=9))) == []


def test_conflicts_are_listed_and_resolved(store: SqliteStore) -> None:
    b = _bundle(store, 1)
    r1, r2 = uuid.UUID(int=600), uuid.UUID(int=601)

    def setup(tx: Tx) -> None:
        for r in (r2, r1):
            _add(tx, r, 1, f"{r} a", b, status=RecordStatus.CONFLICT, at=T0 + 1)
            _add(tx, r, 1, f"{r} b", b, status=RecordStatus.CONFLICT, at=T0 + 2)

    store.write_sync(setup)
    every = store.read_sync(lambda tx: tx.records.conflicts())
    assert [(k.record_id, k.sha256) for k in every] == [
        (r1, _sha(f"{r1} a")),
        (r1, _sha(f"{r1} b")),
        (r2, _sha(f"{r2} a")),
        (r2, _sha(f"{r2} b")),
    ]
    assert store.read_sync(lambda tx: tx.records.conflicts(r2)) == [
        RecordKey(r2, 1, _sha(f"{r2} a")),
        RecordKey(r2, 1, _sha(f"{r2} b")),
    ]
    assert store.read_sync(lambda tx: tx.records.unresolved_conflicts(FORM)) == 2
    store.write_sync(lambda tx: tx.records.resolve_conflict(r2, _sha(f"{r2} b")))
    assert store.read_sync(lambda tx: tx.records.conflicts(r2)) == []
    assert [h.status for h in store.read_sync(lambda tx: tx.records.history(r2))] == [
        RecordStatus.SUPERSEDED,
        RecordStatus.CURRENT,
    ]
    assert store.read_sync(lambda tx: tx.records.unresolved_conflicts(FORM)) == 1
    assert store.read_sync(lambda tx: tx.records.unresolved_conflicts(FORM, 1)) == 1
    assert store.read_sync(lambda tx: tx.records.unresolved_conflicts(FORM, 2)) == 0
    assert store.read_sync(lambda tx: tx.records.unresolved_conflicts("other")) == 0


def test_review_state_goes_on_the_current_version_only(store: SqliteStore) -> None:
    b = _bundle(store, 1)
    r, pending = uuid.UUID(int=700), uuid.UUID(int=701)

    def setup(tx: Tx) -> None:
        _add(tx, r, 1, "old", b, status=RecordStatus.SUPERSEDED)
        _add(tx, r, 2, "new", b)
        _add(tx, pending, 1, "c", b, status=RecordStatus.CONFLICT)

    store.write_sync(setup)
    assert store.write_sync(lambda tx: tx.records.set_review(r, ReviewState.APPROVED)) is True
    assert [h.review for h in store.read_sync(lambda tx: tx.records.history(r))] == [
        ReviewState.RECEIVED,
        ReviewState.APPROVED,
    ]
    assert (
        store.write_sync(lambda tx: tx.records.set_review(pending, ReviewState.REJECTED)) is False
    )
    unknown = uuid.UUID(int=9)
    assert (
        store.write_sync(lambda tx: tx.records.set_review(unknown, ReviewState.APPROVED)) is False
    )


def test_the_source_of_a_record_is_its_current_version_else_its_newest(
    store: SqliteStore,
) -> None:
    b1, b2, b3 = _bundle(store, 1), _bundle(store, 2), _bundle(store, 3, OTHER)
    r, conflicted = uuid.UUID(int=800), uuid.UUID(int=801)

    def setup(tx: Tx) -> None:
        _add(tx, r, 1, "v1", b1)
        _add(tx, r, 2, "v2", b2, status=RecordStatus.SUPERSEDED)  # came late, say
        _add(tx, conflicted, 1, "a", b1, status=RecordStatus.CONFLICT)
        tx.records.add(
            conflicted,
            2,
            form_id=FORM,
            form_version=1,
            sha256=_sha("b"),
            bundle_id=b3,
            device_id=OTHER,
            answers=b"b",
            sealed=None,
            status=RecordStatus.CONFLICT,
            received_ms=T0,
        )

    store.write_sync(setup)
    assert store.read_sync(lambda tx: tx.records.source(r)) == RecordSource(
        _sha("bundle 1"), DEVICE
    )
    assert store.read_sync(lambda tx: tx.records.source(conflicted)) == RecordSource(
        _sha("bundle 3"), OTHER
    )
    assert store.read_sync(lambda tx: tx.records.source(uuid.UUID(int=9))) is None


def test_current_records_of_a_form_stream_in_arrival_order(store: SqliteStore) -> None:
    b = _bundle(store, 1)
    ids = [uuid.UUID(int=900 + n) for n in (5, 1, 4, 2, 3)]  # arrival order, not id order

    def setup(tx: Tx) -> None:
        for r in ids:
            _add(tx, r, 1, f"{r}", b)
        _add(tx, uuid.UUID(int=990), 1, "old", b, status=RecordStatus.SUPERSEDED)
        _add(tx, uuid.UUID(int=991), 1, "c", b, status=RecordStatus.CONFLICT)
        _add(tx, uuid.UUID(int=992), 1, "v2", b, form_version=2)
        tx.respondents.register(
            ids[1],
            token_version=1,
            tokens=b"",
            postings=(),
            state=RespondentState.PENDING,
            at_ms=T0,
        )

    store.write_sync(setup)
    cluster = store.read_sync(lambda tx: tx.respondents.cluster_of(ids[1]))
    assert cluster is not None

    def read(tx: Tx, sealed: bool) -> list[CurrentRecord]:
        rows = tx.records.current_of_form(FORM, 1, sealed=sealed, batch=2)
        assert not isinstance(rows, list)  # streamed, not gathered
        return list(rows)

    rows = store.read_sync(lambda tx: read(tx, False))
    assert [r.record_id for r in rows] == ids
    assert [r.respondent for r in rows] == [None, cluster, None, None, None]
    assert all(r.sealed is None for r in rows)  # not even read
    assert rows[0] == CurrentRecord(
        record_id=ids[0],
        version=1,
        sha256=_sha(str(ids[0])),
        answers=str(ids[0]).encode(),
        sealed=None,
        review=ReviewState.RECEIVED,
        received_ms=T0,
        respondent=None,
    )
    assert type(rows[0].review) is ReviewState
    assert repr(rows[0]) == f"CurrentRecord({ids[0]} v1)"  # testimony: no answers in a repr
    with_sealed = store.read_sync(lambda tx: read(tx, True))
    assert all(r.sealed == b"sealed" for r in with_sealed)
    assert (
        store.read_sync(lambda tx: list(tx.records.current_of_form(FORM, 3, sealed=False, batch=2)))
        == []
    )


# -- quarantine ---------------------------------------------------------------------------


def test_quarantine_items_are_added_listed_and_released(store: SqliteStore) -> None:
    b = _bundle(store, 1)
    r = uuid.UUID(int=1200)

    def setup(tx: Tx) -> list[int]:
        return [
            tx.quarantine.add(b, "the sealing device is revoked", T0),
            tx.quarantine.add(
                b, "record does not satisfy its form", T0 + 1, record_id=r, version=3, problems=b"p"
            ),
        ]

    first, second = store.write_sync(setup)
    assert second > first
    whole = store.read_sync(lambda tx: tx.quarantine.get(first))
    assert whole == Quarantined(
        id=first,
        bundle_id=b,
        record_id=None,
        version=None,
        reason="the sealing device is revoked",
        problems=None,
        created_ms=T0,
        released_ms=None,
    )
    one = store.read_sync(lambda tx: tx.quarantine.get(second))
    assert one is not None and (one.record_id, one.version, one.problems) == (r, 3, b"p")
    assert store.read_sync(lambda tx: tx.quarantine.get(999)) is None
    store.write_sync(lambda tx: tx.quarantine.release(first, T0 + 9))
    assert [q.id for q in store.read_sync(lambda tx: tx.quarantine.items())] == [second]
    every = store.read_sync(lambda tx: tx.quarantine.items(include_released=True))
    assert [(q.id, q.released_ms) for q in every] == [(first, T0 + 9), (second, None)]
    third = store.write_sync(lambda tx: tx.quarantine.add(b, "again", T0 + 10))
    assert third > second
