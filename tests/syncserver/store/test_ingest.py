"""The ingest repositories (tx.uploads, tx.bundles, tx.records, tx.quarantine): what each
method answers and changes, on a bare store (synthetic rows, no project), on every
backend; then what must hold when two servers share one PostgreSQL database and do the
same thing at once (two stores on one schema, each in a thread; the first holds its
transaction open until PostgreSQL shows the second waiting for a lock)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from support.postgres import fresh_schema

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
    Store,
    StoredRecord,
    Tx,
    Upload,
    open_store,
)

from .conftest import AUDIT_KEY

T = TypeVar("T")
T0 = 1_700_000_000_000
DEVICE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
FORM = "synthetic-form"
#: How long a thread of a race waits for the other before the test fails (never reached
#: when the code is right: the outcome is asserted, never a timing).
PATIENCE = 20


@pytest.fixture
def store(store: Store) -> Store:
    """The conftest's bare store (SQLite, then PostgreSQL), with two devices enrolled."""
    store.write_sync(_enroll)
    return store


def _enroll(tx: Tx) -> None:
    for n, device_id in enumerate((DEVICE, OTHER), 1):
        tx.devices.add(_device(n, device_id))


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


def _bundle(store: Store, n: int, device_id: uuid.UUID = DEVICE) -> uuid.UUID:
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


def test_an_announced_upload_round_trips_and_counts_as_open(store: Store) -> None:
    b = uuid.UUID(int=7)
    assert store.read_sync(lambda tx: tx.uploads.get(b)) is None
    assert store.write_sync(lambda tx: tx.uploads.announce(b, DEVICE, 123, _sha("x"), T0))
    up = store.read_sync(lambda tx: tx.uploads.get(b))
    assert up == Upload(b, DEVICE, 123, _sha("x"), T0, None)
    # Announced again (other bytes, another device): the first announcement stays.
    assert not store.write_sync(lambda tx: tx.uploads.announce(b, OTHER, 9, _sha("y"), T0 + 1))
    assert store.read_sync(lambda tx: tx.uploads.get(b)) == up
    assert store.read_sync(lambda tx: tx.uploads.open_count(DEVICE)) == 1
    assert store.read_sync(lambda tx: tx.uploads.open_count(OTHER)) == 0
    store.write_sync(lambda tx: tx.uploads.complete(b, T0 + 5))
    done = store.read_sync(lambda tx: tx.uploads.get(b))
    assert done is not None and done.completed_ms == T0 + 5
    assert store.read_sync(lambda tx: tx.uploads.open_count(DEVICE)) == 0


def test_open_uploads_before_a_cutoff_and_forgetting_them(store: Store) -> None:
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


def test_a_bundle_is_added_stored_and_changes_state_and_receipt(store: Store) -> None:
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
    assert store.write_sync(lambda tx: tx.bundles.keep_receipt(b, b"receipt")) == b"receipt"
    again = store.read_sync(lambda tx: tx.bundles.get(b))
    assert again is not None
    assert (again.state, again.receipt) == (BundleState.ACCEPTED, b"receipt")
    assert store.read_sync(lambda tx: tx.bundles.get(uuid.UUID(int=5))) is None


def test_a_bundle_keeps_its_first_receipt(store: Store) -> None:
    b = _bundle(store, 1)
    assert store.write_sync(lambda tx: tx.bundles.keep_receipt(b, b"first")) == b"first"
    assert store.write_sync(lambda tx: tx.bundles.keep_receipt(b, b"second")) == b"first"
    got = store.read_sync(lambda tx: tx.bundles.get(b))
    assert got is not None and got.receipt == b"first"


def test_a_stored_bundle_settles_once(store: Store) -> None:
    b, q = _bundle(store, 1), _bundle(store, 2)
    assert store.write_sync(lambda tx: tx.bundles.settle(b, BundleState.ACCEPTED)) is True
    assert store.write_sync(lambda tx: tx.bundles.settle(b, BundleState.ACCEPTED)) is False
    assert store.write_sync(lambda tx: tx.bundles.settle(b, BundleState.QUARANTINED)) is False
    assert store.write_sync(lambda tx: tx.bundles.settle(q, BundleState.QUARANTINED)) is True
    got = store.read_sync(lambda tx: (tx.bundles.get(b), tx.bundles.get(q)))
    assert [g.state if g else None for g in got] == [
        BundleState.ACCEPTED,
        BundleState.QUARANTINED,
    ]
    store.write_sync(lambda tx: tx.bundles.set_state(q, BundleState.STORED))  # released
    assert store.write_sync(lambda tx: tx.bundles.settle(q, BundleState.ACCEPTED)) is True
    unknown = uuid.UUID(int=5)
    assert store.write_sync(lambda tx: tx.bundles.settle(unknown, BundleState.ACCEPTED)) is False


def test_locks_are_taken_and_change_nothing(store: Store) -> None:
    """In one transaction (on PostgreSQL: advisory locks, taken twice, on ids that exist
    or not, in any number); what two servers see is tested at the end."""
    b = _bundle(store, 1)

    def tx(tx: Tx) -> Bundle | None:
        tx.uploads.lock_device(DEVICE)
        tx.uploads.lock_device(DEVICE)
        tx.bundles.lock(b)
        tx.bundles.lock(uuid.UUID(int=77))
        tx.records.lock([])
        tx.records.lock([uuid.UUID(int=n) for n in (3, 1, 2, 1)])
        tx.records.lock([uuid.UUID(int=1)])
        return tx.bundles.get(b)

    got = store.write_sync(tx)
    assert got is not None and got.state is BundleState.STORED


def test_bundles_in_a_state_come_in_id_order(store: Store) -> None:
    ids = [_bundle(store, n) for n in (3, 1, 2)]
    store.write_sync(lambda tx: tx.bundles.set_state(ids[2], BundleState.QUARANTINED))
    assert store.read_sync(lambda tx: tx.bundles.in_state(BundleState.STORED)) == sorted(ids[:2])
    assert store.read_sync(lambda tx: tx.bundles.in_state(BundleState.QUARANTINED)) == [ids[2]]
    assert store.read_sync(lambda tx: tx.bundles.in_state(BundleState.ACCEPTED)) == []


# -- records ------------------------------------------------------------------------------


def test_versions_merge_states_and_history(store: Store) -> None:
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


def test_conflicts_are_listed_and_resolved(store: Store) -> None:
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


def test_review_state_goes_on_the_current_version_only(store: Store) -> None:
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
    store: Store,
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


def test_current_records_of_a_form_stream_in_arrival_order(store: Store) -> None:
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


def test_quarantine_items_are_added_listed_and_released(store: Store) -> None:
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
    assert store.write_sync(lambda tx: tx.quarantine.release(first, T0 + 9)) is True
    assert store.write_sync(lambda tx: tx.quarantine.release(first, T0 + 10)) is False
    assert store.write_sync(lambda tx: tx.quarantine.release(999, T0 + 10)) is False
    assert [q.id for q in store.read_sync(lambda tx: tx.quarantine.items())] == [second]
    every = store.read_sync(lambda tx: tx.quarantine.items(include_released=True))
    assert [(q.id, q.released_ms) for q in every] == [(first, T0 + 9), (second, None)]
    third = store.write_sync(lambda tx: tx.quarantine.add(b, "again", T0 + 10))
    assert third > second


# -- memory -------------------------------------------------------------------------------


def _resident() -> int:
    """This process's resident memory, in bytes: what libpq or SQLite allocate in C
    counts too, which tracemalloc does not see."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_current_records_stream_in_memory_that_does_not_grow_with_their_number(
    store: Store,
) -> None:
    """20,000 records of 3 KB (60 MB) read in batches of 500: neither Python's heap nor
    the process (libpq holding a whole result, say) grows by more than a few batches."""
    import gc
    import tracemalloc

    b = _bundle(store, 1)
    filler = b"x" * 3000

    def fill(start: int, n: int) -> Callable[[Tx], None]:
        def tx(tx: Tx) -> None:
            for i in range(start, start + n):
                tx.records.add(
                    uuid.UUID(int=10_000 + i),
                    1,
                    form_id=FORM,
                    form_version=1,
                    sha256=_sha(str(i)),
                    bundle_id=b,
                    device_id=DEVICE,
                    answers=filler,
                    sealed=filler,
                    status=RecordStatus.CURRENT,
                    received_ms=T0,
                )

        return tx

    def peaks() -> tuple[int, int, int]:
        """(records read, tracemalloc peak, resident growth), one export's worth."""

        def read(tx: Tx) -> tuple[int, int, int]:
            gc.collect()
            base = _resident()
            grown = n = 0
            tracemalloc.start()
            try:
                for n, _r in enumerate(
                    tx.records.current_of_form(FORM, 1, sealed=True, batch=500), 1
                ):
                    if n % 500 == 0:
                        grown = max(grown, _resident() - base)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            return n, peak, max(grown, _resident() - base)

        return store.read_sync(read)

    for start in range(0, 2_000, 1_000):
        store.write_sync(fill(start, 1_000))
    n_small, small, _ = peaks()
    for start in range(2_000, 20_000, 1_000):
        store.write_sync(fill(start, 1_000))
    n_large, large, resident = peaks()
    print(f"tracemalloc peak {small} B for 2,000, {large} B for 20,000; resident +{resident} B")
    assert (n_small, n_large) == (2_000, 20_000)
    assert large / small < 2, (small, large)
    assert large < 16 * 2**20, large
    assert resident < 24 * 2**20, resident  # 60 MB of records never held at once


# -- PostgreSQL: two servers on one database -----------------------------------------------


@pytest.fixture
def servers() -> Iterator[tuple[Store, Store, str]]:
    """Two stores on one fresh PostgreSQL schema, as two ``syncserver run`` processes on
    one database would be, with two devices enrolled, and the URL, whose
    ``application_name`` names this test's connections (to see which of them wait)."""
    with fresh_schema() as url:
        url += f"&application_name=sealsync_t_{uuid.uuid4().hex[:12]}"
        a = open_store(url, Path("."), audit_key=AUDIT_KEY)
        try:
            b = open_store(url, Path("."), audit_key=AUDIT_KEY)
            try:
                a.write_sync(_enroll)
                yield a, b, url
            finally:
                b.close()
        finally:
            a.close()


def _race(stores: list[Store], fns: list[Callable[[Tx], T]]) -> list[T | BaseException]:
    """Run ``fns[i]`` in a write of ``stores[i]``, each in a thread of its own, all at
    once; what each returned or raised."""
    out: list[T | BaseException] = [RuntimeError("not run")] * len(fns)

    def run(i: int) -> None:
        try:
            out[i] = stores[i].write_sync(fns[i])
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 2)
    assert not any(t.is_alive() for t in threads), "a racing transaction never finished"
    return out


def _someone_waits(url: str) -> bool:
    """Whether one of this test's connections waits for a lock (polled, never timed)."""
    import psycopg

    app = url.rsplit("application_name=", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        r = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app,),
        ).fetchone()
    return r is not None and r[0] > 0


def _first_then_second(
    servers: tuple[Store, Store, str], first: Callable[[Tx], T], second: Callable[[Tx], T]
) -> list[T | BaseException]:
    """``first`` in a transaction of server A; then ``second`` in one of server B, which
    must wait for a lock A holds: A commits only once PostgreSQL shows B waiting (so B's
    statement began before A committed, the case a check-then-write gets wrong). A fails
    if B never waits."""
    a, b, url = servers
    holds = threading.Event()

    def one(tx: Tx) -> T:
        got = first(tx)
        holds.set()
        for _ in range(PATIENCE * 100):
            if _someone_waits(url):
                return got
            threading.Event().wait(0.01)
        raise AssertionError("the second server did not wait for the first")

    def two(tx: Tx) -> T:
        assert holds.wait(PATIENCE)
        return second(tx)

    return _race([a, b], [one, two])


@pytest.mark.postgres
def test_one_bundle_announced_on_two_servers_at_once_is_announced_once(
    servers: tuple[Store, Store, str],
) -> None:
    """The second announcement waits for the first, adds nothing, and reads the first
    (the service answers 409 when its bytes or its device differ)."""
    a, _, _ = servers
    b = uuid.UUID(int=7)

    def second(tx: Tx) -> tuple[bool, Upload | None]:
        assert tx.uploads.get(b) is None  # not committed yet: both "check" and miss
        return tx.uploads.announce(b, OTHER, 9, _sha("y"), T0 + 1), tx.uploads.get(b)

    got = _first_then_second(
        servers, lambda tx: (tx.uploads.announce(b, DEVICE, 1, _sha("x"), T0), None), second
    )
    first_upload = Upload(b, DEVICE, 1, _sha("x"), T0, None)
    assert got == [(True, None), (False, first_upload)]
    assert a.read_sync(lambda tx: tx.uploads.get(b)) == first_upload


@pytest.mark.postgres
def test_the_open_upload_count_of_a_device_locked_is_counted_after_the_other_server(
    servers: tuple[Store, Store, str],
) -> None:
    """What the service's cap relies on: count under the device's lock, then announce.
    Server B counts A's announcement (its count waits for A to commit): the cap cannot be
    passed by announcing on two servers at once."""
    a, _, _ = servers

    def announce(n: int) -> Callable[[Tx], int]:
        def tx(tx: Tx) -> int:
            tx.uploads.lock_device(DEVICE)
            open_before = tx.uploads.open_count(DEVICE)
            assert tx.uploads.announce(uuid.UUID(int=n), DEVICE, 1, _sha(f"{n}"), T0)
            return open_before

        return tx

    assert _first_then_second(servers, announce(1), announce(2)) == [0, 1]
    assert a.read_sync(lambda tx: tx.uploads.open_count(DEVICE)) == 2


@pytest.mark.postgres
def test_one_bundle_persisted_by_two_servers_at_once_is_added_once(
    servers: tuple[Store, Store, str],
) -> None:
    """As persist_upload does: lock the id, read, add if missing. The second server
    reads the bundle the first added, and answers its audit index."""
    a, _, _ = servers
    b = uuid.UUID(int=8)

    def persist(index: int) -> Callable[[Tx], int]:
        def tx(tx: Tx) -> int:
            tx.bundles.lock(b)
            row = tx.bundles.get(b)
            if row is not None:
                assert row.audit_index is not None
                return row.audit_index
            tx.bundles.add(
                b, sha256=_sha("b"), size=1, device_id=DEVICE, received_ms=T0, audit_index=index
            )
            return index

        return tx

    assert _first_then_second(servers, persist(1), persist(2)) == [1, 1]
    got = a.read_sync(lambda tx: tx.bundles.get(b))
    assert got is not None and got.audit_index == 1


@pytest.mark.postgres
def test_a_bundle_settled_by_two_servers_at_once_is_settled_by_the_first(
    servers: tuple[Store, Store, str],
) -> None:
    a, _, _ = servers
    b = _bundle(a, 1)
    got = _first_then_second(
        servers,
        lambda tx: tx.bundles.settle(b, BundleState.ACCEPTED),
        lambda tx: tx.bundles.settle(b, BundleState.QUARANTINED),
    )
    assert got == [True, False]
    bundle = a.read_sync(lambda tx: tx.bundles.get(b))
    assert bundle is not None and bundle.state is BundleState.ACCEPTED


@pytest.mark.postgres
def test_a_bundle_signed_for_by_two_servers_at_once_keeps_one_receipt(
    servers: tuple[Store, Store, str],
) -> None:
    a, _, _ = servers
    b = _bundle(a, 1)
    got = _first_then_second(
        servers,
        lambda tx: tx.bundles.keep_receipt(b, b"one"),
        lambda tx: tx.bundles.keep_receipt(b, b"two"),
    )
    assert got == [b"one", b"one"]
    bundle = a.read_sync(lambda tx: tx.bundles.get(b))
    assert bundle is not None and bundle.receipt == b"one"


@pytest.mark.postgres
def test_an_upload_completed_on_one_server_is_not_forgotten_by_another(
    servers: tuple[Store, Store, str],
) -> None:
    """expire_open_uploads read the upload open, and deletes it while another server
    completes it: the DELETE waits, rechecks the completed row, and keeps it."""
    a, _, _ = servers
    b = uuid.UUID(int=9)
    a.write_sync(lambda tx: tx.uploads.announce(b, DEVICE, 1, _sha("x"), T0))
    assert a.read_sync(lambda tx: tx.uploads.open_before(T0 + 1)) == [b]
    got = _first_then_second(
        servers,
        lambda tx: tx.uploads.complete(b, T0 + 5),
        lambda tx: tx.uploads.forget(b),
    )
    assert got == [None, False]
    kept = a.read_sync(lambda tx: tx.uploads.get(b))
    assert kept is not None and kept.completed_ms == T0 + 5


@pytest.mark.postgres
def test_a_quarantine_item_released_by_two_servers_at_once_is_released_once(
    servers: tuple[Store, Store, str],
) -> None:
    a, _, _ = servers
    b = _bundle(a, 1)
    item = a.write_sync(lambda tx: tx.quarantine.add(b, "synthetic reason", T0))
    got = _first_then_second(
        servers,
        lambda tx: tx.quarantine.release(item, T0 + 1),
        lambda tx: tx.quarantine.release(item, T0 + 2),
    )
    assert got == [True, False]
    q = a.read_sync(lambda tx: tx.quarantine.get(item))
    assert q is not None and q.released_ms == T0 + 1


@pytest.mark.postgres
def test_quarantine_ids_allocated_by_two_servers_at_once_are_distinct(
    servers: tuple[Store, Store, str],
) -> None:
    """Both insert before either commits (a MAX + 1 would give both the same id)."""
    a, b_store, _ = servers
    b = _bundle(a, 1)
    barrier = threading.Barrier(4)

    def add(tx: Tx) -> int:
        item = tx.quarantine.add(b, "synthetic reason", T0)
        barrier.wait(PATIENCE)
        return item

    got = _race([a, b_store] * 2, [add] * 4)
    assert all(isinstance(i, int) for i in got), got
    assert len(set(got)) == 4
    assert sorted(q.id for q in a.read_sync(lambda tx: tx.quarantine.items())) == sorted(got)  # type: ignore[type-var]


@pytest.mark.postgres
def test_a_record_merged_by_two_servers_at_once_is_read_after_the_first_merge(
    servers: tuple[Store, Store, str],
) -> None:
    """As the merge does: lock the bundle's records (here two, named in opposite
    orders: the locks are taken in one order, so neither waits for the other in a
    circle), read a record's versions, add. The second server's merge waits, then sees
    the first one's version: the same content is a duplicate, not a second row."""
    a, _, _ = servers
    b = _bundle(a, 1)
    r, s = uuid.UUID(int=500), uuid.UUID(int=501)
    runs: list[str] = []

    def merge(name: str, order: list[uuid.UUID]) -> Callable[[Tx], list[RecordKey]]:
        def tx(tx: Tx) -> list[RecordKey]:
            runs.append(name)  # a retried transaction (a deadlock) would run twice
            tx.records.lock(order)
            seen = tx.records.versions(r)
            if not any(k.sha256 == _sha("v1") for k in seen):
                _add(tx, r, 1, "v1", b)
            return seen

        return tx

    got = _first_then_second(servers, merge("a", [r, s]), merge("b", [s, r]))
    assert got == [[], [RecordKey(r, 1, _sha("v1"))]]
    assert sorted(runs) == ["a", "b"]
    assert a.read_sync(lambda tx: tx.records.versions(r)) == [RecordKey(r, 1, _sha("v1"))]


@pytest.mark.postgres
def test_a_conflict_resolved_while_a_merge_holds_the_record_waits_for_it(
    servers: tuple[Store, Store, str],
) -> None:
    a, _, _ = servers
    b = _bundle(a, 1)
    r = uuid.UUID(int=600)

    def setup(tx: Tx) -> None:
        _add(tx, r, 1, "a", b, status=RecordStatus.CONFLICT)
        _add(tx, r, 1, "b", b, status=RecordStatus.CONFLICT)

    a.write_sync(setup)

    def merge(tx: Tx) -> None:
        tx.records.lock([r])
        tx.records.mark_conflict(r, 1)
        _add(tx, r, 1, "c", b, status=RecordStatus.CONFLICT)  # a third content arrives

    got = _first_then_second(servers, merge, lambda tx: tx.records.resolve_conflict(r, _sha("b")))
    assert got == [None, None]
    # The resolution ran after the merge committed: the third content is history too.
    assert [(h.answers, h.status) for h in a.read_sync(lambda tx: tx.records.history(r))] == [
        (b"a", RecordStatus.SUPERSEDED),
        (b"b", RecordStatus.CURRENT),
        (b"c", RecordStatus.SUPERSEDED),
    ]
