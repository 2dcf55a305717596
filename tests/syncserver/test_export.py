"""Exports: CSV tables and JSON Lines of current records, redacted, logged, streamed."""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import io
import json
import random
import stat
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import make_record, seal_for
from support.project import NOW, SECRET
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import ANSWER_TYPES, Form, load_form
from schemas.survey.synth import synthesize
from schemas.wire import Record, encode_record
from syncserver.analysis.export import REDACTED, ExportRefused, ExportReport, export_form
from syncserver.audit.entries import AuditEntry, decode_entry
from syncserver.cli import _common as cli
from syncserver.cli._export import SENSITIVE_WARNING, register
from syncserver.errors import BadRequest, NotFound
from syncserver.forms import publish_form
from syncserver.ingest import ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project
from syncserver.records.sensitive import seal, sensitive_plan, split

FORM = shipped_form("escapee-interview")
NAME = "표본가명"  # a distinctive synthetic name: it must appear in no redacted export byte
PAYLOAD = '=HYPERLINK("http://example.invalid/","open")'
META = [
    "record_id",
    "respondent_id",
    "version",
    "form_version",
    "review",
    "received_at",
    "stopped_early",
]


# -- building a project ----------------------------------------------------------------------


@dataclass
class Env:
    project: Project
    key: Ed25519PrivateKey
    dev: uuid.UUID
    area: UploadArea
    seq: int = 0
    prev: bytes = bytes(32)

    def ingest(self, records: list[Record]) -> None:
        self.seq += 1
        data = seal_for(self.project, self.key, self.dev, records, seq=self.seq, prev=self.prev)
        self.prev = hashlib.sha256(data).digest()
        bid = read_header(io.BytesIO(data)).bundle_id
        self.area.append(bid, 0, data, len(data))
        persist_upload(self.project, self.area, bid, self.dev, len(data), self.prev, now=NOW)
        preparer = Preparer.for_project(self.project)
        report = ingest_bundle(self.project, self.area, preparer, bid, now=NOW)
        assert (report.state, report.quarantined) == ("accepted", 0), report.reasons


def make_env(project: Project, *forms: Form) -> Env:
    for f in forms:
        publish_form(project, f, now=NOW, actor="cli:tester")
    key, dev = enroll_offline(project, now=NOW)
    return Env(project, key, dev, UploadArea(project.config.root))


def answers(seed: int, **fixed: Any) -> dict[str, Any]:
    a = synthesize(FORM, random.Random(seed), fixed={"consent": "yes", **fixed})
    a["respondent_name"] = NAME
    return a


@dataclass
class Data:
    env: Env
    current: dict[uuid.UUID, dict[str, Any]]  # record id → full answers of the current version
    edited: uuid.UUID  # has v1 (superseded) and v2 (current)
    conflicted: uuid.UUID  # two v2s in conflict: held back
    formula: uuid.UUID  # closing_notes and a detention note start with spreadsheet operators


@pytest.fixture
def data(project: Project) -> Data:
    env = make_env(project, FORM)
    recs = [make_record(FORM, answers(i, was_detained=i % 3 == 0)) for i in range(30)]
    recs[0].answers["interviewer_code"] = "SU001"
    hostile = recs[3].answers
    hostile["closing_notes"] = PAYLOAD
    hostile["detention"][0]["detention_notes"] = "@SUM(1,2)"
    hostile["detention"][-1]["detention_notes"] = "-2+3"
    env.ingest(recs)
    v2 = answers(100, was_detained=True)
    v2["interviewer_code"] = "SU002"
    env.ingest([make_record(FORM, v2, record_id=recs[0].record_id, version=2)])
    y = make_record(FORM, answers(200))
    env.ingest([y])
    for seed in (201, 202):
        env.ingest([make_record(FORM, answers(seed), record_id=y.record_id, version=2)])
    current = {r.record_id: r.answers for r in recs}
    current[recs[0].record_id] = v2
    return Data(env, current, recs[0].record_id, y.record_id, recs[3].record_id)


def export(data: Data, out: Path, **kw: Any) -> ExportReport:
    kw.setdefault("fmt", "csv")
    return export_form(data.env.project, FORM.id, out_dir=out, actor="admin", now=NOW, **kw)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def table(path: Path) -> list[dict[str, str]]:
    header, *rows = read_csv(path)
    return [dict(zip(header, r, strict=True)) for r in rows]


def form_columns(form: Form) -> list[str]:
    """Questions and repeats outside any repeat, in document order."""
    return [
        it.name
        for it, parents in form.walk()
        if (it.type in ANSWER_TYPES or it.type == "repeat")
        and not any(p.type == "repeat" for p in parents)
    ]


def audit_entries(project: Project) -> list[AuditEntry]:
    rows = project.store.read_sync(
        lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
    )
    return [decode_entry(r[0]) for r in rows]


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_main_table_has_form_order_and_one_row_per_current_record(
    data: Data, tmp_path: Path
) -> None:
    report = export(data, tmp_path / "out")
    main = tmp_path / "out" / f"{FORM.id}.csv"
    header = read_csv(main)[0]
    assert header == META + form_columns(FORM)
    assert len(header) == len(META) + 82
    rows = table(main)
    assert report.rows == len(rows) == 30
    assert {uuid.UUID(r["record_id"]) for r in rows} == set(data.current)
    assert data.conflicted not in {uuid.UUID(r["record_id"]) for r in rows}
    assert report.held_back == 1
    edited = [r for r in rows if uuid.UUID(r["record_id"]) == data.edited]
    assert [(r["version"], r["interviewer_code"]) for r in edited] == [("2", "SU002")]
    assert all(r["review"] == "received" and r["form_version"] == "1" for r in rows)
    assert all(r["received_at"] == "2026-11-23T12:00:00.000Z" for r in rows)
    for r in rows:
        a = data.current[uuid.UUID(r["record_id"])]
        assert r["interview_date"] == a["interview_date"]
        assert r["was_detained"] == ("true" if a["was_detained"] else "false")
        assert r["household_size"] == str(a.get("household_size", ""))
    assert report.files == [
        tmp_path / "out" / n
        for n in (f"{FORM.id}.codebook.csv", f"{FORM.id}.csv", f"{FORM.id}.detention.csv")
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in report.files
    )


def test_superseded_versions_are_not_exported(data: Data, tmp_path: Path) -> None:
    export(data, tmp_path / "csv")
    export(data, tmp_path / "jsonl", fmt="jsonl")
    for f in [*(tmp_path / "csv").iterdir(), *(tmp_path / "jsonl").iterdir()]:
        assert b"SU001" not in f.read_bytes(), f.name  # only in the superseded v1


def test_repeat_table_links_back_by_record_id(data: Data, tmp_path: Path) -> None:
    report = export(data, tmp_path)
    main = {r["record_id"]: r for r in table(tmp_path / f"{FORM.id}.csv")}
    path = tmp_path / f"{FORM.id}.detention.csv"
    header = read_csv(path)[0]
    repeat = FORM.item("detention")
    assert header == ["record_id", "entry", *(it.name for it in repeat.items)]
    rows = table(path)
    assert report.repeat_rows == {f"{FORM.id}.detention": len(rows)}
    by_record: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        assert r["record_id"] in main
        by_record.setdefault(r["record_id"], []).append(r)
    detained = {str(k): a for k, a in data.current.items() if a["was_detained"]}
    assert set(by_record) == set(detained)
    for rid, entries in by_record.items():
        original = detained[rid]["detention"]
        assert [e["entry"] for e in entries] == [str(i) for i in range(1, len(original) + 1)]
        assert main[rid]["detention"] == str(len(original))
        for e, o in zip(entries, original, strict=True):
            assert e["facility_type"] == o["facility_type"]
            assert e["treatment"] == " ".join(o.get("treatment", []))
    assert all(r["detention"] == "" for r in main.values() if r["was_detained"] == "false")


def test_select_multiple_is_space_separated_codes(data: Data, tmp_path: Path) -> None:
    export(data, tmp_path)
    seen = 0
    for r in table(tmp_path / f"{FORM.id}.csv"):
        a = data.current[uuid.UUID(r["record_id"])]
        for name in ("food_sources", "covid_effects", "bribe_recipients"):
            want = a.get(name)
            assert r[name] == (" ".join(want) if want else "")
            seen += bool(want and len(want) > 1)
    assert seen  # some answers did hold several choices


def test_sensitive_columns_are_redacted_and_the_name_is_in_no_byte(
    data: Data, tmp_path: Path
) -> None:
    report = export(data, tmp_path / "csv")
    export(data, tmp_path / "jsonl", fmt="jsonl")
    files = [*(tmp_path / "csv").iterdir(), *(tmp_path / "jsonl").iterdir()]
    for f in files:
        raw = f.read_bytes()
        assert NAME.encode() not in raw and PAYLOAD.encode() not in raw, f.name
    plan = sensitive_plan(FORM)
    assert set(report.redacted_columns) == {f"{FORM.id}.{n}" for n in plan.names} | {
        f"{FORM.id}.detention.{n}" for n in plan.repeats["detention"].names
    }
    for r in table(tmp_path / "csv" / f"{FORM.id}.csv"):
        assert all(r[n] == REDACTED for n in plan.names)  # also where nothing was answered
        assert r["departure_route"] != REDACTED
    for r in table(tmp_path / "csv" / f"{FORM.id}.detention.csv"):
        assert all(r[n] == REDACTED for n in plan.repeats["detention"].names)


def test_include_sensitive_decrypts_for_a_role_that_may(data: Data, tmp_path: Path) -> None:
    report = export(data, tmp_path, include_sensitive=True, role="admin")
    assert report.redacted_columns == []
    rows = table(tmp_path / f"{FORM.id}.csv")
    assert all(r["respondent_name"] == NAME for r in rows)
    for r in rows:
        a = data.current[uuid.UUID(r["record_id"])]
        assert (r["birth_year"], r["sex"]) == (str(a["birth_year"]), a["sex"])
    notes = [r["detention_notes"] for r in table(tmp_path / f"{FORM.id}.detention.csv")]
    assert REDACTED not in notes and any(notes)
    export_entry = audit_entries(data.env.project)[-1]
    assert export_entry.detail["sensitive"] is True and export_entry.detail["role"] == "admin"


@pytest.mark.parametrize("role", ["manager", "auditor"])
def test_other_roles_may_not_include_sensitive_answers(
    data: Data, tmp_path: Path, role: str
) -> None:
    before = len(audit_entries(data.env.project))
    with pytest.raises(ExportRefused) as e:
        export(data, tmp_path / "out", include_sensitive=True, role=role)
    assert e.value.status == 403 and "may not export sensitive answers" in str(e.value)
    assert not (tmp_path / "out").exists()
    assert len(audit_entries(data.env.project)) == before


def test_formula_injection_is_neutralised_in_csv_not_in_jsonl(data: Data, tmp_path: Path) -> None:
    export(data, tmp_path / "csv", include_sensitive=True, role="admin")
    main = {r["record_id"]: r for r in table(tmp_path / "csv" / f"{FORM.id}.csv")}
    assert main[str(data.formula)]["closing_notes"] == "'" + PAYLOAD
    notes = [
        r["detention_notes"]
        for r in table(tmp_path / "csv" / f"{FORM.id}.detention.csv")
        if r["record_id"] == str(data.formula)
    ]
    assert notes[0] == "'@SUM(1,2)" and notes[-1] == "'-2+3"
    for r in main.values():
        for v in r.values():
            assert not v or v[0] not in "=+-@", v
    export(data, tmp_path / "jsonl", fmt="jsonl", include_sensitive=True, role="admin")
    lines = (tmp_path / "jsonl" / f"{FORM.id}.jsonl").read_text(encoding="utf-8").splitlines()
    obj = next(o for o in map(json.loads, lines) if o["record_id"] == str(data.formula))
    assert obj["answers"]["closing_notes"] == PAYLOAD  # JSON keeps testimony exact


def test_csv_is_utf8_with_bom_and_files_are_private(data: Data, tmp_path: Path) -> None:
    report = export(data, tmp_path / "out")
    for f in report.files:
        assert f.read_bytes().startswith(
            b"\xef\xbb\xbf" + b"table," if "codebook" in f.name else b"\xef\xbb\xbfrecord_id,"
        )
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert b"\r\n" in report.files[1].read_bytes()


def test_export_is_an_audit_entry(data: Data, tmp_path: Path) -> None:
    report = export(data, tmp_path, fmt="jsonl")
    entry = audit_entries(data.env.project)[-1]
    assert (entry.kind, entry.actor, entry.subject) == ("export", "admin", FORM.id)
    assert entry.at_ms == int(NOW.timestamp() * 1000)
    assert entry.detail == {
        "form": FORM.id,
        "version": 1,
        "all_versions": True,
        "rows": 30,
        "repeat_rows": sum(report.repeat_rows.values()),
        "format": "jsonl",
        "sensitive": False,
        "role": "manager",
    }


def test_a_failed_export_leaves_no_file_and_no_entry(
    data: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syncserver.analysis.export as mod

    def broken(*_: Any, **__: Any) -> None:
        raise OSError(28, "No space left on device")

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    before = len(audit_entries(data.env.project))
    monkeypatch.setattr(mod.os, "fsync", broken)
    with pytest.raises(mod.ExportError) as e:
        export(data, tmp_path / "out", include_sensitive=True, role="admin")
    assert "No space left on device" in str(e.value) and "hint:" in str(e.value)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
    assert len(audit_entries(data.env.project)) == before


def test_bad_requests_say_what_to_do(data: Data, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="'no-such-form' is not published"):
        export_form(
            data.env.project, "no-such-form", fmt="csv", out_dir=tmp_path, actor="a", now=NOW
        )
    with pytest.raises(NotFound, match="v7 is not published"):
        export(data, tmp_path, version=7)
    with pytest.raises(BadRequest, match="no language 'fr'") as e:
        export(data, tmp_path, lang="fr")
    assert "ko, en" in str(e.value)
    with pytest.raises(BadRequest, match="unknown export format"):
        export(data, tmp_path, fmt="xlsx")


# -- codebook ------------------------------------------------------------------------------------


def test_codebook_has_korean_labels_and_choices(data: Data, tmp_path: Path) -> None:
    export(data, tmp_path / "ko", lang="ko")
    rows = table(tmp_path / "ko" / f"{FORM.id}.codebook.csv")
    assert list(rows[0]) == [
        "table",
        "column",
        "type",
        "sensitive",
        "redacted",
        "value",
        "label_ko",
    ]
    name = next(r for r in rows if r["column"] == "respondent_name")
    assert (name["label_ko"], name["type"], name["sensitive"], name["redacted"]) == (
        "성함",
        "text",
        "true",
        "true",
    )
    kwanliso = next(r for r in rows if r["column"] == "facility_type" and r["value"] == "kwanliso")
    assert (kwanliso["table"], kwanliso["type"]) == (f"{FORM.id}.detention", "choice")
    assert kwanliso["label_ko"] == "관리소 (정치범수용소)"
    # every column of every table is described, in file order
    main_cols = [r["column"] for r in rows if r["table"] == FORM.id and r["type"] != "choice"]
    assert main_cols == META + form_columns(FORM)

    export(data, tmp_path / "all")
    header = read_csv(tmp_path / "all" / f"{FORM.id}.codebook.csv")[0]
    assert header[-2:] == ["label_ko", "label_en"]


# -- JSON Lines ------------------------------------------------------------------------------------


def test_jsonl_nests_repeats_and_redacts(data: Data, tmp_path: Path) -> None:
    report = export(data, tmp_path, fmt="jsonl")
    assert [p.name for p in report.files] == [f"{FORM.id}.codebook.csv", f"{FORM.id}.jsonl"]
    raw = (tmp_path / f"{FORM.id}.jsonl").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\n")
    objs = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert len(objs) == report.rows == 30
    plan = sensitive_plan(FORM)
    top, inner = plan.names, {k: p.names for k, p in plan.repeats.items()}
    order = form_columns(FORM)
    for o in objs:
        assert list(o) == [*META, "answers"]
        a = data.current[uuid.UUID(o["record_id"])]
        got = o["answers"]
        assert list(got) == [n for n in order if n in got]  # form order
        assert all(got[n] == REDACTED for n in top)
        assert got.get("food_sources") == a.get("food_sources")  # lists stay lists
        if a["was_detained"]:
            assert len(got["detention"]) == len(a["detention"])
            for e, orig in zip(got["detention"], a["detention"], strict=True):
                assert all(e[n] == REDACTED for n in inner["detention"])
                assert e["facility_type"] == orig["facility_type"]
        assert o["stopped_early"] is False and isinstance(o["version"], int)


# -- versions, nesting, name clashes -----------------------------------------------------------

MINI = """
id = "mini-survey"
version = {version}
languages = ["ko", "en"]
default_language = "ko"
title = {{ ko = "작은 설문", en = "Mini survey" }}

[[items]]
name = "remark"
type = "text"
label = {{ ko = "비고", en = "Remark" }}

[[items]]
name = "{count}"
type = "integer"
label = {{ ko = "숫자", en = "Number" }}

[[items]]
name = "record_id"
type = "text"
label = {{ ko = "자체 번호", en = "Own number" }}

[[items]]
name = "trips"
type = "repeat"
label = {{ ko = "이동", en = "Trips" }}

[[items.items]]
name = "modes"
type = "select_multiple"
choices = "mode"
label = {{ ko = "수단", en = "Means" }}

[[items.items]]
name = "stops"
type = "repeat"
label = {{ ko = "경유지", en = "Stops" }}

[[items.items.items]]
name = "place"
type = "text"
sensitive = true
label = {{ ko = "장소", en = "Place" }}

[choices]
mode = [
  {{ value = "train", label = {{ ko = "기차", en = "Train" }} }},
  {{ value = "foot", label = {{ ko = "도보", en = "On foot" }} }},
]
"""


def mini(version: int, count: str) -> Form:
    return load_form(MINI.format(version=version, count=count).encode(), fmt="toml")


def test_versions_nested_repeats_and_name_clashes(project: Project, tmp_path: Path) -> None:
    v1, v2 = mini(1, "old_count"), mini(2, "new_count")
    env = make_env(project, v1, v2)
    trips = [{"modes": ["train", "foot"], "stops": [{"place": "합성역"}, {"place": "=A1"}]}]
    r1 = make_record(v1, {"remark": "+1", "old_count": 3, "record_id": "N-1", "trips": trips})
    r2 = make_record(v2, {"remark": "두 번째", "new_count": 5, "trips": []})
    env.ingest([r1, r2])
    report = export_form(project, "mini-survey", fmt="csv", out_dir=tmp_path, actor="t", now=NOW)
    assert (report.form_version, report.versions, report.rows) == (2, (1, 2), 2)
    main = read_csv(tmp_path / "mini-survey.csv")
    # the question `record_id` keeps its name; the record column steps aside
    assert main[0] == [
        "_record_id",
        *META[1:],
        "remark",
        "new_count",
        "record_id",
        "trips",
        "old_count",  # only in v1: after the newest version's columns
    ]
    rows = table(tmp_path / "mini-survey.csv")
    assert [(r["remark"], r["old_count"], r["new_count"], r["trips"]) for r in rows] == [
        ("'+1", "3", "", "1"),
        ("두 번째", "", "5", "0"),
    ]
    assert [r["form_version"] for r in rows] == ["1", "2"]
    assert table(tmp_path / "mini-survey.trips.csv") == [
        {"record_id": str(r1.record_id), "entry": "1", "modes": "train foot", "stops": "2"}
    ]
    stops = table(tmp_path / "mini-survey.trips.stops.csv")
    assert [list(s.values()) for s in stops] == [
        [str(r1.record_id), "1", "1", REDACTED],
        [str(r1.record_id), "1", "2", REDACTED],
    ]
    assert list(stops[0]) == ["record_id", "trips_entry", "entry", "place"]
    assert report.redacted_columns == ["mini-survey.trips.stops.place"]
    assert "합성역".encode() not in b"".join(p.read_bytes() for p in report.files)

    only_v1 = export_form(
        project, "mini-survey", fmt="jsonl", out_dir=tmp_path / "v1", version=1, actor="t",
        now=NOW, include_sensitive=True, role="admin",
    )  # fmt: skip
    objs = [
        json.loads(x) for x in (tmp_path / "v1" / "mini-survey.jsonl").read_text().split("\n")[:-1]
    ]
    assert only_v1.rows == 1 and objs[0]["answers"]["trips"][0]["stops"][1] == {"place": "=A1"}
    assert objs[0]["record_id"] == str(r1.record_id)


# -- the command line ------------------------------------------------------------------------------


def test_cli_export_warns_about_sensitive_data(
    data: Data, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="syncserver")
    sub = parser.add_subparsers(dest="command")
    register(sub, cli.project_options, cli.open_unlocked)
    assert SECRET.passphrase is not None
    secret = tmp_path / "pass"
    secret.write_text(SECRET.passphrase + "\n", encoding="utf-8")
    base = ["--dir", str(data.env.project.config.root), "--passphrase-file", str(secret)]

    args = parser.parse_args(["export", "--form", FORM.id, "--out", str(tmp_path / "a"), *base])
    assert args.func(args) == 0
    out, err = capsys.readouterr()
    assert "exported 30 records of form 'escapee-interview'" in out
    assert "sensitive columns redacted" in out and "1 records held back" in err
    assert SENSITIVE_WARNING not in err

    argv = ["export", "--form", FORM.id, "--format", "jsonl", "--lang", "en"]
    argv += ["--out", str(tmp_path / "b"), "--include-sensitive", *base]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    out, err = capsys.readouterr()
    assert SENSITIVE_WARNING in err and "identifying data" in err
    assert NAME.encode() in (tmp_path / "b" / f"{FORM.id}.jsonl").read_bytes()
    entry = audit_entries(data.env.project)[-1]
    assert (entry.kind, entry.detail["sensitive"], entry.detail["format"]) == (
        "export",
        True,
        "jsonl",
    )


# -- memory ---------------------------------------------------------------------------------------


def fill(project: Project, n: int, pool: list[dict[str, Any]]) -> None:
    """Insert ``n`` current records straight into the store, encoded as ingest does."""
    names = sensitive_plan(FORM)
    key = project.identity.store_key
    bundle = new_id()
    ms = int(NOW.timestamp() * 1000)
    rows = []
    for i in range(n):
        rec = make_record(FORM, pool[i % len(pool)])
        sha = hashlib.sha256(encode_record(rec)).digest()
        plain, secret = split(rec.answers, names)
        stored = encode_record(msgspec.structs.replace(rec, answers=plain))
        sealed = seal(key, rec.record_id, 1, sha, secret)
        rows.append((rec.record_id.bytes, FORM.id, sha, bundle.bytes, stored, sealed, ms))

    def tx(c: Any) -> None:
        c.execute(
            "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state)"
            " VALUES (?, ?, 0, ?, ?, 'accepted')",
            (bundle.bytes, bytes(32), bytes(16), ms),
        )
        c.executemany(
            "INSERT INTO records (record_id, version, form_id, form_version, sha256, bundle_id,"
            " device_id, answers, sealed, received_ms) VALUES (?, 1, ?, 1, ?, ?, ?, ?, ?, ?)",
            [(r[0], r[1], r[2], r[3], bytes(16), r[4], r[5], r[6]) for r in rows],
        )

    project.store.write_sync(tx)


def traced_peak(project: Project, out: Path) -> tuple[int, ExportReport]:
    gc.collect()
    tracemalloc.start()
    try:
        report = export_form(project, FORM.id, fmt="csv", out_dir=out, actor="t", now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, report


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_records(project: Project, tmp_path: Path) -> None:
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    pool = [answers(i, was_detained=i % 2 == 0) for i in range(40)]
    fill(project, 2_000, pool)
    small, r_small = traced_peak(project, tmp_path / "small")
    fill(project, 18_000, pool)
    large, r_large = traced_peak(project, tmp_path / "large")
    assert (r_small.rows, r_large.rows) == (2_000, 20_000)
    print(f"tracemalloc peak: {small} B for 2,000 records, {large} B for 20,000")
    assert large / small < 2, (small, large)
    assert large < 16 * 2**20, large  # a few batches and file buffers, whatever the count


def test_csv_headers_can_be_korean_or_english_labels(data: Data, tmp_path: Path) -> None:
    for lang in ("ko", "en"):
        out = tmp_path / lang
        export(data, out, lang=lang, headers="labels")
        header = read_csv(out / f"{FORM.id}.csv")[0]
        sex = FORM.item("sex").label[lang]
        assert sex in header
        assert header.index(sex) < header.index(FORM.item("birth_year").label[lang])  # form order
