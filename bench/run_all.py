"""Run every benchmark (not fuzzing), then render docs/performance.md: what `make bench` does.

Usage:  .venv/bin/python bench/run_all.py [--quick] [--skip NAME ...]

Each benchmark runs in its own process, one after another (they would disturb each
other's timings), with its default sizes; each leaves bench/results/<name>.json. Then
bench/report.py renders the page from all the results there are. About 2 minutes on the
2-core reference machine (1:43 on 2026-12-05), of which bench_ingest takes about one and
wants the whole machine.

--quick passes small sizes to every benchmark: a smoke run of a minute or two that checks
the scripts and the page, not the targets. Its figures overwrite bench/results/ like any
run (the page shows their commands and gives no verdict where a size is below a target's);
`git checkout bench/results docs/performance.md` brings the committed ones back.

If a benchmark fails, the run stops there with its exit status, and the page is still
rendered from the results there are (older results of the benchmarks not run keep their
own dates). Fuzzing is `make fuzz`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT_S = 30.0

#: (name, script, arguments of a full run, arguments of a quick run)
PLAN: list[tuple[str, str, list[str], list[str]]] = [
    ("bundle", "bench/bench_bundle.py", [], ["--records", "2000", "--attachment-mb", "20"]),
    ("tlog", "bench/bench_tlog.py", [], ["--entries", "100000", "--proofs", "100"]),
    ("startup", "bench/bench_startup.py", [], ["--entries", "100000"]),
    (
        "export",
        "bench/bench_export.py",
        ["--jsonl", "--sensitive"],
        ["--jsonl", "--sensitive", "--records", "10000"],
    ),
    ("match", "bench/bench_match.py", [], ["--store", "10000", "--bundles", "5"]),
    (
        "ingest",
        "bench/bench_ingest.py",
        [],
        ["--clients", "4", "--bundles", "3", "--stages", "10"],
    ),
]
NAMES = [name for name, *_ in PLAN]


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def run_one(argv: list[str], name: str, started: float) -> int:
    """Run one benchmark, its output passed through; a line every HEARTBEAT_S seconds."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT)
    while True:
        try:
            return proc.wait(timeout=HEARTBEAT_S)
        except subprocess.TimeoutExpired:
            print(
                f"[run_all] {name} still running: {_clock(time.monotonic() - t0)} "
                f"(total {_clock(time.monotonic() - started)})",
                file=sys.stderr,
                flush=True,
            )
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise


def render(extra: list[str]) -> int:
    return subprocess.run([sys.executable, "bench/report.py", *extra], cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a ~2 minute smoke run")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="NAME",
        help=f"leave out a benchmark (repeatable, or comma-separated): {', '.join(NAMES)}",
    )
    p.add_argument("--out", help="render the page here instead of docs/performance.md")
    args = p.parse_args(argv)
    skip = {n.strip() for s in args.skip for n in s.split(",") if n.strip()}
    unknown = skip - set(NAMES)
    if unknown:
        p.error(f"--skip {', '.join(sorted(unknown))}: no such benchmark ({', '.join(NAMES)})")
    plan = [step for step in PLAN if step[0] not in skip]
    report_args = ["--out", args.out] if args.out else []

    started = time.monotonic()
    for i, (name, script, full, quick) in enumerate(plan, 1):
        argv_ = [sys.executable, script, *(quick if args.quick else full)]
        shown = " ".join([".venv/bin/python", script, *argv_[2:]])
        print(f"[run_all] {i}/{len(plan)} {name}: {shown}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        code = run_one(argv_, name, started)
        took = _clock(time.monotonic() - t0)
        if code != 0:
            left = [n for n, *_ in plan[i:]]
            print(
                f"[run_all] FAILED: {name} exited with status {code} after {took}. "
                + (f"Not run: {', '.join(left)}. " if left else "")
                + f"Any bench/results/{name}.json is from an earlier run. "
                "Rendering the page from the results there are.",
                file=sys.stderr,
                flush=True,
            )
            render(report_args)
            return code
        print(
            f"[run_all] {name} done in {took} (total {_clock(time.monotonic() - started)})",
            file=sys.stderr,
            flush=True,
        )
    if skip:
        print(f"[run_all] skipped: {', '.join(sorted(skip))}", file=sys.stderr)
    code = render(report_args)
    print(f"[run_all] all done in {_clock(time.monotonic() - started)}", file=sys.stderr)
    if args.quick:
        print(
            "[run_all] quick run: bench/results/ now holds smoke figures; "
            "`git checkout bench/results docs/performance.md` restores the committed ones",
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
