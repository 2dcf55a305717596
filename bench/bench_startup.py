"""Benchmark: the audit log check `syncserver run` makes before it serves
(syncserver.audit.log.check_before_serving, docs/spec/audit-log-v1.md §14.4).

Usage:  .venv/bin/python bench/bench_startup.py [--entries 1000000]

Builds a real project's store the way bench_tlog.py does (synthetic entries appended
with syncserver.audit.entries.append in transactions of 10,000, a signed checkpoint every tenth of
the way), plus 100 enrolled devices, 100 enrollment tokens and 10 admin tokens made by the
library, and 1,000 entries after the last checkpoint; then times the check in this
process: the whole log verified with the project's key, the access tables recomputed from
it, and the MAC chain of the tail. Prints JSON and saves it to bench/results/startup.json
(bench/_results.py), which bench/report.py renders into docs/performance.md. DESIGN.md
sets no target for start-up: the page gives the figure as measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from _results import save
from bench_tlog import append_synthetic
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.wire import EnrollmentRequest, sign_request
from syncserver.access import admin_tokens as tokens
from syncserver.access import devices
from syncserver.audit.log import AuditLog, check_before_serving
from syncserver.project import init_project
from syncserver.project.keys import KdfParams, Secret

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
ACTOR = "cli:bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    n, batch = args.entries, 10_000
    every = max(1, n // 10)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        project = init_project(
            Path(tmp) / "proj",
            Secret(passphrase="synthetic benchmark passphrase"),
            kdf=KdfParams(memory_kib=1024, iterations=1, lanes=1),
            actor=ACTOR,
        )
        try:
            for i in range(100):
                key = Ed25519PrivateKey.generate()
                pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                req = sign_request(EnrollmentRequest(public_key=pub, label=f"kit-{i}"), key)
                devices.enroll(project, req, how="file", actor=ACTOR, now=NOW)
                devices.create_token(project, f"kit {i}", actor=ACTOR, now=NOW)
            for i in range(10):
                tokens.create_token(project, "auditor", f"auditor {i}", actor=ACTOR, now=NOW)
            log = AuditLog(project)
            build = time.perf_counter()
            for s in range(0, n, batch):
                append_synthetic(project, s, min(n, s + batch))
                if min(n, s + batch) // every > s // every:
                    log.checkpoint()
            size, _, _ = log.checkpoint()
            append_synthetic(project, n, n + 1000)  # a tail after the last checkpoint
            build_s = time.perf_counter() - build
            db_mb = sum(f.stat().st_size for f in (Path(tmp) / "proj").glob("store.db*")) / 2**20
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            check = check_before_serving(project)
        finally:
            project.close()
    figures = {
        "entries": check.entries,
        "covered_by_last_checkpoint": check.covered,
        "store_mb": round(db_mb, 1),
        "build_s": round(build_s, 1),
        "check_s": round(check.seconds, 2),
        "check_entries_per_s": round(check.entries / check.seconds),
        # ru_maxrss: the peak of this process, building the store included; the check
        # raised it only if the second is above the first
        "peak_rss_before_check_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    assert size == check.covered
    json.dump(
        {"python": platform.python_version(), "machine": platform.machine(), **figures},
        sys.stdout,
        indent=2,
    )
    print()
    save("startup", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
