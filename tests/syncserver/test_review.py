"""Data-manager review: quarantine release, conflicts, history, review states."""

from __future__ import annotations

import hashlib
import io
import random
import uuid

import pytest
from support.bundles import make_record, seal_for
from support.project import NOW
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from syncserver.audit.entries import decode_entry
from syncserver.errors import NotFound, UploadConflict
from syncserver.forms import publish_form
from syncserver.ingest import ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project
from syncserver.records.review import (
    list_conflicts,
    list_quarantine,
    record_history,
    release,
    resolve_conflict,
    set_review,
)

FORM = shipped_form("escapee-interview")
NAME = "시험이름"


@pytest.fixture
def env(project: Project):  # type: ignore[no-untyped-def]
    key, dev = enroll_offline(project, now=NOW)
    return project, UploadArea(project.config.root), Preparer.for_project(project), key, dev


def answers(seed: int) -> dict:  # type: ignore[type-arg]
    a = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
    a["respondent_name"] = NAME
    return a


def ingest(env, records, seq=1):  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    data = seal_for(project, key, dev, records, seq=seq)
    bid = read_header(io.BytesIO(data)).bundle_id
    area.append(bid, 0, data, len(data))
    persist_upload(project, area, bid, dev, len(data), hashlib.sha256(data).digest(), now=NOW)
    return ingest_bundle(project, area, forms, bid, now=NOW)


def last_kind(project: Project) -> str:
    raw = project.store.read_sync(
        lambda c: c.execute("SELECT entry FROM audit ORDER BY idx DESC").fetchone()[0]
    )
    return decode_entry(raw).kind


def test_release_after_the_form_is_published(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms = env[0], env[1], env[2]
    rec = make_record(FORM, answers(1))
    report = ingest(env, [rec])  # the form is not published yet
    assert report.quarantined == 1
    [item] = list_quarantine(project)
    assert (
        item.reason == "form 'escapee-interview' v1 is not published"
        and item.record_id == rec.record_id
    )
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    again = release(project, area, forms, item.id, now=NOW, actor="cli:tester")
    assert (again.accepted, again.quarantined) == (1, 0)
    assert list_quarantine(project) == []
    assert [q.released is not None for q in list_quarantine(project, include_released=True)] == [
        True
    ]
    with pytest.raises(UploadConflict):
        release(project, area, forms, item.id, now=NOW, actor="cli:tester")
    with pytest.raises(NotFound):
        release(project, area, forms, 999, now=NOW, actor="cli:tester")


def test_problems_are_kept_with_paths(env) -> None:  # type: ignore[no-untyped-def]
    project = env[0]
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    bad = answers(2)
    bad["unknown_question"] = "x"
    ingest(env, [make_record(FORM, bad)])
    [item] = list_quarantine(project)
    assert [(p.path, p.code) for p in item.problems] == [("$.unknown_question", "unknown_field")]


def test_history_conflict_resolution_and_review(env) -> None:  # type: ignore[no-untyped-def]
    project = env[0]
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    v1 = make_record(FORM, answers(1))
    ingest(env, [v1], seq=1)
    a = make_record(FORM, answers(2), record_id=v1.record_id, version=2)
    b = make_record(FORM, answers(3), record_id=v1.record_id, version=2)
    ingest(env, [a], seq=2)
    ingest(env, [b], seq=3)
    conflicts = list_conflicts(project)
    assert list(conflicts) == [v1.record_id] and len(conflicts[v1.record_id]) == 2
    with pytest.raises(NotFound):
        set_review(
            project, v1.record_id, "approved", now=NOW, actor="cli:tester"
        )  # no current version yet
    keep = conflicts[v1.record_id][1][1]
    resolve_conflict(project, v1.record_id, keep, now=NOW, actor="cli:tester")
    assert list_conflicts(project) == {}
    history = record_history(project, v1.record_id, actor="cli:tester")
    assert sorted((h.version, h.status) for h in history) == [
        (1, "superseded"),
        (2, "current"),
        (2, "superseded"),
    ]
    assert next(h for h in history if h.status == "current").sha256 == keep
    assert all("respondent_name" not in h.answers for h in history)
    assert NAME not in repr(history)
    set_review(project, v1.record_id, "approved", now=NOW, actor="cli:tester")
    assert last_kind(project) == "review"
    current = [
        h
        for h in record_history(project, v1.record_id, actor="cli:tester")
        if h.status == "current"
    ]
    assert [h.review for h in current] == ["approved"]
    shown = record_history(
        project, v1.record_id, include_sensitive=True, now=NOW, actor="cli:tester"
    )
    assert {h.answers["respondent_name"] for h in shown} == {NAME}
    assert last_kind(project) == "key_use"  # seeing identities is logged
    with pytest.raises(NotFound):
        record_history(project, uuid.uuid4(), actor="cli:tester")
