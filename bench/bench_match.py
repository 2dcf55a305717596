"""Benchmark: respondent matching of a new bundle against a large store (issue 5).

Usage:  .venv/bin/python bench/bench_match.py [--store 100000] [--bundles 20] [--batch 50]

Builds a real SQLite store (WAL, synchronous=FULL, as the server runs it) holding the
keyed tokens of ``--store`` interviews of a synthetic population (bench/dedup/population.py,
10% of persons interviewed again), then matches ``--bundles`` new bundles of ``--batch``
interviews each, drawn from the same population so that they meet their duplicates, and
times :meth:`syncserver.respondents.Matcher.match` for each: building the probes (the
tokens of every nearby value), finding and scoring candidates, and the write transaction
with links, review items and audit entries. Prints JSON with the median, p90 and worst
milliseconds per bundle and the split between the stages, and saves it to
bench/results/match.json (bench/_results.py). One process; DESIGN.md target: a 50-record
bundle against a 100,000-respondent store in <= 200 ms.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "dedup"))

import harness  # noqa: E402
import population  # noqa: E402
from _results import save  # noqa: E402

from syncserver.respondents import (
    Matcher,
    PseudonymKey,
    default_weights,
    file_postings,
    register,
    stored_tokens,
)
from syncserver.store import SqliteStore  # noqa: E402

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
TARGET_MS = 200.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=int, default=100_000, help="interviews in the store")
    parser.add_argument("--bundles", type=int, default=20, help="bundles matched and timed")
    parser.add_argument("--batch", type=int, default=50, help="interviews per bundle")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    want = args.store + args.bundles * args.batch
    pop = population.generate(round(want / 1.1) + 100, 0.10, args.seed)
    interviews = pop.interviews[:want]
    if len(interviews) < want:
        parser.error("population too small")
    key = PseudonymKey(hashlib.sha256(b"bench").digest())
    weights = default_weights()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.db", audit_key=bytes(32)).open()
        try:
            t0 = time.perf_counter()
            base = interviews[: args.store]
            for i in range(0, len(base), 5000):
                part = [
                    (harness.record_id(iv.interview_id), stored_tokens(key, harness.answers_of(iv)))
                    for iv in base[i : i + 5000]
                ]

                def fill(conn, part=part):  # type: ignore[no-untyped-def]
                    for rid, (tokens, postings) in part:
                        register(conn, rid, tokens, postings, now_ms=0)
                    file_postings(conn, [rid.bytes for rid, _ in part])  # as matching does
                    conn.execute("UPDATE respondents SET state = 'matched'")

                store.write_sync(fill)
            build_s = time.perf_counter() - t0
            size_mb = sum(f.stat().st_size for f in Path(tmp).glob("store.db*")) / 1e6

            matcher = Matcher(store, key, weights)
            totals, probes_ms, linked, queued, compared = [], [], 0, 0, 0
            each = []  # (ms, probes ms, candidates) per bundle
            for b in range(args.bundles):
                chunk = interviews[args.store + b * args.batch : args.store + (b + 1) * args.batch]
                items = [
                    (harness.record_id(iv.interview_id), harness.answers_of(iv)) for iv in chunk
                ]
                filed = [(rid, *stored_tokens(key, who)) for rid, who in items]

                def tx(conn, filed=filed):  # type: ignore[no-untyped-def]
                    for rid, tokens, postings in filed:
                        register(conn, rid, tokens, postings, now_ms=0)

                store.write_sync(tx)  # ingest's part, not timed here
                t = time.perf_counter()
                for rid, who in items:
                    matcher.probe(rid, who)
                probes_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                report = matcher.match(items, now=NOW)
                totals.append((time.perf_counter() - t) * 1000)
                linked += report.linked
                queued += report.queued
                compared += report.candidates
                each.append((totals[-1], probes_ms[-1], report.candidates))
        finally:
            store.close()

    totals.sort()
    result = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "store_interviews": args.store,
        "store_mb": round(size_mb, 1),
        "store_build_s": round(build_s, 1),
        "bundles": args.bundles,
        "batch": args.batch,
        "match_ms": {
            "median": round(statistics.median(totals), 1),
            "p90": round(totals[int(0.9 * (len(totals) - 1))], 1),
            "max": round(totals[-1], 1),
        },
        "probes_ms_median": round(statistics.median(probes_ms), 1),
        "candidates_per_bundle": round(compared / args.bundles),
        "candidates_per_bundle_median": statistics.median(c for _, _, c in each),
        "slowest_bundles": [
            {"ms": round(ms, 1), "probes_ms": round(pr, 1), "candidates": c}
            for ms, pr, c in sorted(each, reverse=True)[:3]
        ],
        "linked": linked,
        "queued": queued,
        "target_ms": TARGET_MS,
        "ratio_to_target": round(statistics.median(totals) / TARGET_MS, 2),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    result.pop("machine")
    save("match", {"seed": args.seed, **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
