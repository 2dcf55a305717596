"""Benchmark: the audit log's writer (syncserver.tlog) and verifier (schemas.tlog).

Usage:  .venv/bin/python bench/bench_tlog.py [--entries 1000000] [--proofs 1000]

Prints JSON: the time for an auditor to verify the log by recomputing the root of all
entries (SHA-256 of every entry and node, one streaming pass) and checking it against a
signed checkpoint; the writer's append rate; and, for tree sizes 10^3 to 10^6, the mean
time to produce and to verify an inclusion proof and a consistency proof. One process, one
core. Compare with DESIGN.md (verify 1,000,000 entries <= 20 s; inclusion proof O(log n)).
Entries are synthetic msgpack audit events of about 120 bytes.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import sys
import time

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.tlog import (
    TreeHasher,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from syncserver.tlog import MemoryLeafStore, MerkleLog, sign_checkpoint, verifier_key

ORIGIN = "sealsync/0b5e3c1a-8f2d-4e6b-9a7c-3d1f5e2b8c4a"
KINDS = ["upload", "accept", "reject", "quarantine", "review", "export"]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
