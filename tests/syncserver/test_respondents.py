"""Respondent deduplication through the real ingest pipeline: matching, the review queue,
links and unlinks with their audit entries, exports, recovery and the store's bytes
(docs/spec/respondent-matching.md). Every name is synthetic."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest
from respondent_helpers import FORM, Env, interview
from support.bundles import make_record
from support.project import NOW

from schemas.wire import Record
from syncserver.analysis.export import export_form
from syncserver.errors import NotFound, ReviewConflict
from syncserver.project import Project
from syncserver.respondents import (
    Matcher,
    link,
    list_candidates,
    mark_distinct,
    match_pending,
    rebuild,
    respondent,
    stats,
    unlink,
)
from syncserver.respondents._worker import MatchWorker


@pytest.fixture
def env(project: Project) -> Env:
    return Env.create(project)


# -- automatic links ---------------------------------------------------------------------


def test_the_same_person_twice_is_linked_and_exported_as_one_respondent(
    env: Env, tmp_path: Path
) -> None:
    first = interview("독고세린", seed=1)
    other = interview("남궁하윤", born=1990, seed=2)
    env.ingest([first, other])
    again = interview("독고 세린", seed=3)  # the same person, written with a space
    env.ingest([again])
    assert env.cluster(first) == env.cluster(again) != env.cluster(other)

    (entry,) = env.audit("link")
    assert entry.actor == "system" and entry.subject == str(again.record_id)
    assert entry.detail["other"] == str(first.record_id)
    assert entry.detail["how"] == "auto" and entry.detail["levels"] == "exact/0/0/same"
    assert entry.detail["respondent"] == str(uuid.UUID(bytes=env.cluster(first)))
    assert stats(env.project)["respondents"] == 2

    export_form(env.project, FORM.id, fmt="jsonl", out_dir=tmp_path, actor="t", now=NOW)
    lines = (tmp_path / f"{FORM.id}.jsonl").read_text(encoding="utf-8").splitlines()
    who = {o["record_id"]: o["respondent_id"] for o in map(msgspec.json.decode, lines)}
    assert who[str(first.record_id)] == who[str(again.record_id)] != who[str(other.record_id)]
    assert len(set(who.values())) == 2  # count people, not interviews


def test_a_different_sex_is_never_linked_automatically(env: Env) -> None:
    a = interview("독고세린", seed=1)
    b = interview("독고세린", sex="male", seed=2)
    env.ingest([a])
    env.ingest([b])
    assert env.cluster(a) != env.cluster(b)
    assert env.audit("link") == []


def test_a_cluster_is_joined_only_if_every_member_looks_alike(env: Env) -> None:
    a = interview("독고세린", seed=1)
    b = interview("독고세린", seed=2)
    env.ingest([a])
    env.ingest([b])
    assert env.cluster(a) == env.cluster(b)
    # c looks like b on everything the matcher sees, but a manager decided c is not a
    c = interview("독고세린", seed=3)
    report = env.ingest([c], match=False)
    mark_distinct(env.project, c.record_id, a.record_id, now=NOW, actor="cli:tester")
    Matcher.for_project(env.project).match(report.pending, now=NOW)
    assert env.cluster(c) != env.cluster(a)
    assert list_candidates(env.project) == []  # decided: neither linked nor queued


# -- the review queue --------------------------------------------------------------------


def renamed(env: Env) -> tuple[Record, Record]:
    """Two interviews of one person who took a new given name: the middle band."""
    old = interview("독고세린", province="kaesong", born=1961, left=2003, seed=1)
    new = interview("독고하늘", province="kaesong", born=1961, left=2003, seed=2)
    env.ingest([old])
    env.ingest([new])
    return old, new


def test_a_renamed_respondent_goes_to_the_review_queue(env: Env) -> None:
    old, new = renamed(env)
    assert env.cluster(old) != env.cluster(new)
    (item,) = list_candidates(env.project)
    assert {item.a, item.b} == {old.record_id, new.record_id}
    assert item.levels == "surname/0/0/same" and item.state == "open"
    (entry,) = env.audit("candidate")
    assert entry.detail["candidate"] == item.id and entry.subject == str(new.record_id)


def test_link_and_unlink_round_trip_with_their_audit_entries(env: Env) -> None:
    old, new = renamed(env)
    before = (env.cluster(old), env.cluster(new))
    (item,) = list_candidates(env.project)

    merged = link(env.project, item.a, item.b, actor="manager:kim", now=NOW)
    assert env.cluster(old) == env.cluster(new) == merged.bytes == before[0]
    assert list_candidates(env.project) == []
    (decided,) = list_candidates(env.project, state=None)
    assert decided.state == "linked" and decided.decided_by == "manager:kim"
    (entry,) = env.audit("link")
    assert (entry.actor, entry.detail["how"]) == ("manager:kim", "manual")
    with pytest.raises(ReviewConflict, match="already one respondent"):
        link(env.project, old.record_id, new.record_id, now=NOW, actor="cli:tester")

    was, now_id = unlink(env.project, new.record_id, actor="manager:kim", now=NOW)
    assert was.bytes == before[0] and now_id.bytes == before[1]
    assert (env.cluster(old), env.cluster(new)) == before  # ids come back exactly
    (u,) = env.audit("unlink")
    assert u.subject == str(new.record_id) and u.detail["links_removed"] == 1
    view = respondent(env.project, old.record_id)
    assert [lk.removed_by for lk in view.links] == ["manager:kim"]  # kept, marked removed
    with pytest.raises(ReviewConflict, match="not linked"):
        unlink(env.project, new.record_id, now=NOW, actor="cli:tester")

    # unlinking says "different people": matching them again does not undo the decision
    rebuild(
        env.project, Matcher.for_project(env.project), now=NOW, everything=True, actor="cli:tester"
    )
    assert env.cluster(old) != env.cluster(new)
    assert list_candidates(env.project) == []


def test_distinct_and_its_refusals(env: Env) -> None:
    old, new = renamed(env)
    mark_distinct(env.project, old.record_id, new.record_id, actor="manager:lee", now=NOW)
    assert list_candidates(env.project) == []
    (entry,) = env.audit("review")
    assert entry.detail == {"decision": "distinct", "other": str(new.record_id)}
    with pytest.raises(ReviewConflict):
        mark_distinct(env.project, old.record_id, old.record_id, now=NOW, actor="cli:tester")
    with pytest.raises(NotFound):
        mark_distinct(env.project, old.record_id, uuid.uuid4(), now=NOW, actor="cli:tester")
    # a person may still link them later: the newer decision wins
    link(env.project, old.record_id, new.record_id, now=NOW, actor="cli:tester")
    assert env.cluster(old) == env.cluster(new)


# -- versions, crashes, old stores -------------------------------------------------------


def test_a_new_version_with_other_identity_answers_is_filed_again(env: Env) -> None:
    a = interview("독고세린", seed=1)
    b = interview("남궁하윤", born=1990, seed=2)
    env.ingest([a, b])
    assert env.cluster(a) != env.cluster(b)
    corrected = {**b.answers, "respondent_name": "독고세린", "birth_year": 1984}
    env.ingest([make_record(FORM, corrected, record_id=b.record_id, version=2)])
    rows = env.project.store.read_sync(
        lambda c: c.execute(
            "SELECT COUNT(*), COUNT(DISTINCT cluster_id) FROM respondents"
        ).fetchone()
    )
    assert rows == (2, 1)  # the corrected second interview is now the same person
    postings = env.project.store.read_sync(
        lambda c: c.execute("SELECT COUNT(*) FROM respondent_postings").fetchone()[0]
    )
    assert postings == 12  # six per interview: the old version's are gone
    # an older version arriving late changes nothing
    env.ingest([make_record(FORM, b.answers, record_id=b.record_id, version=1)])
    assert env.cluster(a) == env.cluster(b)


def test_interviews_left_pending_by_a_crash_are_matched_at_start(env: Env) -> None:
    a = interview("독고세린", seed=1)
    b = interview("독고세린", seed=2)
    env.ingest([a])
    report = env.ingest([b], match=False)  # the process dies before matching
    assert report.pending and stats(env.project)["pending"] == 1
    done = match_pending(env.project, Matcher.for_project(env.project), now=NOW, actor="system")
    assert done.linked == 1 and stats(env.project)["pending"] == 0
    (use,) = env.audit("key_use")
    assert use.detail == {"purpose": "match interviews left pending", "interviews": 1}
    assert env.cluster(a) == env.cluster(b)


def test_a_store_from_before_matching_is_rebuilt(env: Env) -> None:
    a, b = interview("독고세린", seed=1), interview("독고세린", seed=2)
    env.ingest([a, b])

    def forget(c: sqlite3.Connection) -> None:  # as if written by sealsync before issue 5
        for table in ("respondents", "respondent_postings", "respondent_links"):
            c.execute(f"DELETE FROM {table}")

    env.project.store.write_sync(forget)
    report = rebuild(env.project, Matcher.for_project(env.project), now=NOW, actor="cli:tester")
    assert (report.interviews, report.linked) == (2, 1)
    assert env.cluster(a) == env.cluster(b)
    assert (
        rebuild(
            env.project, Matcher.for_project(env.project), now=NOW, actor="cli:tester"
        ).interviews
        == 0
    )


def test_the_background_worker_matches_and_drains(env: Env) -> None:
    matcher = Matcher.for_project(env.project)
    worker = MatchWorker(matcher, clock=lambda: NOW)
    a, b = interview("독고세린", seed=1), interview("독고세린", seed=2)
    worker.submit(env.ingest([a], match=False).pending)
    worker.submit(env.ingest([b], match=False).pending)
    assert worker.wait_idle(timeout=30)
    assert env.cluster(a) == env.cluster(b)
    c = interview("남궁하윤", born=1970, seed=3)
    worker.submit(env.ingest([c], match=False).pending)
    worker.close()  # what is waiting is finished first
    assert stats(env.project)["pending"] == 0

    full = MatchWorker(matcher, clock=lambda: NOW, max_backlog=0)
    d = interview("독고세린", seed=4)
    full.submit(env.ingest([d], match=False).pending)  # no room: left pending, logged
    full.close()
    assert stats(env.project)["pending"] == 1


def test_a_failing_match_leaves_interviews_pending(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    matcher = Matcher.for_project(env.project)
    worker = MatchWorker(matcher, clock=lambda: NOW)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("합성이름 must not reach the log")

    monkeypatch.setattr(matcher, "match", broken)
    worker.submit(env.ingest([interview("합성이름", seed=1)], match=False).pending)
    assert worker.wait_idle(timeout=30)
    worker.close()
    assert stats(env.project)["pending"] == 1
    assert "RuntimeError" in caplog.text and "합성" not in caplog.text


# -- nothing in clear --------------------------------------------------------------------

NAMES = ["독고세린", "리련화", "Paek Sung-min", "남궁하윤"]


def _forms_of(name: str) -> list[bytes]:
    """Byte strings that would betray ``name`` in a file: the text in several encodings,
    and what normalisation derives from it (folded Hangul, jamo, romanization skeleton)."""
    import unicodedata

    from schemas.identity import normalize_name, to_jamo

    n = normalize_name(name)
    texts = {
        name,
        name.lower(),
        unicodedata.normalize("NFD", name),
        (n.surname_folded or "") + n.given_folded,
        n.given_folded,
        n.given_jamo,
        to_jamo(n.given_folded) if n.given_jamo else n.given_folded,
    }
    texts |= {n.given_skeleton} if len(n.given_skeleton) >= 5 else set()
    out = []
    for t in texts:
        if len(t) >= 2:
            out += [t.encode("utf-8"), t.encode("utf-16-le"), t.encode("utf-16-be")]
    return out


def test_no_table_or_file_of_the_store_holds_a_name_in_clear(env: Env) -> None:
    records = [interview(n, born=1960 + 7 * i, seed=i) for i, n in enumerate(NAMES)]
    env.ingest(records[:2])
    env.ingest(records[2:])
    env.ingest([interview(NAMES[0], born=1960, seed=9)])  # a link, with its audit entry
    env.ingest([interview("독고하늘", born=1960, seed=10)])  # a review item too
    assert env.audit("link") and list_candidates(env.project)
    env.project.store.close()
    try:
        root = env.project.config.root
        files = [p for p in root.rglob("*") if p.is_file() and "blobs" not in p.parts]
        assert any(p.name == "store.db" for p in files)
        for path in files:
            data = path.read_bytes()
            for name in [*NAMES, "독고하늘"]:
                for form in _forms_of(name):
                    assert form not in data, f"{path.name} holds a form of a synthetic name"
    finally:
        env.project.store.open()


def test_matching_yields_to_uploads_but_not_for_ever(env: Env) -> None:
    matcher = Matcher.for_project(env.project)
    patient = MatchWorker(matcher, clock=lambda: NOW, quiet=0.5, max_delay=60)
    patient.note_activity()  # an upload just finished
    patient.submit(env.ingest([interview("독고세린", seed=1)], match=False).pending)
    assert not patient.wait_idle(timeout=0.1)  # still waiting for uploads to pause
    assert stats(env.project)["pending"] == 1
    assert patient.wait_idle(timeout=30)  # they did: matched
    assert stats(env.project)["pending"] == 0
    patient.close()

    busy = MatchWorker(matcher, clock=lambda: NOW, quiet=60, max_delay=0.2)
    busy.note_activity()
    busy.submit(env.ingest([interview("남궁하윤", seed=2)], match=False).pending)
    busy.note_activity()  # uploads never pause, but the oldest waits at most max_delay
    assert busy.wait_idle(timeout=30)
    assert stats(env.project)["pending"] == 0
    busy.close()
