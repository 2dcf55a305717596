"""Benchmark: export a form's records to CSV (and JSON Lines) from the central store.

Usage:  .venv/bin/python bench/bench_export.py [--records 100000] [--pool 200] [--jsonl]
            [--sensitive] [--form padded|shipped] [--questions 100] [--keep DIR]

Builds a project in a temporary directory with a form published, and inserts
``--records`` current records straight into the store, encoded exactly as ingest stores
them (plain answers as msgpack, sensitive answers sealed with the store key). The answers
are drawn from a pool of ``--pool`` synthetic responses (half of them with detentions),
each record with its own id. Then each export runs in a fresh child process, into a
directory of its own (an export never overwrites an earlier one), which reports the wall
time of :func:`syncserver.analysis.export.export_form` and its peak RSS, read from ``VmHWM`` in
/proc/self/status (``ru_maxrss`` would report the parent's high-water mark, which
survives ``exec``). The store file is in the page cache (just written): the
figures are for a warm cache.

The form: DESIGN.md's target is for a 100-question survey, and the shipped
``escapee-interview`` form has 92 questions (11 of them in the repeat group
``detention``). By default (``--form padded``) the bench exports
``escapee-interview-100q``: the shipped form with a group of padding questions appended
inside the interview (text, integer, select_one, boolean, select_multiple, decimal, year,
date in turn) up to ``--questions`` answerable questions. ``--form shipped`` exports the
shipped form as it is.

Prints JSON and saves it to bench/results/export.json (bench/_results.py). Compare with
DESIGN.md: export 100,000 records of a 100-question survey to CSV in <= 10 s, peak RSS
< 300 MB.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
from _results import save

from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import ANSWER_TYPES, Form, parse_form
from schemas.survey.synth import synthesize
from schemas.wire import Record, encode_record
from syncserver.analysis.export import export_form
from syncserver.forms import publish_form
from syncserver.project import init_project, open_project
from syncserver.project.keys import KdfParams, Secret
from syncserver.records.sensitive import seal, sensitive_plan, split

SECRET = Secret(passphrase="synthetic benchmark passphrase")
KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)  # cheap: the bench is not about unlocking
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
CHUNK = 10_000


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


PAD_TYPES = (
    "text",
    "integer",
    "select_one",
    "boolean",
    "select_multiple",
    "decimal",
    "year",
    "date",
)


def questions(form: Form) -> int:
    return sum(1 for it, _ in form.walk() if it.type in ANSWER_TYPES)


def padded_form(total: int) -> Form:
    """The shipped form plus padding questions of mixed types, ``total`` questions in all.

    The padding sits in a group at the end of the interview (so it needs consent like
    every other question); none of it is sensitive. Synthetic: no question asks anything.
    """
    text = resources.files("schemas.forms").joinpath("escapee-interview.toml").read_text()
    raw = tomllib.loads(text)
    shipped = questions(shipped_form("escapee-interview"))
    if total < shipped:
        raise SystemExit(f"--questions {total}: the shipped form alone has {shipped}")

    def t(en: str, ko: str) -> dict[str, str]:
        return {"ko": ko, "en": en}

    pad = []
    for k in range(total - shipped):
        kind = PAD_TYPES[k % len(PAD_TYPES)]
        item: dict[str, Any] = {
            "name": f"pad_{k + 1:03d}_{kind}",
            "type": kind,
            "label": t(f"Padding question {k + 1} ({kind})", f"추가 질문 {k + 1} ({kind})"),
        }
        if kind.startswith("select"):
            item["choices"] = "pad_level"
        elif kind in ("integer", "decimal"):
            item["constraints"] = [{"min": 0, "max": 100, "message": t("0 to 100", "0에서 100")}]
        elif kind == "year":
            item["constraints"] = [
                {"min": 1950, "max": 2026, "message": t("1950 to 2026", "1950년에서 2026년")}
            ]
        elif kind == "date":
            item["constraints"] = [
                {"min": "2010-01-01", "message": t("2010 or later", "2010년 이후")}
            ]
        pad.append(item)
    interview = next(i for i in raw["items"] if i["name"] == "interview")
    interview["items"].append(
        {"name": "padding", "type": "group", "label": t("Padding", "추가"), "items": pad}
    )
    raw["choices"]["pad_level"] = [
        {"value": v, "label": t(v, v)} for v in ("low", "medium", "high", "unknown")
    ]
    raw["id"] = f"escapee-interview-{total}q"
    form = parse_form(raw)
    assert questions(form) == total
    return form


def the_form(kind: str, total: int) -> Form:
    return shipped_form("escapee-interview") if kind == "shipped" else padded_form(total)


def build(root: Path, records: int, pool_size: int, form: Form) -> dict[str, Any]:
    project = init_project(root, SECRET, kdf=KDF, actor="cli:bench")
    try:
        publish_form(project, form, now=NOW, actor="cli:bench")
        rng = random.Random(7)
        pool = [
            synthesize(form, rng, fixed={"consent": "yes", "was_detained": i % 2 == 0})
            for i in range(pool_size)
        ]
        plan = sensitive_plan(form)
        key = project.identity.store_key
        bundle = new_id()
        ms = int(NOW.timestamp() * 1000)
        t = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
        project.store.write_sync(
            lambda c: c.execute(
                "INSERT INTO bundles (bundle_id, sha256, size, device_id, received_ms, state)"
                " VALUES (?, ?, 0, ?, ?, 'accepted')",
                (bundle.bytes, bytes(32), bytes(16), ms),
            )
        )
        answered = 0
        t0 = time.perf_counter()
        for start in range(0, records, CHUNK):
            rows = []
            for i in range(start, min(records, start + CHUNK)):
                answers = pool[i % pool_size]
                answered += len(answers)
                rec = Record(
                    record_id=new_id(),
                    version=1,
                    form_id=form.id,
                    form_version=form.version,
                    created_at=t,
                    modified_at=t,
                    lang="ko",
                    answers=answers,
                )
                sha = hashlib.sha256(encode_record(rec)).digest()
                plain, secret = split(answers, plan)
                stored = encode_record(msgspec.structs.replace(rec, answers=plain))
                rows.append(
                    (
                        rec.record_id.bytes,
                        form.id,
                        sha,
                        bundle.bytes,
                        bytes(16),
                        stored,
                        seal(key, rec.record_id, 1, sha, secret),
                        ms,
                    )
                )
            project.store.write_sync(
                lambda c, rows=rows: c.executemany(
                    "INSERT INTO records (record_id, version, form_id, form_version, sha256,"
                    " bundle_id, device_id, answers, sealed, received_ms)"
                    " VALUES (?, 1, ?, 1, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            )
        fill_s = time.perf_counter() - t0
    finally:
        project.close()
    db = root / "store.db"
    wal = root / "store.db-wal"
    return {
        "records": records,
        "form": f"{form.id} v{form.version}",
        "questions": questions(form),
        "mean_answers_per_record": round(answered / records, 1),
        "store_mb": round(
            (db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 2**20, 1
        ),
        "fill_seconds": round(fill_s, 2),
    }


def child(root: Path, form_id: str, fmt: str, sensitive: bool) -> None:
    """Run one export in this (fresh) process and print its figures as JSON."""
    project = open_project(root, SECRET)
    try:
        # A directory of its own for every export: an export refuses one that already
        # holds the files it would write (it never overwrites an earlier export), and
        # replacing them would be timed too.
        what = f"export-{fmt}-{'sensitive' if sensitive else 'redacted'}-"
        out = Path(tempfile.mkdtemp(prefix=what, dir=root))
        rss_before = status_mb("VmRSS")
        t0 = time.perf_counter()
        report = export_form(
            project,
            form_id,
            fmt=fmt,  # type: ignore[arg-type]
            out_dir=out,
            actor="bench",
            now=NOW,
            include_sensitive=sensitive,
            role="admin",
        )
        seconds = time.perf_counter() - t0
    finally:
        project.close()
    print(
        json.dumps(
            {
                "format": fmt,
                "sensitive": sensitive,
                "rows": report.rows,
                "repeat_rows": sum(report.repeat_rows.values()),
                "seconds": round(seconds, 2),
                "records_per_s": round(report.rows / seconds),
                "rss_before_export_mb": rss_before,
                "peak_rss_mb": status_mb("VmHWM"),
                "output_mb": round(sum(f.stat().st_size for f in report.files) / 2**20, 1),
            }
        )
    )


def run_child(root: Path, form_id: str, fmt: str, sensitive: bool) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", str(root), "--format", fmt, "--form-id", form_id]
    if sensitive:
        argv.append("--sensitive")
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--pool", type=int, default=200, help="distinct synthetic responses")
    p.add_argument("--jsonl", action="store_true", help="also export JSON Lines")
    p.add_argument("--sensitive", action="store_true", help="also export with sensitive answers")
    p.add_argument(
        "--form",
        choices=("padded", "shipped"),
        default="padded",
        help="padded: the shipped form plus padding up to --questions (default); shipped: as is",
    )
    p.add_argument("--questions", type=int, default=100, help="questions of the padded form")
    p.add_argument("--keep", metavar="DIR", help="build the project in DIR and keep it")
    p.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--format", default="csv", help=argparse.SUPPRESS)
    p.add_argument("--form-id", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(Path(args.child), args.form_id, args.format, args.sensitive)
        return

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp) / "proj"
        form = the_form(args.form, args.questions)
        setup = build(root, args.records, args.pool, form)
        cases = [("csv", False)]
        if args.sensitive:
            cases.append(("csv", True))
        if args.jsonl:
            cases.append(("jsonl", False))
        results = [run_child(root, form.id, fmt, sens) for fmt, sens in cases]
    figures = {
        **setup,
        "exports": results,
        "target": {"seconds": 10, "peak_rss_mb": 300, "records": 100_000, "questions": 100},
    }
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                **figures,
            },
            indent=2,
        )
    )
    save("export", figures)


if __name__ == "__main__":
    main()
