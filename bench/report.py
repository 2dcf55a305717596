"""Render the benchmarks' saved figures (bench/results/*.json) into docs/performance.md.

Usage:  .venv/bin/python bench/report.py [--results bench/results] [--out docs/performance.md]

Every figure in the results appears on the page: the ones DESIGN.md sets a target for in
a table with the target, the ratio and whether it is met; the rest in tables of their own
or, for keys this script does not know, in a table of other figures, so that a new key in
a benchmark's output is never silently dropped. A benchmark without results gets the line
"not run yet: <command>".

What a script cannot measure is kept here, by hand: for every target, the cause of a miss
and the next step (:data:`GAP_NOTES`, shown only when the target is missed), and the notes
on method and history that the page carried before it was generated (:data:`STATIC_NOTES`).
Keep both true when the code changes; tests/test_bench_report.py renders synthetic results.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "docs" / "performance.md"

# -- the hand-written part ---------------------------------------------------------------

#: Why a missed target is missed and what to do next, per (benchmark, figure). Written
#: from what each benchmark measures; shown only under a target that the results miss.
GAP_NOTES: dict[tuple[str, str], dict[str, str]] = {
    ("bundle", "seal"): {
        "cause": "sealing encodes every record, decodes it again (so that nothing is sealed "
        "that the opener would refuse: about 40% of the cost when last measured), signs the "
        "manifest and encrypts, all on one core. The machine is shared and the timed part "
        "lasts about a second: if open and validate fell by the same factor in the "
        "same run, the machine was busy.",
        "next": "re-run first; if the miss stays, profile one run with py-spy "
        "(`py-spy record -- .venv/bin/python bench/bench_bundle.py`) and compare the split "
        "with the 2026-11-23 figures (97k records/s without the re-decode, 56k with it).",
    },
    ("bundle", "attachment_seal_rss"): {
        "cause": "sealing streams the attachment through the chunked AEAD, so memory should "
        "not grow with its size; a peak near or above the limit means something holds the "
        "attachment (or the ciphertext) whole.",
        "next": "run the child phase under tracemalloc with a 20 MB and a 200 MB attachment "
        "and find the allocation that grows with the size.",
    },
    ("bundle", "attachment_open_rss"): {
        "cause": "opening streams the chunks into the sink, so memory should not grow with "
        "the attachment's size; a peak near or above the limit means a buffer holds it whole.",
        "next": "as for sealing: tracemalloc the open phase at two attachment sizes.",
    },
    ("tlog", "verify_store"): {
        "cause": "`syncserver audit verify` reads every entry from SQLite (1,024 rows at a "
        "time), hashes it, checks its stored leaf hash and recomputes the tree in Python; "
        "the in-memory verifier's row in the same table shows how much of the time is "
        "hashing and how much is reading the store.",
        "next": "profile the command (py-spy) on a store of the same size, then move the "
        "row decoding or the tree update out of per-row Python.",
    },
    ("tlog", "verify_memory"): {
        "cause": "the verifier recomputes SHA-256 of every entry and every inner node in "
        "one streaming pass in Python (schemas.tlog.TreeHasher).",
        "next": 'compare with the row "SHA-256 of every entry alone": if the tree update '
        "dominates, batch it; if the hashing does, it is at the library's limit.",
    },
    ("tlog", "inclusion_log_n"): {
        "cause": "an inclusion proof longer than ⌈log₂ n⌉ hashes breaks RFC 9162 §2.1.3: "
        "the writer builds proofs wrongly.",
        "next": "a bug, not a tuning matter: add a test at that tree size and fix "
        "syncserver.audit.tlog.",
    },
    ("export", "csv_seconds"): {
        "cause": "the export reads every current record from the store, decodes it "
        "(msgpack), adds its respondent cluster, flattens its answers into the form's "
        "columns (repeat groups into tables of their own) and writes the rows, all in one "
        "Python process; the time grows with records × questions.",
        "next": "profile a 100,000-record export with py-spy and compare reading, decoding, "
        "flattening and writing; the JSON Lines row shows the cost without the CSV "
        "flattening.",
    },
    ("export", "csv_rss"): {
        "cause": "the export streams rows from the store to the files, so peak RSS should "
        "not grow with the number of records; a peak near the limit means rows are "
        "collected in memory somewhere.",
        "next": "compare peak RSS at 10,000 and 100,000 records (`--records 10000`) and "
        "tracemalloc the run that grows.",
    },
    ("match", "median"): {
        "cause": "the time per bundle is spent building the probes (the keyed tokens of the "
        "nearby values of every interview's identity answers, one HMAC-SHA256 each), "
        "looking those tokens up in the postings, reading and scoring the candidates, and "
        "the write transaction (links, review items, audit entries); the table below gives "
        "the probes' part and the candidates compared.",
        "next": "profile on the 100,000-interview store (`py-spy record -- .venv/bin/python "
        "bench/bench_match.py`) and cut the largest part; if the probes dominate, fewer "
        "nearby values per interview cut both the HMACs and the lookups.",
    },
    ("match", "p90"): {
        "cause": "as for the median, plus the spread between bundles: the slowest bundles "
        "below show whether they compared more candidates or spent longer on their "
        "probes. Matching runs in the background after ingest, so a slow bundle never "
        "delays an upload's receipt.",
        "next": "profile the slowest bundles, cut what grows there, and re-measure with more "
        "bundles (`--bundles 100`) for a steadier p90.",
    },
    ("match", "max"): {
        "cause": "the worst of the timed bundles is a single sample: the slowest bundles "
        "below show whether it compared more candidates or spent longer on its probes, and "
        "this shared machine adds noise to single samples. Matching runs in the background "
        "after ingest, so a slow bundle never delays an upload's receipt.",
        "next": "measured with 100 bundles (`--bundles 100`, 2026-12-05): median 166 ms, "
        "p90 196 ms, worst 291 ms, the slowest with ordinary numbers of candidates "
        "(4,200-7,100). Timing the parts of 60 bundles: the decisions and their write take "
        "about 7 ms (worst 12), the scoring read 98 ms (worst 195): the tail is in scoring "
        "(reading and decoding about 5,000 candidates' tokens and comparing them in "
        "Python), not in the write. Counting values in bulk instead of one query per token "
        "was tried and was slower. Next: compare fewer candidates (tighter demographic "
        "blocks for common surnames) or decode only the tokens a comparison needs.",
    },
    ("ingest", "records_per_s"): {
        "cause": "CPU. Every figure on this 2-core machine: the server spends about 23 ms "
        "of CPU per 50-record bundle (its main process and its two ingest workers, read "
        "from /proc while the clients upload; the CPU split below) and the 32 client "
        "processes about 2 ms. The run keeps about 1.6 of the 2 cores busy; even at full "
        "use, 25 ms a bundle caps this machine near 4,000 records/s. Of the server's "
        "23 ms, opening, validating and pseudonymising the records take about 10 ms (the "
        "in-process stage split: about 200 µs a record, validation alone about 90 µs); "
        "10,000 records/s on two cores would leave 200 µs of CPU per record for everything, "
        "HTTP, storage and the clients included. Split by process (2026-12-05, /proc "
        "while uploading): the ingest workers 13.3 ms per bundle, the main process "
        "11.4 ms, 3.8 of them in the kernel (fsyncs, sockets). A GIL-only profile of "
        "the main process (`BENCH_PROFILE_GIL=1 .venv/bin/python bench/bench_ingest.py "
        "--profile OUT`) shows "
        "it holding the interpreter lock for under a third of the run: it is not the "
        "bottleneck, and a larger thread pool for completing uploads was measured and "
        "gained nothing. What was found and fixed (before → after on this machine): "
        "matching moved off the upload path (712 → 1,720 records/s), opening and "
        "validating in worker processes on every core (→ 2,241), respondent postings "
        "filed by the matcher instead of in each upload's transaction and one checkpoint "
        "signature per group of receipts (→ about 3,100).",
        "next": "cut CPU per record: compile the validator's relevance and constraint "
        "closures into one function per form and decode records straight into the form's "
        "struct (validation is the largest stage); then measure on a machine with more "
        "cores (ingest workers scale with `[server] ingest_processes`) and with the "
        "clients on another machine, which this benchmark cannot do on one 2-core host.",
    },
    ("ingest", "ratio"): {
        "cause": "the in-process figure runs the same stages back to back in one process "
        "without HTTP; the HTTP run uses both cores through its ingest workers, which "
        "roughly pays for HTTP, the event loop and the 32 clients.",
        "next": "none needed while the ratio holds; it is a check that serving adds no "
        "hidden serialisation.",
    },
    ("ingest", "p99"): {
        "cause": "each of the 32 clients waits for its receipt before it sends the next "
        "bundle, so by Little's law the mean upload latency is clients ÷ bundles/s (the "
        "estimate below): at about 63 bundles/s that is about 500 ms before any tail. "
        "Latency here follows from throughput, which is CPU-bound (see records/s).",
        "next": "raise throughput first: p99 ≤ 300 ms with 32 clients uploading back to "
        "back needs well over 32 ÷ 0.3 s ≈ 107 bundles/s (5,300 records/s). With 8 clients "
        "(`--clients 8`, 2026-12-05) the median upload took 118 ms and the p99 446 ms: the "
        "tail is the group commit and the ingest workers' queue, to be profiled once "
        "throughput is no longer the limit.",
    },
    ("fuzz", "failures"): {
        "cause": "a fuzzing failure is a bug found: an input that a parser or opener mishandled.",
        "next": "re-run the target with its seed (bench/fuzz.py), turn the failing example "
        "into a test vector, fix, and keep the vector.",
    },
}

#: The page's hand-written notes, per benchmark: method, history, and what the figures
#: mean. Dated where they quote a figure from an earlier run.
STATIC_NOTES: dict[str, list[str]] = {
    "intro": [
        "Figures measured by the scripts in `bench/`, each with the command that produced "
        "it. They are not timed tests. The machines here are shared and noisy: compare "
        "figures as ratios measured in the same run, and re-run before drawing conclusions.",
    ],
    "bundle": [
        "Peak RSS is read from `VmHWM` in a fresh child process; `ru_maxrss` would report "
        "the parent's high-water mark, which survives `exec`.",
        "Sealing re-decodes every record it encodes, so that nothing is sealed that the "
        "opener would refuse; that cost about 40% of sealing throughput when measured on "
        "2026-11-23 (97k → 56k records/s) and is worth it.",
        "Each rate is timed over two seconds of work at most, so it follows the machine's "
        "load: on 2026-12-05 two full runs five minutes apart, while other work ran on the "
        "same two cores, measured sealing at 46,545 and 19,168 records/s, opening at 23,245 "
        "and 10,024, validating at 12,414 and 8,074.",
        "The server's ingest target (≥ 10,000 records/s end to end on two cores) has to "
        "spread opening and validating over both cores (it does: ingest runs them in "
        "worker processes, one per core). The validator was made 1.6× faster in issue #2 "
        "(skipping relevance work for unanswered optional questions); decoding records "
        "straight into the form's msgspec struct is the next step if profiles show it "
        "matters.",
    ],
    "tlog": [
        "The in-memory rows are the writer (syncserver.audit.tlog) and the independent verifier "
        "(schemas.tlog) on entries held in memory; the `audit verify` row is the auditor's "
        "real command on a real project's SQLite store, in a fresh process, with the key "
        "pinned, checking every signed checkpoint in the store.",
    ],
    "startup": [
        "The store is built as bench_tlog.py builds its own (entries appended with "
        "syncserver.audit.entries.append in transactions of 10,000, a signed checkpoint every "
        "tenth of the way), with 100 enrolled devices, 100 enrollment tokens and 10 admin tokens "
        "made by the library, and 1,000 entries after the last checkpoint; the check runs "
        "in the benchmark's own process, the store file in the page cache (just written).",
        "The check reads the whole log once, so its time grows with the log; DESIGN.md's "
        "audit log target (verify 1,000,000 entries in ≤ 20 s) is for `audit verify` and "
        "is held in the Audit log section.",
    ],
    "export": [
        "Peak RSS is `VmHWM` of a fresh child process that runs only the export; the store "
        "file is in the page cache (just written), so the figures are for a warm cache.",
        "Memory does not grow with the number of records: on 2026-11-23 the peak RSS was "
        "the same at 10,000 and at 100,000 records (54.2 MB, shipped form), and the test "
        "suite checks tracemalloc peaks for 2,000 vs 20,000 records.",
        "On 2026-11-23, with the shipped form (92 questions), the redacted CSV of 100,000 "
        "records took 3.33 s; `--form shipped` measures that form again.",
    ],
    "match": [
        "On 2026-12-05, with 10,000 stored interviews, the same bundle took 87 ms "
        "(`--store 10000`). Matching runs in the background after ingest, so none of it is "
        "on an upload's path; the accuracy figures are in docs/dedup.md.",
        "Evaluation of a whole 20,000-person population through the real matcher and store "
        "(`.venv/bin/python bench/dedup/evaluate.py --seed 1`, 2026-12-05): 22,116 "
        "interviews in 440 bundles in 43 s.",
    ],
    "ingest": [
        "Part 1 runs `syncserver run` in its own process on 127.0.0.1 with 32 client "
        "processes on the same machine, each an enrolled device with the field kit's real "
        "upload client (announce, append, complete, verify the signed receipt and its "
        "inclusion proof); an upload counts when its receipt is verified, and a receipt is "
        "only sent once the bundle is on disk (SQLite WAL, synchronous=FULL). Part 2 runs "
        "the same pipeline's stages back to back in one process, without HTTP.",
        "The first measurement of this benchmark (2026-12-05, before ingest moved opening and "
        "validating into worker processes) was 712 records/s over HTTP.",
    ],
    "fuzz": [
        "`make fuzz` runs the fuzzing campaigns of bench/fuzz.py and renders this page; "
        "each target's seed is recorded, so a run can be repeated.",
    ],
}

# -- formatting --------------------------------------------------------------------------


def fmt(v: Any) -> str:
    """One figure as shown on the page (tests use this to find figures in the output)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    if v is None:
        return "—"
    return str(v)


def leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every scalar in ``data``; list items by index."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from leaves(v, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, data


class Figures:
    """A result's figures; remembers which paths were shown, so the rest can be listed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.used: set[str] = set()

    def _find(self, path: str) -> tuple[bool, Any]:
        node: Any = self.data
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False, None
        return True, node

    def get(self, *paths: str) -> Any:
        """The value at the first of ``paths`` that exists (marked shown), else None."""
        for path in paths:
            found, value = self._find(path)
            if found:
                self.used.add(path)
                return value
        return None

    def where(self, *paths: str) -> str | None:
        for path in paths:
            if self._find(path)[0]:
                return path
        return None

    def rest(self) -> list[tuple[str, Any]]:
        def shown(p: str) -> bool:
            return any(p == u or p.startswith(u + ".") for u in self.used)

        return [(p, v) for p, v in leaves(self.data) if not shown(p)]


@dataclass
class Check:
    """One DESIGN.md target against one measured figure."""

    bench: str
    key: str  # into GAP_NOTES
    label: str
    value: Any
    unit: str
    op: str  # ">=", "<=", "<", "=="
    limit: float
    target: str  # as DESIGN.md words it
    no_verdict: str | None = None  # why this run cannot be compared (e.g. smaller size)
    shown: str | None = None  # the measured cell, if not fmt(value) + unit

    @property
    def measured(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.value is None:
            return "not in the results"
        return f"{fmt(self.value)} {self.unit}".strip()

    @property
    def ratio(self) -> str:
        if not isinstance(self.value, int | float) or self.limit == 0:
            return ""
        r = self.value / self.limit
        return f"{r:.2f}×" if r >= 0.1 or r == 0 else f"{r:.2g}×"

    @property
    def met(self) -> bool | None:
        if self.value is None or self.no_verdict:
            return None
        v = float(self.value)
        return {
            ">=": v >= self.limit,
            "<=": v <= self.limit,
            "<": v < self.limit,
            "==": v == self.limit,
        }[self.op]

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "no verdict (figure missing)"
        if self.no_verdict:
            return f"no verdict ({self.no_verdict})"
        return "yes" if self.met else "**no**"


@dataclass
class Section:
    name: str
    title: str
    command: str  # the default command, for "not run yet"
    result: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return out + [""]


def check_table(checks: list[Check]) -> list[str]:
    return table(
        ["figure", "measured", "DESIGN.md target", "ratio", "met?"],
        [[c.label, c.measured, c.target, c.ratio, c.verdict] for c in checks],
    )


def plain_table(rows: list[tuple[str, str]]) -> list[str]:
    return table(["figure", "measured"], [[a, b] for a, b in rows])


def gap_lines(checks: list[Check]) -> list[str]:
    out = []
    for c in checks:
        if c.met is not False:
            continue
        note = GAP_NOTES.get((c.bench, c.key))
        cause = note["cause"] if note else "not analysed yet."
        step = note["next"] if note else "find the cause (profile the benchmark)."
        out.append(
            f"- **Gap: {c.label}** — {c.measured} against {c.target} ({c.ratio} of the "
            f"target). *Cause:* {cause} *Next step:* {step}"
        )
    return out + [""] if out else []


def smaller(what: str, measured: Any, needed: float) -> str | None:
    """Why a run at ``measured`` says nothing about a target set at ``needed``, or None."""
    if isinstance(measured, int | float) and measured >= needed:
        return None
    return f"measured with {fmt(measured)} {what}; the target is for {fmt(needed)}"


# -- one renderer per benchmark ----------------------------------------------------------


def render_bundle(f: Figures, s: Section) -> None:
    seal = f.get("seal_records_per_s")
    opened = f.get("open_records_per_s")
    valid = f.get("validate_records_per_s")
    mb = f.get("attachment.mb", "attachment_mb")
    big = smaller("MB", mb, 200)
    s.checks += [
        Check(
            "bundle",
            "seal",
            "seal (encode, check, sign, encrypt)",
            seal,
            "records/s",
            ">=",
            20_000,
            "≥ 20,000 records/s",
        ),
        Check(
            "bundle",
            "attachment_seal_rss",
            f"seal a {fmt(mb)} MB attachment: peak RSS",
            f.get("attachment.seal_peak_rss_mb"),
            "MB",
            "<",
            100,
            "< 100 MB",
            big,
        ),
        Check(
            "bundle",
            "attachment_open_rss",
            f"open a {fmt(mb)} MB attachment: peak RSS",
            f.get("attachment.open_peak_rss_mb"),
            "MB",
            "<",
            100,
            "< 100 MB",
            big,
        ),
    ]
    s.lines += check_table(s.checks) + gap_lines(s.checks)
    rows = [
        ("open (decrypt, verify signature and hashes, decode)", f"{fmt(opened)} records/s"),
        ("validate against the form", f"{fmt(valid)} records/s"),
    ]
    if isinstance(opened, int | float) and isinstance(valid, int | float) and opened and valid:
        both = 1 / (1 / opened + 1 / valid)
        rows.append(("open + validate back to back (computed), one core", f"{fmt(both)} records/s"))
    rows += [
        (f"seal a {fmt(mb)} MB attachment: time", f"{fmt(f.get('attachment.seal_seconds'))} s"),
        (f"open a {fmt(mb)} MB attachment: time", f"{fmt(f.get('attachment.open_seconds'))} s"),
        ("mean bundle", f"{fmt(f.get('mean_bundle_bytes'))} bytes"),
    ]
    s.lines += [
        "Open and validate are stages of ingest; DESIGN.md sets no target of their own.",
        "",
    ]
    s.lines += plain_table(rows)
    s.lines += [
        f"{fmt(f.get('records'))} records in {fmt(f.get('records_per_bundle'))}-record bundles "
        f"of synthetic responses to {fmt(f.get('form'))}; one process, one core.",
        "",
    ]


def render_tlog(f: Figures, s: Section) -> None:
    n = f.get("entries")
    store_n = f.get("store.entries")
    if f.where("store.verify_s"):
        cmd = f.get("store.verify_command") or "syncserver audit verify"
        s.checks.append(
            Check(
                "tlog",
                "verify_store",
                f"`{cmd}` on a store of {fmt(store_n)} entries (fresh process, key pinned)",
                f.get("store.verify_s"),
                "s",
                "<=",
                20,
                "≤ 20 s for 1,000,000",
                smaller("entries", store_n, 1_000_000),
            )
        )
    s.checks.append(
        Check(
            "tlog",
            "verify_memory",
            f"verifier in memory: check the checkpoint, recompute the root of {fmt(n)} "
            "entries, compare",
            f.get("verify_all_entries_s"),
            "s",
            "<=",
            20,
            "≤ 20 s for 1,000,000",
            smaller("entries", n, 1_000_000),
        )
    )
    proofs = f.get("proofs") or []
    worst = None
    for p in proofs:
        size, hashes = p.get("tree_size"), p.get("inclusion_hashes_max")
        if isinstance(size, int) and isinstance(hashes, int) and size > 1:
            excess = hashes - math.ceil(math.log2(size))
            worst = excess if worst is None else max(worst, excess)
    if proofs:
        s.checks.append(
            Check(
                "tlog",
                "inclusion_log_n",
                "inclusion proof length at every tree size, hashes above ⌈log₂ n⌉",
                worst,
                "hashes",
                "<=",
                0,
                "O(log n): ≤ ⌈log₂ n⌉",
                shown=None if worst is None else f"{fmt(worst)} above (worst size)",
            )
        )
    s.lines += check_table(s.checks) + gap_lines(s.checks)
    rows = [
        ("mean entry", f"{fmt(f.get('mean_entry_bytes'))} bytes"),
        ("verifier in memory: entries/s", fmt(f.get("verify_entries_per_s"))),
        ("SHA-256 of every entry alone", f"{fmt(f.get('leaf_hash_only_s'))} s"),
        (
            f"writer: append {fmt(n)} entries to the in-memory tree",
            f"{fmt(f.get('writer_append_s'))} s, {fmt(f.get('writer_appends_per_s'))} entries/s",
        ),
        ("peak RSS of the in-memory part (ru_maxrss)", f"{fmt(f.get('peak_rss_mb'))} MB"),
    ]
    if f.where("store"):
        rows += [
            (
                f"store: append {fmt(store_n)} entries with syncserver.audit.entries.append, "
                "transactions of 10,000",
                f"{fmt(f.get('store.append_s'))} s, {fmt(f.get('store.appends_per_s'))} entries/s",
            ),
            (
                "store: size, signed checkpoints",
                f"{fmt(f.get('store.store_mb'))} MB, {fmt(f.get('store.checkpoints'))}",
            ),
            (
                "`audit verify`: entries/s, peak RSS (VmHWM)",
                f"{fmt(f.get('store.verify_entries_per_s'))}, "
                f"{fmt(f.get('store.verify_peak_rss_mb'))} MB",
            ),
        ]
    s.lines += plain_table(rows)
    if proofs:
        f.get("proofs")
        s.lines += ["Proofs, mean of the timed ones at each tree size (µs = microseconds):", ""]
        s.lines += table(
            [
                "tree size",
                "⌈log₂ n⌉",
                "inclusion: hashes (max)",
                "make µs",
                "verify µs",
                "consistency: hashes (max)",
                "make µs",
                "verify µs",
            ],
            [
                [
                    fmt(p.get("tree_size")),
                    fmt(math.ceil(math.log2(p["tree_size"]))) if p.get("tree_size", 0) > 1 else "",
                    fmt(p.get("inclusion_hashes_max")),
                    fmt(p.get("inclusion_generate_us")),
                    fmt(p.get("inclusion_verify_us")),
                    fmt(p.get("consistency_hashes_max")),
                    fmt(p.get("consistency_generate_us")),
                    fmt(p.get("consistency_verify_us")),
                ]
                for p in proofs
            ],
        )
        times = [
            v
            for p in proofs
            for k, v in p.items()
            if k.endswith("_us") and isinstance(v, int | float)
        ]
        sizes = [p["tree_size"] for p in proofs if isinstance(p.get("tree_size"), int)]
        if times and sizes:
            s.lines += [
                f"From {fmt(min(sizes))} to {fmt(max(sizes))} leaves, making or verifying a "
                f"proof takes {fmt(min(times))} to {fmt(max(times))} µs.",
                "",
            ]


def render_startup(f: Figures, s: Section) -> None:
    """bench_startup.py: `check_before_serving`, measured; DESIGN.md sets no target."""
    n, covered = f.get("entries"), f.get("covered_by_last_checkpoint")
    tail = n - covered if isinstance(n, int) and isinstance(covered, int) else None
    s.lines += [
        "What `syncserver run` does before it serves, and so before it signs a checkpoint "
        "(syncserver.audit.log.check_before_serving, docs/spec/audit-log-v1.md §14.4): "
        "verify the whole log with the project's key, recompute the tables that decide "
        "who may act and compare them with the store, check the MAC chain of the entries "
        "after the last checkpoint. DESIGN.md sets no target for start-up: measured "
        "figures, no verdict.",
        "",
    ]
    s.lines += plain_table(
        [
            (
                f"check before serving: {fmt(n)} entries, {fmt(covered)} covered by the last "
                f"checkpoint, {fmt(tail)} after it",
                f"{fmt(f.get('check_s'))} s, {fmt(f.get('check_entries_per_s'))} entries/s",
            ),
            (
                "peak RSS of the process before / after the check (ru_maxrss, building the "
                "store included)",
                f"{fmt(f.get('peak_rss_before_check_mb'))} MB / {fmt(f.get('peak_rss_mb'))} MB",
            ),
            (
                "store (store.db and its WAL), built in",
                f"{fmt(f.get('store_mb'))} MB, {fmt(f.get('build_s'))} s",
            ),
        ]
    )


def render_export(f: Figures, s: Section) -> None:
    records, questions = f.get("records"), f.get("questions")
    f.get("target")
    exports = f.get("exports") or []

    def name(e: dict[str, Any]) -> str:
        kind = "CSV" if e.get("format") == "csv" else str(e.get("format", "?")).upper()
        return f"{kind}, sensitive {'included' if e.get('sensitive') else 'redacted'}"

    csv = next((e for e in exports if e.get("format") == "csv" and not e.get("sensitive")), None)
    why = smaller("records", records, 100_000) or smaller("questions", questions, 100)
    label = f"CSV of {fmt(records)} records, {fmt(questions)} questions, sensitive redacted"
    s.checks += [
        Check(
            "export",
            "csv_seconds",
            f"{label}: time",
            csv and csv.get("seconds"),
            "s",
            "<=",
            10,
            "≤ 10 s for 100,000 records of 100 questions",
            why,
        ),
        Check(
            "export",
            "csv_rss",
            f"{label}: peak RSS",
            csv and csv.get("peak_rss_mb"),
            "MB",
            "<",
            300,
            "< 300 MB",
            why,
        ),
    ]
    s.lines += check_table(s.checks) + gap_lines(s.checks)
    s.lines += [
        f"Form: {fmt(f.get('form'))}, {fmt(questions)} questions; {fmt(records)} records, "
        f"{fmt(f.get('mean_answers_per_record'))} answers a record (top level) on average; "
        f"store {fmt(f.get('store_mb'))} MB, filled in {fmt(f.get('fill_seconds'))} s.",
        "",
    ]
    s.lines += table(
        [
            "export",
            "rows",
            "repeat rows",
            "seconds",
            "records/s",
            "RSS before",
            "peak RSS",
            "output",
        ],
        [
            [
                name(e),
                fmt(e.get("rows")),
                fmt(e.get("repeat_rows")),
                fmt(e.get("seconds")),
                fmt(e.get("records_per_s")),
                f"{fmt(e.get('rss_before_export_mb'))} MB",
                f"{fmt(e.get('peak_rss_mb'))} MB",
                f"{fmt(e.get('output_mb'))} MB",
            ]
            for e in exports
        ],
    )
    for i, e in enumerate(exports):
        for k in (
            "format",
            "sensitive",
            "rows",
            "repeat_rows",
            "seconds",
            "records_per_s",
            "rss_before_export_mb",
            "peak_rss_mb",
            "output_mb",
        ):
            if k in e:
                f.get(f"exports.{i}.{k}")


def render_match(f: Figures, s: Section) -> None:
    store, batch = f.get("store_interviews"), f.get("batch")
    why = smaller("stored interviews", store, 100_000)
    if why is None and batch != 50:
        why = f"measured with {fmt(batch)}-interview bundles; the target is for 50"
    f.get("target_ms")
    f.get("ratio_to_target")
    n = f.get("bundles")
    for key, what in (("median", f"median of {fmt(n)}"), ("p90", "p90"), ("max", "worst")):
        s.checks.append(
            Check(
                "match",
                key,
                f"match a {fmt(batch)}-interview bundle against {fmt(store)} stored: {what}",
                f.get(f"match_ms.{key}"),
                "ms",
                "<=",
                200,
                "≤ 200 ms for 50 against 100,000",
                why,
            )
        )
    s.lines += [
        "DESIGN.md sets one target for a bundle; the median, p90 and worst of the "
        "timed bundles are each held against it.",
        "",
    ]
    s.lines += check_table(s.checks) + gap_lines(s.checks)
    s.lines += plain_table(
        [
            ("of which building the probes (median)", f"{fmt(f.get('probes_ms_median'))} ms"),
            (
                "candidates compared per bundle, mean / median",
                f"{fmt(f.get('candidates_per_bundle'))} / "
                f"{fmt(f.get('candidates_per_bundle_median'))}",
            ),
            (
                "links made / review items queued (all bundles)",
                f"{fmt(f.get('linked'))} / {fmt(f.get('queued'))}",
            ),
            (
                f"store: {fmt(store)} interviews filed",
                f"{fmt(f.get('store_mb'))} MB, {fmt(f.get('store_build_s'))} s",
            ),
            ("synthetic population seed", fmt(f.get("seed"))),
        ]
    )
    slow = f.get("slowest_bundles")
    if isinstance(slow, list) and slow:
        s.lines += ["The slowest bundles:", ""]
        s.lines += table(
            ["ms", "of which probes, ms", "candidates compared"],
            [[fmt(b.get("ms")), fmt(b.get("probes_ms")), fmt(b.get("candidates"))] for b in slow],
        )
    s.lines += [
        f"The store is a real SQLite store (WAL, synchronous=FULL) holding the keyed tokens "
        f"of {fmt(store)} interviews of a synthetic population (bench/dedup/population.py); "
        f"{fmt(n)} new bundles of {fmt(batch)} interviews of the same population meet their "
        "earlier interviews. One process.",
        "",
    ]


def render_ingest(f: Figures, s: Section) -> None:
    clients = f.get("http.clients", "clients")
    why = None if clients is None else smaller("clients", clients, 32)
    rps = f.get("http.records_per_s", "records_per_s")
    bps = f.get("http.bundles_per_s", "bundles_per_s")
    stages = f.get(
        "in_process.records_per_s",
        "stages.records_per_s",
        "stages_records_per_s",
        "in_process_records_per_s",
    )
    ratio = f.get("ratio_http_to_in_process", "ratio")
    if ratio is None and isinstance(rps, int | float) and isinstance(stages, int | float):
        ratio = round(rps / stages, 2) if stages else None
    lat = {q: f.get(f"http.latency_ms.{q}", f"latency_ms.{q}") for q in ("p50", "p99", "max")}
    f.get("targets")
    f.get("target")
    s.checks += [
        Check(
            "ingest",
            "records_per_s",
            f"over HTTP, {fmt(clients)} clients, acked on disk",
            rps,
            "records/s",
            ">=",
            10_000,
            "≥ 10,000 records/s with 32 clients",
            why,
        ),
        Check(
            "ingest",
            "ratio",
            "HTTP ÷ the same stages in one process",
            ratio,
            "",
            ">=",
            0.70,
            "≥ 0.70",
            why,
        ),
        Check(
            "ingest",
            "p99",
            "upload latency, p99 (announce to verified receipt)",
            lat["p99"],
            "ms",
            "<=",
            300,
            "≤ 300 ms under that load",
            why,
        ),
    ]
    s.lines += check_table(s.checks) + gap_lines(s.checks)
    rows = [
        ("over HTTP: bundles/s", fmt(bps)),
        (
            "uploads completed / failed; records stored",
            f"{fmt(f.get('http.bundles'))} / {fmt(f.get('http.failures'))}; "
            f"{fmt(f.get('http.records_stored'))}",
        ),
        ("wall time of the uploads", f"{fmt(f.get('http.wall_s'))} s"),
        (
            "interviews still waiting for matching when the server stopped",
            fmt(f.get("http.respondents_pending_after", "respondents_pending_after")),
        ),
        ("upload latency p50 / max", f"{fmt(lat['p50'])} ms / {fmt(lat['max'])} ms"),
        ("the same stages back to back in one process", f"{fmt(stages)} records/s"),
    ]
    if isinstance(bps, int | float) and bps and isinstance(clients, int):
        rows.append(
            (
                "Little's law: clients ÷ bundles/s (expected mean latency)",
                f"{fmt(clients / bps * 1000)} ms",
            )
        )
    s.lines += plain_table(rows)
    stage_key = f.where("in_process.ms_per_bundle", "stages.ms_per_bundle")
    split = f.get(stage_key) if stage_key else None
    if isinstance(split, dict) and split:
        total = sum(v for v in split.values() if isinstance(v, int | float))
        s.lines += ["The same pipeline in one process, milliseconds per bundle by stage:", ""]
        s.lines += table(
            ["stage", "ms per bundle", "share"],
            [
                [k, fmt(v), f"{v / total:.0%}" if total and isinstance(v, int | float) else ""]
                for k, v in split.items()
            ],
        )
    cpu_key = f.where("http.cpu_s_while_uploading", "cpu_s_while_uploading")
    cpu = f.get(cpu_key) if cpu_key else None
    if isinstance(cpu, dict) and cpu:
        server, cl = cpu.get("server_and_its_workers"), cpu.get("clients")
        rows = [(k.replace("_", " "), fmt(v)) for k, v in cpu.items()]
        if isinstance(server, int | float) and isinstance(cl, int | float) and server + cl:
            rows.append(("clients' share of the CPU used", f"{cl / (server + cl):.0%}"))
        s.lines += ["CPU seconds while uploading (server and clients share the two cores):", ""]
        s.lines += plain_table(rows)


def render_fuzz(f: Figures, s: Section) -> None:
    """bench/fuzz.py's figures: per target examples, failures, seconds, seed."""
    keys = ("examples", "failures", "seconds", "seed")
    base = "targets" if isinstance(f.data.get("targets"), dict) else ""
    scope = f.data.get("targets") if base else f.data
    targets = {
        name: v
        for name, v in (scope or {}).items()
        if isinstance(v, dict) and any(k in v for k in keys)
    }
    if not targets:
        return
    cols = list(keys) + sorted(
        {k for v in targets.values() for k in v if k not in keys and not isinstance(v[k], dict)}
    )
    rows = []
    failures = 0
    for name, v in targets.items():
        path = f"{base}.{name}" if base else name
        rows.append([name] + [fmt(f.get(f"{path}.{c}")) if c in v else "" for c in cols])
        if isinstance(v.get("failures"), int):
            failures += v["failures"]
    s.checks.append(
        Check(
            "fuzz",
            "failures",
            f"failures over {len(targets)} targets",
            failures,
            "",
            "==",
            0,
            "none",
        )
    )
    s.lines += check_table(s.checks) + gap_lines(s.checks)
    s.lines += table(["target", *cols], rows)


# -- the page ----------------------------------------------------------------------------

BENCHES: list[tuple[str, str, str, Callable[[Figures, Section], None]]] = [
    (
        "bundle",
        "Bundles: seal, open, validate",
        ".venv/bin/python bench/bench_bundle.py",
        render_bundle,
    ),
    ("ingest", "Ingest over HTTP", ".venv/bin/python bench/bench_ingest.py", render_ingest),
    ("tlog", "Audit log", ".venv/bin/python bench/bench_tlog.py", render_tlog),
    (
        "startup",
        "Start-up: the audit log check before serving",
        ".venv/bin/python bench/bench_startup.py",
        render_startup,
    ),
    (
        "export",
        "Export",
        ".venv/bin/python bench/bench_export.py --jsonl --sensitive",
        render_export,
    ),
    ("match", "Respondent matching", ".venv/bin/python bench/bench_match.py", render_match),
    ("fuzz", "Fuzzing", ".venv/bin/python bench/fuzz.py", render_fuzz),
]


def machine_line(m: Any) -> str:
    if not isinstance(m, dict):
        return fmt(m)
    parts = [
        str(m.get("cpu", "unknown CPU")),
        f"{fmt(m.get('cores'))} cores",
        f"{m.get('memory_gib', '?')} GiB memory",
        f"Python {m.get('python', '?')}",
    ]
    if m.get("system"):
        parts.append(str(m["system"]))
    return ", ".join(parts)


def load(results: Path, name: str) -> tuple[dict[str, Any] | None, str | None]:
    path = results / f"{name}.json"
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return None, f"{path.name} is unreadable ({e})"
    if not isinstance(data, dict):
        return None, f"{path.name} does not hold a result"
    return data, None


def build_section(
    results: Path, name: str, title: str, command: str, render: Callable[[Figures, Section], None]
) -> Section:
    s = Section(name, title, command)
    data, problem = load(results, name)
    s.lines += [f"## {title}", ""]
    if data is None:
        if problem:
            s.lines += [f"{problem}.", ""]
        s.lines += [f"not run yet: `{command}`", ""]
        s.lines += [f"- {n}" for n in STATIC_NOTES.get(name, [])] + [""]
        return s
    s.result = data
    s.lines += [
        f"Command: `{data.get('command', command)}`  ",
        f"Date: {data.get('date', 'unknown')}  ",
        f"Machine: {machine_line(data.get('machine'))}",
        "",
    ]
    figures = data.get("figures")
    f = Figures(figures if isinstance(figures, dict) else {"figures": figures})
    render(f, s)
    rest = f.rest()
    if rest:
        s.lines += ["Other figures from this run:", ""]
        s.lines += table(["key", "value"], [[f"`{p}`", fmt(v)] for p, v in rest])
    notes = STATIC_NOTES.get(name, [])
    if notes:
        s.lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return s


def render_page(results: Path) -> str:
    sections = [build_section(results, *b) for b in BENCHES]
    out = [
        "# Performance",
        "",
        "<!-- Generated by bench/report.py from bench/results/*.json: do not edit by hand. "
        "Notes on gaps and method live in bench/report.py. -->",
        "",
        *STATIC_NOTES["intro"],
        "",
        "How to regenerate this page:",
        "",
        "- `make bench` runs every benchmark but fuzzing, one after another (bench/run_all.py, "
        "about 2 minutes on the 2-core reference machine, one of them bench_ingest), and "
        "renders this page;",
        "- `make fuzz` runs the fuzzing campaigns (bench/fuzz.py) and renders it again;",
        "- `.venv/bin/python bench/run_all.py --quick` is a smoke run of a minute or two with "
        "small sizes (no verdict on a figure measured below its target's size);",
        "- `.venv/bin/python bench/report.py` renders the page from the saved results alone.",
        "",
        "Each benchmark leaves its figures, command, date and machine in "
        "`bench/results/<name>.json`.",
        "",
        "## Targets at a glance",
        "",
    ]
    rows = []
    for s in sections:
        if s.result is None:
            rows.append([s.title, "—", f"not run yet: `{s.command}`", "", ""])
        for c in s.checks:
            rows.append([s.title, c.label, c.measured, c.target, c.verdict])
    out += table(["benchmark", "figure", "measured", "DESIGN.md target", "met?"], rows)
    for s in sections:
        out += s.lines
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS, help="directory of <name>.json")
    p.add_argument("--out", type=Path, default=OUT, help="the page to write")
    args = p.parse_args(argv)
    page = render_page(args.results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    shown = args.out.relative_to(ROOT) if args.out.resolve().is_relative_to(ROOT) else args.out
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
