"""Ingest without HTTP: persist, open, validate, merge, quarantine, recover."""

from __future__ import annotations

import hashlib
import io
import random
import uuid

import msgspec
import pytest
from support.bundles import make_record, seal_for
from support.project import NOW
from support.uploader import enroll_offline
from support.vectors import vector_delivery, vector_project

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from syncserver.access import devices
from syncserver.audit.entries import decode_entry
from syncserver.forms import publish_form
from syncserver.ingest import ingest_bundle, persist_upload, recover
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project
from syncserver.records.sensitive import open_sealed

FORM = shipped_form("escapee-interview")
NAME = "합성이름"  # a distinctive synthetic name, searched for in the store's bytes


@pytest.fixture
def env(project: Project):  # type: ignore[no-untyped-def]
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    key, device_id = enroll_offline(project, now=NOW)
    preparer = Preparer.for_project(project)
    return project, UploadArea(project.config.root), preparer, key, device_id


def upload(project, area, device_id, data: bytes):  # type: ignore[no-untyped-def]
    bid = read_header(io.BytesIO(data)).bundle_id
    area.append(bid, 0, data, len(data))
    persist_upload(project, area, bid, device_id, len(data), hashlib.sha256(data).digest(), now=NOW)
    return bid


def answers(seed: int) -> dict:  # type: ignore[type-arg]
    a = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
    a["respondent_name"] = NAME
    return a


def kinds(project: Project) -> list[str]:
    rows = project.store.read_sync(
        lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
    )
    return [decode_entry(r[0]).kind for r in rows]


def test_accepts_and_keeps_sensitive_answers_encrypted(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    recs = [make_record(FORM, answers(i)) for i in range(3)]
    bid = upload(project, area, dev, seal_for(project, key, dev, recs))
    report = ingest_bundle(project, area, forms, bid, now=NOW)
    assert (report.state, report.accepted, report.quarantined) == ("accepted", 3, 0)
    rows = project.store.read_sync(
        lambda c: c.execute(
            "SELECT record_id, version, sha256, answers, sealed FROM records"
        ).fetchall()
    )
    assert len(rows) == 3
    for rid, ver, sha, plain, sealed in rows:
        assert "respondent_name" not in msgspec.msgpack.decode(plain)["answers"]
        secret = open_sealed(project.identity.store_key, uuid.UUID(bytes=rid), ver, sha, sealed)
        assert secret["respondent_name"] == NAME
    project.store.close()
    db = (project.config.root / "store.db").read_bytes()
    wal = project.config.root / "store.db-wal"
    blob = db + (wal.read_bytes() if wal.exists() else b"")
    assert NAME.encode() not in blob
    project.store.open()


def test_invalid_record_is_quarantined_and_the_others_accepted(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    good = make_record(FORM, answers(1))
    broken = answers(2)
    broken["not_a_question"] = 1
    bad = make_record(FORM, broken)
    unknown = make_record(FORM, answers(3))
    unknown = msgspec.structs.replace(unknown, form_version=99)
    bid = upload(project, area, dev, seal_for(project, key, dev, [good, bad, unknown]))
    report = ingest_bundle(project, area, forms, bid, now=NOW)
    assert (report.accepted, report.quarantined) == (1, 2)
    q = project.store.read_sync(
        lambda c: c.execute(
            "SELECT record_id, reason, problems FROM quarantine ORDER BY id"
        ).fetchall()
    )
    assert [uuid.UUID(bytes=r[0]) for r in q] == [bad.record_id, unknown.record_id]
    assert q[1][1] == "form 'escapee-interview' v99 is not published"
    problems = msgspec.msgpack.decode(q[0][2])
    assert [(p["path"], p["code"]) for p in problems] == [("$.not_a_question", "unknown_field")]
    assert NAME not in repr(q)


def test_versions_supersede_and_concurrent_edits_conflict(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    v1 = make_record(FORM, answers(1))
    b1 = seal_for(project, key, dev, [v1], seq=1)
    ingest_bundle(project, area, forms, upload(project, area, dev, b1), now=NOW)
    v2 = make_record(FORM, answers(2), record_id=v1.record_id, version=2)
    b2 = seal_for(project, key, dev, [v2], seq=2, prev=hashlib.sha256(b1).digest())
    r2 = ingest_bundle(project, area, forms, upload(project, area, dev, b2), now=NOW)
    assert r2.superseded == 1
    other = make_record(FORM, answers(3), record_id=v1.record_id, version=2)
    r3 = ingest_bundle(
        project,
        area,
        forms,
        upload(project, area, dev, seal_for(project, key, dev, [other], seq=3)),
        now=NOW,
    )
    assert r3.conflicts == 1
    status = project.store.read_sync(
        lambda c: c.execute(
            "SELECT version, status FROM records ORDER BY version, status"
        ).fetchall()
    )
    assert status == [(1, "superseded"), (2, "conflict"), (2, "conflict")]
    # an identical resend changes nothing
    r4 = ingest_bundle(
        project,
        area,
        forms,
        upload(project, area, dev, seal_for(project, key, dev, [v2], seq=4)),
        now=NOW,
    )
    assert (r4.duplicates, r4.accepted) == (1, 0)
    assert kinds(project).count("supersede") == 1 and kinds(project).count("conflict") == 1


def test_revoked_device_and_tampered_bundle_are_quarantined(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    data = bytearray(seal_for(project, key, dev, [make_record(FORM, answers(1))]))
    data[-5] ^= 1
    r = ingest_bundle(project, area, forms, upload(project, area, dev, bytes(data)), now=NOW)
    assert r.state == "quarantined"
    assert r.reasons == ["bundle could not be opened: payload chunk failed authentication"]
    devices.revoke(project, dev, "lost", now=NOW, actor="cli:tester")
    r = ingest_bundle(
        project,
        area,
        forms,
        upload(
            project, area, dev, seal_for(project, key, dev, [make_record(FORM, answers(2))], seq=2)
        ),
        now=NOW,
    )
    assert (r.state, r.reasons) == ("quarantined", ["the sealing device is revoked"])
    assert project.store.read_sync(
        lambda c: c.execute("SELECT COUNT(*) FROM records").fetchone()
    ) == (0,)


def test_persist_is_idempotent_and_recover_finishes_stored_bundles(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    data = seal_for(project, key, dev, [make_record(FORM, answers(1))])
    bid = upload(project, area, dev, data)
    again = persist_upload(
        project, area, bid, dev, len(data), hashlib.sha256(data).digest(), now=NOW
    )
    first = project.store.read_sync(
        lambda c: c.execute("SELECT audit_index FROM bundles").fetchone()
    )
    assert again == first[0]
    assert kinds(project).count("upload") == 1
    reports = recover(project, area, forms, now=NOW)  # as if the server died before ingest
    assert [r.state for r in reports] == ["accepted"]
    assert recover(project, area, forms, now=NOW) == []


def test_nested_repeats_keep_sensitive_answers_out_of_plain_columns() -> None:
    """A sensitive question in a repeat inside a repeat is split off too (any depth)."""
    from schemas.survey import parse_form
    from syncserver.records.sensitive import join, sensitive_plan, split

    text = {"en": "x"}
    form = parse_form(
        {
            "id": "nested", "version": 1, "title": text, "languages": ["en"],
            "default_language": "en",
            "items": [
                {"name": "trips", "type": "repeat", "label": text, "items": [
                    {"name": "year", "type": "year", "label": text},
                    {"name": "stops", "type": "repeat", "label": text, "items": [
                        {"name": "place", "type": "text", "label": text, "sensitive": True},
                        {"name": "days", "type": "integer", "label": text},
                    ]},
                ]},
            ],
        }
    )  # fmt: skip
    answers = {"trips": [{"year": 2019, "stops": [{"place": NAME, "days": 3}, {"days": 1}]}]}
    plain, secret = split(answers, sensitive_plan(form))
    assert NAME not in repr(plain)
    assert plain == {"trips": [{"year": 2019, "stops": [{"days": 3}, {"days": 1}]}]}
    assert join(plain, secret) == answers


def test_expired_device_bundle_goes_to_quarantine(project: Project) -> None:
    import datetime

    publish_form(project, FORM, now=NOW, actor="cli:tester")
    days = project.config.devices.certificate_days
    key, dev = enroll_offline(project, now=NOW - datetime.timedelta(days=days + 1))
    area, forms = UploadArea(project.config.root), Preparer.for_project(project)
    r = ingest_bundle(
        project,
        area,
        forms,
        upload(project, area, dev, seal_for(project, key, dev, [make_record(FORM, answers(1))])),
        now=NOW,
    )
    assert (r.state, r.reasons) == ("quarantined", ["the sealing device's certificate had expired"])


def test_bundle_uploaded_under_another_id_is_quarantined(env) -> None:  # type: ignore[no-untyped-def]
    project, area, forms, key, dev = env
    data = seal_for(project, key, dev, [make_record(FORM, answers(1))])
    other = uuid.uuid4()
    area.append(other, 0, data, len(data))
    persist_upload(project, area, other, dev, len(data), hashlib.sha256(data).digest(), now=NOW)
    r = ingest_bundle(project, area, forms, other, now=NOW)
    # Refused from the header, before any key is used (bundle-v1.md §9.2 step 2).
    assert r.reasons == ["bundle could not be opened: bundle id is not the one it was uploaded as"]


def test_every_vector_through_ingest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every bundle vector, as the server would receive it: the invalid ones are kept
    and quarantined with exactly the vector's reason, and nothing else changes."""
    import base64
    import json
    from pathlib import Path

    vectors = sorted((Path(__file__).resolve().parents[1] / "vectors" / "bundle").glob("*.json"))
    assert len(vectors) > 60
    for path in vectors:
        v = json.loads(path.read_text())
        root = tmp_path / v["name"]
        p = vector_project(root, v)
        try:
            data = base64.b64decode(v["bundle"])
            if not data:
                continue  # an empty upload is refused at the API (size >= 1)
            sealer, bid, why = vector_delivery(v, p.project_id)
            area = UploadArea(root)
            area.append(bid, 0, data, len(data))
            persist_upload(p, area, bid, sealer, len(data), hashlib.sha256(data).digest(), now=NOW)
            report = ingest_bundle(p, area, Preparer.for_project(p), bid, now=NOW)
            if v["expect"] == "success":
                # opens; its records name a form this project never published
                assert report.state == "accepted", v["name"]
                assert report.accepted == 0 and report.quarantined > 0, v["name"]
            else:
                assert why is not None
                want = f"bundle could not be opened: {why.value}"
                assert (report.state, report.reasons) == ("quarantined", [want]), v["name"]
                assert p.store.read_sync(
                    lambda c: c.execute("SELECT COUNT(*) FROM records").fetchone()
                ) == (0,)
                assert p.store.read_sync(
                    lambda c: c.execute("SELECT state FROM bundles").fetchall()
                ) == [("quarantined",)]
        finally:
            p.close()
