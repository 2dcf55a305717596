"""The respondents repositories (tx.respondents, tx.postings, tx.links, tx.candidates) on
a bare store of every backend (the conftest's ``store``), with synthetic tokens (random
bytes: no person behind them)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from syncserver.store import (
    CandidateState,
    ClusterMember,
    Interview,
    LinkHow,
    RecordStatus,
    RespondentCounts,
    RespondentState,
    SqliteStore,
    Store,
    StoredLink,
    Tx,
)
from syncserver.store._respondents import TOKEN_BYTES

T = TypeVar("T")
T0 = 1_700_000_000_000
OPEN, LINKED, DISTINCT, SETTLED = (
    CandidateState.OPEN,
    CandidateState.LINKED,
    CandidateState.DISTINCT,
    CandidateState.SETTLED,
)


def _tok() -> bytes:
    return os.urandom(TOKEN_BYTES)


def _ids(n: int) -> list[uuid.UUID]:
    """Ids in ascending order (as UUIDv7s made one after another would be)."""
    return sorted(uuid.uuid4() for _ in range(n))


def _w(store: Store, fn: Callable[[Tx], T]) -> T:
    return store.write_sync(fn)


def _r(store: Store, fn: Callable[[Tx], T]) -> T:
    return store.read_sync(fn)


def _race(n: int, fn: Callable[[int], T]) -> list[T]:
    """``fn(0)`` … ``fn(n - 1)`` in ``n`` threads released together (as ``n`` servers
    would run them); their results, in that order."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=30)
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _meet(others: threading.Barrier) -> None:
    """Inside a transaction: wait for the other racers to come this far too, so that
    they all pass the point together, unless a lock keeps them out (then this one goes on
    alone after half a second, and the others, let in later, do not wait)."""
    try:
        others.wait(timeout=0.5)
    except threading.BrokenBarrierError:
        pass


def _register(
    store: Store,
    record: uuid.UUID,
    *,
    tokens: bytes = b"t",
    postings: Sequence[bytes] = (),
    state: RespondentState = RespondentState.PENDING,
    version: int = 1,
) -> bool:
    return _w(
        store,
        lambda tx: tx.respondents.register(
            record, token_version=version, tokens=tokens, postings=postings, state=state, at_ms=T0
        ),
    )


# -- respondents --------------------------------------------------------------------------


def test_a_new_interview_gets_the_next_seq_and_a_cluster_of_its_own(store: Store) -> None:
    a, b = _ids(2)
    assert _r(store, lambda tx: tx.respondents.registered()) == 0
    assert _register(store, a, tokens=b"ta") and _register(store, b, tokens=b"tb")
    assert _r(store, lambda tx: tx.respondents.registered()) == 2
    assert _r(store, lambda tx: tx.respondents.seqs([b, a, uuid.uuid4()])) == {a: 1, b: 2}
    assert _r(store, lambda tx: tx.respondents.interviews([2, 1, 7])) == {
        1: Interview(seq=1, record_id=a, tokens=b"ta"),
        2: Interview(seq=2, record_id=b, tokens=b"tb"),
    }
    ca = _r(store, lambda tx: tx.respondents.cluster_of(a))
    cb = _r(store, lambda tx: tx.respondents.cluster_of(b))
    assert ca is not None and cb is not None and ca != cb and a not in (ca, cb)
    assert _r(store, lambda tx: tx.respondents.members(ca)) == {a}
    assert _r(store, lambda tx: tx.respondents.clusters_of([a, b])) == {a: ca, b: cb}
    assert _r(store, lambda tx: tx.respondents.cluster_of(uuid.uuid4())) is None


def test_registering_the_same_tokens_again_changes_nothing(store: Store) -> None:
    (a,) = _ids(1)
    assert _register(store, a, tokens=b"x", state=RespondentState.MATCHED)
    assert not _register(store, a, tokens=b"x", state=RespondentState.PENDING)
    assert _r(store, lambda tx: tx.respondents.pending()) == []
    # another token version is a change, with the same tokens
    assert _register(store, a, tokens=b"x", version=2)
    assert _r(store, lambda tx: tx.respondents.pending()) == [a]
    assert _r(store, lambda tx: tx.respondents.registered()) == 1


def test_new_tokens_take_the_interview_out_of_its_old_postings(store: Store) -> None:
    a, b = _ids(2)
    old, kept, new = _tok(), _tok(), _tok()
    _register(store, a, tokens=b"1", postings=[old, kept])
    _register(store, b, tokens=b"2", postings=[kept])
    assert _r(store, lambda tx: tx.postings.lookup([old, kept])) == {}  # not filed yet
    _w(store, lambda tx: tx.postings.file([a, b]))
    _w(store, lambda tx: tx.postings.file([a]))  # twice: harmless
    assert _r(store, lambda tx: tx.postings.lookup([old, kept, new])) == {
        old: [1],
        kept: [1, 2],
    }
    cluster = _r(store, lambda tx: tx.respondents.cluster_of(a))
    assert _register(store, a, tokens=b"1b", postings=[kept, new])
    assert _r(store, lambda tx: tx.postings.lookup([old, kept, new])) == {kept: [2]}
    _w(store, lambda tx: tx.postings.file([a]))
    assert _r(store, lambda tx: tx.postings.lookup([old, kept, new])) == {
        kept: [1, 2],
        new: [1],
    }
    # the same seq, respondent and cluster
    assert _r(store, lambda tx: tx.respondents.seqs([a])) == {a: 1}
    assert _r(store, lambda tx: tx.respondents.cluster_of(a)) == cluster


def test_batches_larger_than_a_chunk_are_read_whole(store: Store) -> None:
    ids = _ids(1203)
    tokens = [_tok() for _ in ids]
    common = _tok()

    def fill(tx: Tx) -> None:
        for rid, t in zip(ids, tokens, strict=True):
            tx.respondents.register(
                rid,
                token_version=1,
                tokens=t,
                postings=[t, common],
                state=RespondentState.PENDING,
                at_ms=T0,
            )
        tx.postings.file(ids)

    _w(store, fill)
    seqs = _r(store, lambda tx: tx.respondents.seqs(ids))
    assert seqs == {rid: n for n, rid in enumerate(ids, start=1)}
    rows = _r(store, lambda tx: tx.respondents.interviews(list(seqs.values())))
    assert [rows[n].record_id for n in sorted(rows)] == ids
    found = _r(store, lambda tx: tx.postings.lookup(tokens))
    assert found == {t: [n] for n, t in enumerate(tokens, start=1)}
    assert len(_r(store, lambda tx: tx.respondents.clusters_of(ids))) == len(ids)
    assert _r(store, lambda tx: tx.postings.count(common, 50)) == 50
    assert _r(store, lambda tx: tx.postings.count(common, 5000)) == len(ids)
    assert _r(store, lambda tx: tx.postings.count(_tok(), 50)) == 0
    assert _r(store, lambda tx: tx.respondents.pending()) == ids


def test_empty_batches_ask_nothing(store: Store) -> None:
    assert _r(store, lambda tx: tx.respondents.seqs([])) == {}
    assert _r(store, lambda tx: tx.respondents.interviews([])) == {}
    assert _r(store, lambda tx: tx.respondents.clusters_of([])) == {}
    assert _r(store, lambda tx: tx.postings.lookup([])) == {}
    assert _r(store, lambda tx: tx.links.touching([])) == []
    assert _r(store, lambda tx: tx.candidates.touching([])) == []
    assert _w(store, lambda tx: tx.respondents.recluster([])) == {}
    assert _w(store, lambda tx: tx.respondents.recluster([uuid.uuid4()])) == {}
    _w(store, lambda tx: tx.postings.file([]))


def test_a_cluster_takes_the_id_of_its_earliest_interview(store: Store) -> None:
    a, b, c = _ids(3)
    for r in (c, a, b):  # registered c first
        _register(store, r)
    first = _r(store, lambda tx: tx.respondents.cluster_of(c))
    assert first is not None
    merged = _w(store, lambda tx: tx.respondents.recluster({a, b, c}))
    assert merged == {a: first, b: first, c: first}
    assert _r(store, lambda tx: tx.respondents.members(first)) == {a, b, c}
    assert _r(store, lambda tx: tx.respondents.find_cluster(a)) == first
    assert _r(store, lambda tx: tx.respondents.find_cluster(first)) == first
    assert _r(store, lambda tx: tx.respondents.find_cluster(uuid.uuid4())) is None
    # split again: each part takes back the id of its earliest interview
    own_b = _w(store, lambda tx: tx.respondents.recluster({b}))[b]
    assert own_b not in (first, b)
    assert _w(store, lambda tx: tx.respondents.recluster({a, c})) == {a: first, c: first}


def test_states_counts_and_details(store: Store) -> None:
    a, b, c = _ids(3)
    for r in (a, b, c):
        _register(store, r)
    _w(store, lambda tx: tx.respondents.mark_matched(b))
    assert _r(store, lambda tx: tx.respondents.pending()) == [a, c]
    _w(store, lambda tx: tx.respondents.recluster({a, b}))
    assert _r(store, lambda tx: tx.respondents.counts()) == RespondentCounts(
        interviews=3, respondents=2, pending=2
    )
    cluster = _r(store, lambda tx: tx.respondents.cluster_of(b))
    assert cluster is not None
    details = _r(store, lambda tx: tx.respondents.member_details(cluster))
    assert details == [
        ClusterMember(record_id=a, state=RespondentState.PENDING, form=None, received_ms=None),
        ClusterMember(record_id=b, state=RespondentState.MATCHED, form=None, received_ms=None),
    ]
    assert details[1].state == "matched"  # the enum's value is what is stored


def test_an_empty_store_counts_zero(store: Store) -> None:
    assert _r(store, lambda tx: tx.respondents.counts()) == RespondentCounts(
        interviews=0, respondents=0, pending=0
    )
    assert _r(store, lambda tx: tx.links.count_in_force()) == {}
    assert _r(store, lambda tx: tx.candidates.count_by_state()) == {}


def _record(
    tx: Tx,
    record: uuid.UUID,
    version: int,
    *,
    status: RecordStatus,
    received_ms: int,
    form: tuple[str, int] = ("intake", 1),
) -> None:
    """A synthetic stored version of ``record`` (in a bundle of its own)."""
    bundle = uuid.uuid4()
    tx.bundles.add(
        bundle,
        sha256=bytes(32),
        size=1,
        device_id=uuid.UUID(int=1),
        received_ms=received_ms,
        audit_index=0,
    )
    tx.records.add(
        record,
        version,
        form_id=form[0],
        form_version=form[1],
        sha256=os.urandom(32),
        bundle_id=bundle,
        device_id=uuid.UUID(int=1),
        answers=b"{}",
        sealed=None,
        status=status,
        received_ms=received_ms,
    )


def test_records_that_need_their_tokens_filed(store: Store) -> None:
    a, b, c, d, e = _ids(5)

    def fill(tx: Tx) -> None:
        _record(tx, c, 1, status=RecordStatus.SUPERSEDED, received_ms=T0 + 1)
        _record(tx, c, 2, status=RecordStatus.CURRENT, received_ms=T0 + 2)
        _record(tx, a, 1, status=RecordStatus.CONFLICT, received_ms=T0 + 3)
        _record(tx, a, 1, status=RecordStatus.CONFLICT, received_ms=T0 + 3)
        _record(tx, b, 1, status=RecordStatus.CURRENT, received_ms=T0 + 3)
        _record(tx, d, 1, status=RecordStatus.SUPERSEDED, received_ms=T0)  # no version left
        _record(tx, e, 1, status=RecordStatus.CURRENT, received_ms=T0)

    _w(store, fill)
    _register(store, e, version=7)  # filed with this version's tokens
    _register(store, b, version=6)  # filed with older ones
    # by first reception of a version not superseded, then by id; each record once
    assert _r(store, lambda tx: tx.respondents.needing_tokens(7)) == [c, a, b]
    assert _r(store, lambda tx: tx.respondents.needing_tokens(7, everything=True)) == [
        e,
        c,
        a,
        b,
    ]


def test_details_of_a_cluster_name_its_records_form_and_first_reception(
    store: Store,
) -> None:
    a, b = _ids(2)

    def fill(tx: Tx) -> None:
        _record(tx, a, 1, status=RecordStatus.SUPERSEDED, received_ms=T0 + 5, form=("intake", 9))
        _record(tx, a, 2, status=RecordStatus.CURRENT, received_ms=T0 + 6, form=("intake", 10))

    _w(store, fill)
    _register(store, b)
    _register(store, a)
    merged = _w(store, lambda tx: tx.respondents.recluster([a, b]))
    assert _r(store, lambda tx: tx.respondents.member_details(merged[a])) == [
        ClusterMember(record_id=b, state=RespondentState.PENDING, form=None, received_ms=None),
        # the greatest "form_id vN" as text (v9 > v10), the earliest reception
        ClusterMember(
            record_id=a, state=RespondentState.PENDING, form="intake v9", received_ms=T0 + 5
        ),
    ]


# -- links --------------------------------------------------------------------------------


def test_links_are_kept_in_id_order_and_removed_without_loss(store: Store) -> None:
    a, b, c = _ids(3)
    _w(
        store,
        lambda tx: tx.links.add(
            b, a, how=LinkHow.AUTO, score=21.5, levels="exact/0/0/same", at_ms=T0, actor="system"
        ),
    )
    _w(
        store,
        lambda tx: tx.links.add(
            b, c, how=LinkHow.MANUAL, score=None, levels=None, at_ms=T0 + 1, actor="manager:x"
        ),
    )
    ab, bc = _r(store, lambda tx: tx.links.touching([b]))
    assert ab == StoredLink(
        id=ab.id,
        a=a,
        b=b,
        how=LinkHow.AUTO,
        score=21.5,
        levels="exact/0/0/same",
        created_ms=T0,
        actor="system",
        removed_ms=None,
        removed_by=None,
    )
    assert (bc.a, bc.b, bc.how) == (b, c, "manual")
    assert sorted(_r(store, lambda tx: tx.links.in_force(b)), key=lambda x: x.id) == [ab, bc]
    assert _r(store, lambda tx: tx.links.in_force(a)) == [ab]
    assert _r(store, lambda tx: tx.links.levels_in_force()) == ["exact/0/0/same"]
    assert _r(store, lambda tx: tx.links.count_in_force()) == {"auto": 1, "manual": 1}

    _w(store, lambda tx: tx.links.remove([ab.id], at_ms=T0 + 2, by="manager:y"))
    assert _r(store, lambda tx: tx.links.in_force(a)) == []
    assert _r(store, lambda tx: tx.links.in_force(b)) == [bc]
    assert _r(store, lambda tx: tx.links.levels_in_force()) == []
    assert _r(store, lambda tx: tx.links.count_in_force()) == {LinkHow.MANUAL: 1}
    removed, _ = _r(store, lambda tx: tx.links.touching([a, c]))
    assert (removed.id, removed.removed_ms, removed.removed_by) == (ab.id, T0 + 2, "manager:y")


def test_links_and_items_of_many_interviews_are_read_whole(store: Store) -> None:
    ids = _ids(1300)

    def fill(tx: Tx) -> None:
        # pairs within a chunk of 500 and across chunks, each once
        for x, y in [(ids[0], ids[1]), (ids[2], ids[900]), (ids[1299], ids[600])]:
            tx.links.add(x, y, how=LinkHow.AUTO, score=1.0, levels="l", at_ms=T0, actor="s")
            tx.candidates.queue(x, y, score=1.0, levels="l", at_ms=T0)

    _w(store, fill)
    links = _r(store, lambda tx: tx.links.touching(ids))
    items = _r(store, lambda tx: tx.candidates.touching(ids))
    assert [x.id for x in links] == [x.id for x in items] == [1, 2, 3]
    assert [(x.a, x.b) for x in links] == [
        (ids[0], ids[1]),
        (ids[2], ids[900]),
        (ids[600], ids[1299]),
    ]
    assert [(x.a, x.b) for x in items] == [(x.a, x.b) for x in links]


# -- candidates ---------------------------------------------------------------------------


def test_a_pair_is_queued_once(store: Store) -> None:
    a, b = _ids(2)
    _register(store, a)
    first = _w(store, lambda tx: tx.candidates.queue(b, a, score=9.5, levels="folded", at_ms=T0))
    assert isinstance(first, int)
    again = _w(store, lambda tx: tx.candidates.queue(a, b, score=12.0, levels="exact", at_ms=T0))
    assert again is None
    item = _r(store, lambda tx: tx.candidates.get(first))
    assert item is not None and _r(store, lambda tx: tx.candidates.pair(b, a)) == item
    cluster_a = _r(store, lambda tx: tx.respondents.cluster_of(a))
    assert (item.a, item.b, item.score, item.levels, item.state) == (a, b, 9.5, "folded", OPEN)
    assert (item.created_ms, item.decided_ms, item.decided_by) == (T0, None, None)
    assert (item.cluster_a, item.cluster_b) == (cluster_a, None)  # b is not registered
    assert _r(store, lambda tx: tx.candidates.get(first + 1)) is None
    assert _r(store, lambda tx: tx.candidates.pair(a, uuid.uuid4())) is None


def test_a_decision_updates_the_pair_or_makes_it(store: Store) -> None:
    a, b, c = _ids(3)
    cid = _w(store, lambda tx: tx.candidates.queue(a, b, score=9.5, levels="folded", at_ms=T0))
    _w(store, lambda tx: tx.candidates.decide(b, a, LINKED, at_ms=T0 + 5, by="manager:x"))
    _w(store, lambda tx: tx.candidates.decide(c, a, DISTINCT, at_ms=T0 + 6, by="manager:y"))
    ab = _r(store, lambda tx: tx.candidates.pair(a, b))
    ac = _r(store, lambda tx: tx.candidates.pair(a, c))
    assert ab is not None and ac is not None
    assert (ab.id, ab.state, ab.score, ab.created_ms, ab.decided_ms, ab.decided_by) == (
        cid,
        LINKED,
        9.5,
        T0,
        T0 + 5,
        "manager:x",
    )
    assert (ac.a, ac.b, ac.state, ac.score, ac.levels) == (a, c, DISTINCT, None, None)
    assert (ac.created_ms, ac.decided_ms, ac.decided_by) == (T0 + 6, T0 + 6, "manager:y")
    # a later decision on the same pair replaces the earlier one
    _w(store, lambda tx: tx.candidates.decide(a, c, LINKED, at_ms=T0 + 7, by="manager:z"))
    later = _r(store, lambda tx: tx.candidates.pair(c, a))
    assert later is not None
    assert (later.id, later.state, later.decided_by) == (ac.id, LINKED, "manager:z")


def test_pairs_within_a_cluster_are_settled(store: Store) -> None:
    a, b, c, d = _ids(4)
    _w(store, lambda tx: tx.candidates.queue(a, b, score=9.0, levels="l", at_ms=T0))
    _w(store, lambda tx: tx.candidates.queue(a, d, score=9.0, levels="l", at_ms=T0))
    _w(store, lambda tx: tx.candidates.decide(b, c, DISTINCT, at_ms=T0, by="m"))
    _w(store, lambda tx: tx.candidates.settle_within([a], states=[OPEN], at_ms=T0, by="s"))
    _w(
        store,
        lambda tx: tx.candidates.settle_within({a, b, c}, states=[OPEN], at_ms=T0 + 1, by="s"),
    )
    states = {(x.a, x.b): x.state for x in _r(store, lambda tx: tx.candidates.touching([a, c]))}
    assert states == {(a, b): SETTLED, (a, d): OPEN, (b, c): DISTINCT}
    _w(
        store,
        lambda tx: tx.candidates.settle_within(
            [c, b], states=[OPEN, DISTINCT], at_ms=T0 + 2, by="manager:x"
        ),
    )
    bc = _r(store, lambda tx: tx.candidates.pair(b, c))
    assert bc is not None and (bc.state, bc.decided_ms, bc.decided_by) == (
        SETTLED,
        T0 + 2,
        "manager:x",
    )


def test_a_pair_between_two_groups_is_found_in_its_state(store: Store) -> None:
    ids = _ids(1100)
    a, b, c = ids[0], ids[-1], ids[500]
    _w(store, lambda tx: tx.candidates.decide(a, b, DISTINCT, at_ms=T0, by="m"))
    _w(store, lambda tx: tx.candidates.queue(a, c, score=9.0, levels="l", at_ms=T0))
    many = set(ids[1:-1])  # more than a chunk, without a or b
    assert _r(store, lambda tx: tx.candidates.any_between({a}, {b}, DISTINCT))
    assert _r(store, lambda tx: tx.candidates.any_between({b}, {a}, DISTINCT))
    assert _r(store, lambda tx: tx.candidates.any_between(many | {b}, {a}, DISTINCT))
    assert not _r(store, lambda tx: tx.candidates.any_between({a}, {b}, OPEN))
    assert not _r(store, lambda tx: tx.candidates.any_between({a}, {c}, DISTINCT))
    assert _r(store, lambda tx: tx.candidates.any_between(many, {a}, OPEN))
    assert not _r(store, lambda tx: tx.candidates.any_between(many, {b}, OPEN))
    assert not _r(store, lambda tx: tx.candidates.any_between(set(), {a}, OPEN))
    assert not _r(store, lambda tx: tx.candidates.any_between({a}, set(), OPEN))


def test_items_ranked_by_score_then_id(store: Store) -> None:
    a, b, c, d = _ids(4)
    low = _w(store, lambda tx: tx.candidates.queue(a, b, score=8.0, levels="l", at_ms=T0))
    high = _w(store, lambda tx: tx.candidates.queue(a, c, score=12.0, levels="l", at_ms=T0))
    tie = _w(store, lambda tx: tx.candidates.queue(a, d, score=8.0, levels="l", at_ms=T0))
    _w(store, lambda tx: tx.candidates.decide(b, c, DISTINCT, at_ms=T0, by="m"))  # no score
    _w(store, lambda tx: tx.candidates.decide(a, d, LINKED, at_ms=T0, by="m"))

    def ranked(state: CandidateState | None, limit: int = 100) -> list[int]:
        return [x.id for x in _r(store, lambda tx: tx.candidates.ranked(state=state, limit=limit))]

    none_score = _r(store, lambda tx: tx.candidates.pair(b, c))
    assert none_score is not None
    assert ranked(OPEN) == [high, low]
    assert ranked(OPEN, 1) == [high]
    assert ranked(LINKED) == [tie]
    # every state: an item without a score comes last (SQLite sorts NULL lowest)
    assert ranked(None) == [high, low, tie, none_score.id]
    assert [x.id for x in _r(store, lambda tx: tx.candidates.touching([d, c]))] == [
        high,
        tie,
        none_score.id,
    ]
    assert _r(store, lambda tx: tx.candidates.count_by_state()) == {
        OPEN: 2,
        LINKED: 1,
        DISTINCT: 1,
    }


def test_the_stored_token_width_is_the_pseudonyms_width() -> None:
    from syncserver.respondents._pseudonyms import TOKEN_BYTES as PSEUDONYM_BYTES

    assert TOKEN_BYTES == PSEUDONYM_BYTES


# -- several servers ----------------------------------------------------------------------


def test_the_interviews_waiting_are_the_pending_ones_with_their_tokens(store: Store) -> None:
    a, b, c = _ids(3)
    _register(store, a, tokens=b"ta")
    _register(store, b, tokens=b"tb", state=RespondentState.MATCHED)
    assert _r(store, lambda tx: tx.respondents.waiting([a, b, c])) == {a: b"ta"}
    assert _r(store, lambda tx: tx.respondents.waiting([])) == {}
    _register(store, a, tokens=b"ta2")  # registered again: its new tokens
    assert _w(store, lambda tx: tx.respondents.waiting({a, c}, hold=True)) == {a: b"ta2"}
    _w(store, lambda tx: tx.respondents.mark_matched(a))
    assert _r(store, lambda tx: tx.respondents.waiting([a])) == {}


def test_a_pass_tells_whether_another_committed_after_its_read(store: Store) -> None:
    mark = _r(store, lambda tx: tx.respondents.passes())
    assert _w(store, lambda tx: tx.respondents.begin_pass()) == mark  # none in between
    _w(store, lambda tx: tx.respondents.lock_clusters())  # a lock alone counts nothing
    if isinstance(store, SqliteStore):  # one process matches: nothing is counted
        assert _w(store, lambda tx: tx.respondents.begin_pass()) == mark == 0
        return
    assert _r(store, lambda tx: tx.respondents.passes()) == mark + 1
    assert _w(store, lambda tx: tx.respondents.begin_pass()) == mark + 1  # one in between


def test_large_clusters_are_made_and_settled_whole(store: Store) -> None:
    ids = _ids(1300)  # more than a chunk of ids (SQLite reads them 500 at a time)
    outside = uuid.UUID(int=(1 << 128) - 1)

    def fill(tx: Tx) -> None:
        for r in [*ids, outside]:
            tx.respondents.register(
                r,
                token_version=1,
                tokens=b"t",
                postings=(),
                state=RespondentState.PENDING,
                at_ms=T0,
            )
        for x, y in [(ids[0], ids[1299]), (ids[1], ids[700]), (ids[2], outside)]:
            tx.candidates.queue(x, y, score=9.0, levels="l", at_ms=T0)

    _w(store, fill)
    first = _r(store, lambda tx: tx.respondents.cluster_of(ids[0]))
    merged = _w(store, lambda tx: tx.respondents.recluster(ids))
    assert merged == dict.fromkeys(ids, first)
    assert _r(store, lambda tx: tx.respondents.members(first)) == set(ids)
    _w(store, lambda tx: tx.candidates.settle_within(ids, states=[OPEN], at_ms=T0, by="s"))
    states = [x.state for x in _r(store, lambda tx: tx.candidates.touching(ids))]
    assert states == [SETTLED, SETTLED, OPEN]


def test_one_record_registered_twice_at_once_has_one_row(store: Store) -> None:
    (a,) = _ids(1)
    tokens = [b"first", b"second"]
    added = _race(2, lambda i: _register(store, a, tokens=tokens[i], postings=[_tok()]))
    assert added == [True, True]  # one added the row, the other replaced its tokens
    assert _r(store, lambda tx: tx.respondents.registered()) == 1
    seqs = _r(store, lambda tx: tx.respondents.seqs([a]))
    (row,) = _r(store, lambda tx: tx.respondents.interviews(seqs.values())).values()
    assert row.record_id == a and row.tokens in tokens


def test_one_pair_queued_twice_at_once_is_queued_once(store: Store) -> None:
    a, b = _ids(2)
    ids = _race(
        2,
        lambda i: _w(store, lambda tx: tx.candidates.queue(a, b, score=9.0, levels="l", at_ms=T0)),
    )
    assert sorted(ids, key=lambda x: x is None)[1] is None
    (item,) = _r(store, lambda tx: tx.candidates.touching([a]))
    assert item.id in ids and item.state == OPEN


def test_two_decisions_on_one_pair_at_once_leave_one_row(store: Store) -> None:
    a, b = _ids(2)
    states, who = [LINKED, DISTINCT], ["manager:x", "manager:y"]
    _race(
        2,
        lambda i: _w(store, lambda tx: tx.candidates.decide(a, b, states[i], at_ms=T0, by=who[i])),
    )
    (item,) = _r(store, lambda tx: tx.candidates.touching([b]))
    assert (item.state, item.decided_by) in set(zip(states, who, strict=True))


def test_a_check_then_link_under_the_lock_links_once(store: Store) -> None:
    a, b = _ids(2)
    checked = threading.Barrier(4)

    def link_unless_linked(tx: Tx) -> bool:
        tx.respondents.lock_clusters()
        linked = bool(tx.links.in_force(a))
        _meet(checked)
        if linked:
            return False
        tx.links.add(a, b, how=LinkHow.MANUAL, score=None, levels=None, at_ms=T0, actor="m")
        return True

    made = _race(4, lambda _: _w(store, link_unless_linked))
    assert sorted(made) == [False, False, False, True]
    assert len(_r(store, lambda tx: tx.links.touching([a]))) == 1


def test_passes_on_two_servers_run_one_after_the_other(store: Store) -> None:
    if isinstance(store, SqliteStore):
        pytest.skip("SQLite: one process matches, under its matcher's lock")
    a, b = _ids(2)
    begun = threading.Barrier(2)

    def one_pass(record: uuid.UUID) -> Callable[[Tx], tuple[int, int]]:
        def tx(tx: Tx) -> tuple[int, int]:
            before = tx.respondents.begin_pass()
            _meet(begun)
            seen = tx.respondents.registered()
            tx.respondents.register(
                record,
                token_version=1,
                tokens=b"t",
                postings=(),
                state=RespondentState.PENDING,
                at_ms=T0,
            )
            return before, seen

        return tx

    passes = _race(2, lambda i: _w(store, one_pass([a, b][i])))
    # the pass counted second began after the first committed, and saw what it wrote
    assert sorted(passes) == [(0, 0), (1, 1)]
    assert _r(store, lambda tx: tx.respondents.passes()) == 2
