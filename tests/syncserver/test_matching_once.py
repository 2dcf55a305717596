"""Matching done once (issue 12, "several servers"): the matcher decides only for the
interviews still waiting with the answers it holds, a rebuild files tokens only for the
version it decrypted, and on PostgreSQL two matchers, each with a store of its own (as
two ``syncserver run`` processes have), pass one after the other on one schema. Every
identity is synthetic."""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from respondent_helpers import FORM, Env, interview
from support.bundles import make_record
from support.postgres import fresh_schema
from support.project import NOW as PROJECT_NOW

from syncserver._time import ms
from syncserver.audit.entries import AuditEntry, decode_entry
from syncserver.errors import ReviewConflict
from syncserver.project import Project
from syncserver.respondents import (
    IdentityAnswers,
    Matcher,
    PseudonymKey,
    identities,
    link,
    rebuild,
    register,
    stored_tokens,
)
from syncserver.respondents import _rebuild as rebuild_module
from syncserver.respondents._filing import encode_tokens
from syncserver.store import Store, Tx, open_store

T = TypeVar("T")
NOW = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
#: Synthetic keys (tests only).
KEY = PseudonymKey(bytes(range(32)))
AUDIT_KEY = bytes(range(32, 64))


def _person(name: str, *, born: int = 1984) -> IdentityAnswers:
    return IdentityAnswers(
        name=name,
        sex="female",
        birth_year=born,
        province_of_origin="ryanggang",
        departure_year=2009,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store("sqlite:store.db", tmp_path, audit_key=AUDIT_KEY)
        try:
            yield s
        finally:
            s.close()
        return
    with fresh_schema() as url:
        s = open_store(url, tmp_path, audit_key=AUDIT_KEY)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores on one PostgreSQL schema: two servers' views of one database."""
    with fresh_schema() as url:
        a = open_store(url, tmp_path, audit_key=AUDIT_KEY)
        b = open_store(url, tmp_path, audit_key=AUDIT_KEY)
        try:
            yield a, b
        finally:
            a.close()
            b.close()


def _register(store: Store, *items: tuple[uuid.UUID, IdentityAnswers]) -> list[bool]:
    """Register interviews as ingest does; which need matching."""

    def tx(tx: Tx) -> list[bool]:
        return [register(tx, rid, *stored_tokens(KEY, who), now_ms=ms(NOW)) for rid, who in items]

    return store.write_sync(tx)


def _entries(store: Store, kind: str) -> list[AuditEntry]:
    rows = store.read_sync(lambda tx: tx.audit.latest(1000))
    return [e for e in (decode_entry(r.entry) for r in reversed(rows)) if e.kind == kind]


def _waiting(store: Store, *ids: uuid.UUID) -> set[uuid.UUID]:
    return set(store.read_sync(lambda tx: tx.respondents.waiting(ids)))


class _ScoresTogether:
    """A server's store whose reads, once done, wait for the other server's: both
    matching passes have scored before either writes (the race passes must survive)."""

    def __init__(self, store: Store, barrier: threading.Barrier) -> None:
        self._store = store
        self._barrier = barrier

    def read_sync(self, fn: Callable[[Tx], T]) -> T:
        out = self._store.read_sync(fn)
        self._barrier.wait(timeout=60)
        return out

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        return self._store.write_sync(fn)


def _together(*runs: Callable[[], T]) -> list[T]:
    out: list[Any] = [None] * len(runs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = runs[i]()
        except BaseException as e:  # raised again below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(runs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return out


# -- every backend ------------------------------------------------------------------------


def test_answers_registered_again_are_matched_by_the_pass_that_has_them(store: Store) -> None:
    first, x = uuid.uuid4(), uuid.uuid4()
    matcher = Matcher(store, KEY)
    _register(store, (first, _person("독고세린")))
    matcher.match([(first, _person("독고세린"))], now=NOW)
    old, new = _person("남궁하윤", born=1990), _person("독고 세린")
    assert _register(store, (x, old)) == [True]
    assert _register(store, (x, new)) == [True]  # a new version, other answers

    # the answers of the version replaced: not matched, the interview still waits
    stale = matcher.match([(x, old)], now=NOW)
    assert (stale.interviews, stale.linked, stale.queued) == (1, 0, 0)
    assert _waiting(store, x) == {x}
    done = matcher.match([(x, new)], now=NOW)
    assert done.linked == 1 and _waiting(store, x) == set()
    cluster = store.read_sync(lambda tx: tx.respondents.cluster_of(first))
    assert store.read_sync(lambda tx: tx.respondents.cluster_of(x)) == cluster

    # matched once: the same answers again (another server's matcher) change nothing
    again = matcher.match([(x, new)], now=NOW)
    assert (again.linked, again.queued) == (0, 0)
    assert len(_entries(store, "link")) == 1
    assert len(store.read_sync(lambda tx: tx.links.touching([x]))) == 1


def test_a_version_merged_while_a_rebuild_decrypts_keeps_its_tokens(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = Env.create(project)
    a = interview("독고세린", seed=1)
    b = interview("남궁하윤", born=1990, seed=2)
    env.ingest([a, b])
    corrected = {**b.answers, "respondent_name": "독고세린", "birth_year": 1984}
    decrypted = rebuild_module._decrypted

    def meanwhile(project: Project, record_ids: Any) -> Any:
        found = decrypted(project, record_ids)
        # a corrected version of b arrives (on this server or another) before the
        # rebuild files what it decrypted: version 1's answers
        env.ingest([make_record(FORM, corrected, record_id=b.record_id, version=2)])
        return found

    monkeypatch.setattr(rebuild_module, "_decrypted", meanwhile)
    matcher = Matcher.for_project(project)
    report = rebuild(project, matcher, now=PROJECT_NOW, everything=True, actor="cli:tester")
    assert report.interviews == 0  # a's tokens unchanged, b's left as version 2 filed them
    ((_, who),) = identities(project, [b.record_id])  # version 2's answers
    store = project.store
    seq = store.read_sync(lambda tx: tx.respondents.seqs([b.record_id]))[b.record_id]
    row = store.read_sync(lambda tx: tx.respondents.interviews([seq]))[seq]
    assert row.tokens == encode_tokens(stored_tokens(matcher.key, who)[0])
    assert env.cluster(a) == env.cluster(b)  # version 2 is a's respondent


# -- several servers on PostgreSQL --------------------------------------------------------


def test_one_person_matched_on_two_servers_at_once_is_linked(
    servers: tuple[Store, Store],
) -> None:
    a, b = servers
    x, y, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _register(a, (other, _person("남궁하윤", born=1990)))
    Matcher(a, KEY).match([(other, _person("남궁하윤", born=1990))], now=NOW)
    # one person, interviewed twice, uploaded to two servers
    _register(a, (x, _person("독고세린")))
    _register(b, (y, _person("독고 세린")))
    scored = threading.Barrier(2)
    on_a = Matcher(_ScoresTogether(a, scored), KEY)
    on_b = Matcher(_ScoresTogether(b, scored), KEY)
    reports = _together(
        lambda: on_a.match([(x, _person("독고세린"))], now=NOW),
        lambda: on_b.match([(y, _person("독고 세린"))], now=NOW),
    )
    # neither saw the other when it scored; the pass that wrote second scored again
    assert sorted(r.linked for r in reports) == [0, 1]
    assert a.read_sync(lambda tx: tx.respondents.cluster_of(x)) == b.read_sync(
        lambda tx: tx.respondents.cluster_of(y)
    )
    assert _waiting(a, x, y) == set()
    (entry,) = _entries(b, "link")
    assert {entry.subject, entry.detail["other"]} == {str(x), str(y)}
    assert a.read_sync(lambda tx: tx.respondents.passes()) == 3


def test_the_same_interview_matched_on_two_servers_at_once_is_matched_once(
    servers: tuple[Store, Store],
) -> None:
    a, b = servers
    y, x = uuid.uuid4(), uuid.uuid4()
    _register(a, (y, _person("독고세린")))
    Matcher(a, KEY).match([(y, _person("독고세린"))], now=NOW)
    _register(a, (x, _person("독고 세린")))
    # both servers hold x's answers (one from its upload, one sweeping what is pending)
    scored = threading.Barrier(2)
    reports = _together(
        *(
            lambda s=s: Matcher(_ScoresTogether(s, scored), KEY).match(
                [(x, _person("독고 세린"))], now=NOW
            )
            for s in (a, b)
        )
    )
    assert sorted(r.linked for r in reports) == [0, 1]
    assert len(a.read_sync(lambda tx: tx.links.touching([x]))) == 1
    assert len(_entries(a, "link")) == 1
    assert _waiting(b, x) == set()


class _LockedTogether:
    """A server's store whose write transactions, once they hold the lock on clusters,
    wait (half a second at most) for the other server's to hold it too: with the lock,
    the other never does, and without it both would read before either writes."""

    def __init__(self, store: Store, barrier: threading.Barrier) -> None:
        self._store = store
        self._barrier = barrier

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        barrier = self._barrier

        class Respondents:
            def __init__(self, real: Any) -> None:
                self._real = real

            def __getattr__(self, name: str) -> Any:
                return getattr(self._real, name)

            def lock_clusters(self) -> None:
                self._real.lock_clusters()
                try:
                    barrier.wait(timeout=0.5)
                except threading.BrokenBarrierError:
                    pass

        class Within:
            def __init__(self, tx: Tx) -> None:
                self._tx = tx
                self.respondents = Respondents(tx.respondents)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._tx, name)

        return self._store.write_sync(lambda tx: fn(Within(tx)))  # type: ignore[arg-type]


def test_two_managers_on_two_servers_link_one_pair_once(
    servers: tuple[Store, Store],
) -> None:
    a, b = servers
    x, y = uuid.uuid4(), uuid.uuid4()
    _register(a, (x, _person("독고세린")), (y, _person("남궁하윤", born=1990)))
    held = threading.Barrier(2)

    class _Project:  # what the review functions use of a project: its store
        def __init__(self, store: Store) -> None:
            self.store = _LockedTogether(store, held)

    def decide(store: Store) -> str:
        project: Any = _Project(store)
        try:
            link(project, x, y, actor="manager:kim", now=NOW)
        except ReviewConflict:  # the second, refused: "already one respondent"
            return "refused"
        return "linked"

    outcomes = _together(lambda: decide(a), lambda: decide(b))
    assert sorted(outcomes) == ["linked", "refused"]
    assert len(a.read_sync(lambda tx: tx.links.touching([x]))) == 1
    assert len(_entries(a, "link")) == 1
