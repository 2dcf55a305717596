"""Benchmark: the audit log's writer (syncserver.audit.tlog) and verifier (schemas.tlog).

Usage:  .venv/bin/python bench/bench_tlog.py [--entries 1000000] [--proofs 1000]

Prints JSON: the time for an auditor to verify the log by recomputing the root of all
entries (SHA-256 of every entry and node, one streaming pass) and checking it against a
signed checkpoint; the writer's append rate; and, for tree sizes 10^3 to 10^6, the mean
time to produce and to verify an inclusion proof and a consistency proof. One process, one
core. Compare with DESIGN.md (verify 1,000,000 entries <= 20 s; inclusion proof O(log n)).
Entries are synthetic msgpack audit events of about 120 bytes.

Then the same number of entries goes into a real project's store
(``syncserver.audit.entries.append`` in transactions of 10,000, a signed checkpoint every
tenth of the way), and the auditor's command
``syncserver audit verify --dir DIR --key VKEY`` runs on it in a fresh process:
its wall time (interpreter start included) and peak RSS (VmHWM). ``--no-store`` skips this
part. The figures go to bench/results/tlog.json (bench/_results.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from _results import save
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.tlog import (
    TreeHasher,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from syncserver.audit.tlog import MemoryLeafStore, MerkleLog, sign_checkpoint, verifier_key

ORIGIN = "sealsync/0b5e3c1a-8f2d-4e6b-9a7c-3d1f5e2b8c4a"
KINDS = ["upload", "accept", "reject", "quarantine", "review", "export"]


def append_synthetic(project, start: int, end: int) -> None:  # type: ignore[no-untyped-def]
    """Entries ``start``..``end - 1`` of the synthetic log, appended in one transaction
    with the writer's own :func:`~syncserver.audit.entries.append` (ids and counts only)."""
    from syncserver.audit.entries import AuditEntry, append

    def tx(conn):  # type: ignore[no-untyped-def]
        for i in range(start, end):
            append(
                conn,
                AuditEntry(
                    kind=KINDS[i % len(KINDS)],  # type: ignore[arg-type]
                    at_ms=1_767_225_600_000 + i * 37,
                    actor=f"device:0190f2a4-6b1e-7c3d-8e5f-{i % 4096:012x}",
                    subject=f"bundle:{i:08d}",
                    detail={"records": i % 50 + 1, "bytes": i * 13 % 100_000},
                ),
            )

    project.store.write_sync(tx)


def make_entries(n: int) -> list[bytes]:
    enc = msgspec.msgpack.Encoder()
    return [
        enc.encode(
            {
                "kind": KINDS[i % len(KINDS)],
                "at_ms": 1_767_225_600_000 + i * 37,
                "actor": f"device:0190f2a4-6b1e-7c3d-8e5f-{i % 4096:012x}",
                "subject": f"bundle:{i:08d}",
                "detail": {"records": i % 50 + 1, "bytes": i * 13 % 100_000},
            }
        )
        for i in range(n)
    ]


def proof_timings(log: MerkleLog, size: int, count: int, rng: random.Random) -> dict[str, float]:
    """Mean microseconds to make and to check inclusion and consistency proofs at ``size``."""
    root = log.root(size)
    picks = [rng.randrange(size) for _ in range(count)]
    leaves = [log.leaf_hash(i) for i in picks]
    olds = [rng.randint(1, size) for _ in range(count)]
    old_roots = [log.root(m) for m in olds]

    t0 = time.perf_counter()
    made = [log.inclusion_proof(i, size) for i in picks]
    t1 = time.perf_counter()
    for leaf, index, proof in zip(leaves, picks, made, strict=True):
        verify_inclusion(leaf, index, size, proof, root)
    t2 = time.perf_counter()
    cons = [log.consistency_proof(m, size) for m in olds]
    t3 = time.perf_counter()
    for m, old_root, proof in zip(olds, old_roots, cons, strict=True):
        verify_consistency(m, size, proof, old_root, root)
    t4 = time.perf_counter()

    def us(seconds: float) -> float:
        return round(seconds / count * 1e6, 1)

    return {
        "tree_size": size,
        "inclusion_hashes_max": max(len(p) for p in made),
        "inclusion_generate_us": us(t1 - t0),
        "inclusion_verify_us": us(t2 - t1),
        "consistency_hashes_max": max(len(p) for p in cons),
        "consistency_generate_us": us(t3 - t2),
        "consistency_verify_us": us(t4 - t3),
    }


# The auditor's command in a fresh process; it reports its own peak RSS (VmHWM: ru_maxrss
# of a child would report this large parent's high-water mark, which survives exec).
_CLI = """
import sys
from syncserver.cli import main
code = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("VmHWM_kB", line.split()[1], file=sys.stderr)
sys.exit(code)
"""


def store_verify(n: int) -> dict[str, float | int | str]:
    """``n`` entries appended to a real project's store, then ``syncserver audit verify``."""
    from syncserver.audit.log import AuditLog
    from syncserver.project import init_project
    from syncserver.project.keys import KdfParams, Secret

    batch, every = 10_000, max(1, n // 10)
    with tempfile.TemporaryDirectory(prefix="bench-tlog-") as tmp:
        root = Path(tmp) / "proj"
        project = init_project(
            root,
            Secret(passphrase="synthetic benchmark passphrase"),
            kdf=KdfParams(memory_kib=1024, iterations=1, lanes=1),
            actor="cli:bench",
        )
        log = AuditLog(project)
        start = time.perf_counter()
        for s in range(0, n, batch):
            append_synthetic(project, s, min(n, s + batch))
            if min(n, s + batch) // every > s // every:
                log.checkpoint()
        append_s = time.perf_counter() - start
        size, _, _ = log.checkpoint()
        vkey = log.verifier_key
        project.close()
        db_mb = sum(f.stat().st_size for f in root.glob("store.db*")) / 2**20
        argv = [sys.executable, "-c", _CLI, "audit", "verify", "--dir", str(root), "--key", vkey]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        verify_s = time.perf_counter() - start
    if done.returncode != 0 or "audit log verified" not in done.stdout:
        raise SystemExit(f"syncserver audit verify failed:\n{done.stdout}{done.stderr}")
    signed = re.search(r"(\d+) signed checkpoint", done.stdout)
    hwm = [ln.split()[1] for ln in done.stderr.splitlines() if ln.startswith("VmHWM_kB")]
    return {
        "entries": size,
        "checkpoints": int(signed.group(1)) if signed else -1,
        "store_mb": round(db_mb, 1),
        "append_s": round(append_s, 2),
        "appends_per_s": round(n / append_s),
        "verify_command": "syncserver audit verify --dir DIR --key VKEY",
        "verify_s": round(verify_s, 2),
        "verify_entries_per_s": round(size / verify_s),
        "verify_peak_rss_mb": round(int(hwm[0]) / 1024, 1) if hwm else -1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument(
        "--no-store", action="store_true", help="skip `audit verify` on a real project's store"
    )
    args = parser.parse_args(argv)
    n = args.entries
    rng = random.Random(7)

    entries = make_entries(n)
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key(ORIGIN, key.public_key())

    log = MerkleLog(MemoryLeafStore())
    start = time.perf_counter()
    for e in entries:
        log.append(e)
    append_s = time.perf_counter() - start
    note = sign_checkpoint(ORIGIN, log.size, log.root(), ORIGIN, key)

    # The auditor: verify the checkpoint, recompute the root of every entry, compare.
    start = time.perf_counter()
    checkpoint = verify_checkpoint(note, vkey, origin=ORIGIN)
    hasher = TreeHasher()
    hasher.extend_entries(entries[: checkpoint.size])
    verified = hasher.root() == checkpoint.root_hash
    verify_s = time.perf_counter() - start
    start = time.perf_counter()
    for e in entries:
        leaf_hash(e)
    leaf_s = time.perf_counter() - start
    if not verified:
        print("verification FAILED: writer and verifier disagree", file=sys.stderr)
        return 1

    sizes = [s for s in (1_000, 10_000, 100_000, 1_000_000) if s <= n] or [n]
    proofs = [proof_timings(log, size, args.proofs, rng) for size in sizes]

    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "entries": n,
        "mean_entry_bytes": round(sum(map(len, entries)) / n, 1),
        "verify_all_entries_s": round(verify_s, 3),
        "verify_entries_per_s": round(n / verify_s),
        "writer_append_s": round(append_s, 3),
        "writer_appends_per_s": round(n / append_s),
        "leaf_hash_only_s": round(leaf_s, 3),
        "proofs": proofs,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))
    if not args.no_store:
        del log, entries  # this process's memory back before the store is built
        store = store_verify(n)
        print(json.dumps({"store": store}, indent=2))
        result["store"] = store
    result.pop("python")
    result.pop("machine")
    save("tlog", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
