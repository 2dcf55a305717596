"""Benchmark: ingest end to end over HTTP, against the same pipeline run in one process.

Usage:  .venv/bin/python bench/bench_ingest.py [--clients 32] [--bundles 12] [--records 50]
            [--stages 60]

Part 1, over HTTP: a project on the embedded default (SQLite, WAL, synchronous=FULL: an
upload is acknowledged only once it is on disk) served by ``syncserver run`` in its own
process on 127.0.0.1; ``--clients`` client *processes*, each an enrolled device with the
field kit's real upload client (``collector.sync.SyncClient``: announce, append, complete,
verify the signed receipt and its inclusion proof), each uploading ``--bundles`` sealed
bundles of ``--records`` synthetic records of the shipped form one after another. Figures:
records/s and bundles/s over the wall time from the first request to the last receipt,
and the p50/p99 of one upload (announce to verified receipt).

Part 2, in one process, without HTTP: the same server pipeline back to back for
``--stages`` bundles (write the upload area, persist durably, open and validate and
merge, sign the receipt with its inclusion proof), each stage timed, in a fresh project.

The ratio of part 1 to part 2 is what HTTP, concurrency and the event loop cost or gain.
Respondent matching runs in the server's background thread as in production; the script
reports how many interviews were still waiting for it when the server stopped. DESIGN.md
targets: >= 10,000 records/s over HTTP, >= 70% of the in-process figure, p99 <= 300 ms.
Synthetic data only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import io
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _results import save

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.syncserver_run import start_syncserver  # noqa: E402

NOW = datetime.datetime.now(datetime.UTC)
SURNAMES = "김이박최정강조윤장임한오서신권황안송전홍유고문양손배백허남심노하곽성차주우구"
GIVEN = "영철명수남순옥희정성혁광일금은미경진호현숙향련주국용복화선민지서하윤"


def _records(form: Any, rng: random.Random, pool: list[dict[str, Any]], n: int) -> list[Any]:
    """``n`` records: answers from a pool of synthetic responses, each with a fresh
    synthetic name so that respondents differ as they would (no real person)."""
    from schemas.ids import new_id
    from schemas.wire import Record

    out = []
    t = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    for _ in range(n):
        answers = dict(rng.choice(pool))
        answers["respondent_name"] = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        out.append(
            Record(
                record_id=new_id(),
                version=1,
                form_id=form.id,
                form_version=form.version,
                created_at=t,
                modified_at=t,
                lang="ko",
                answers=answers,
            )
        )
    return out


def _seal(records: list[Any], device_id: uuid.UUID, key: Any, recipient: Any, project_id: uuid.UUID,
          seq: int, prev: bytes) -> bytes:  # fmt: skip
    from schemas.bundle import DeviceKey, seal_bundle

    buf = io.BytesIO()
    seal_bundle(
        buf,
        records=records,
        device=DeviceKey(device_id, key),
        recipients=[recipient],
        project_id=project_id,
        device_seq=seq,
        prev_bundle_sha256=prev,
    )
    return buf.getvalue()


def _pool(form: Any, size: int, seed: int) -> list[dict[str, Any]]:
    from schemas.survey.synth import synthesize

    rng = random.Random(seed)
    return [synthesize(form, rng, fixed={"consent": "yes"}) for _ in range(size)]


def _make_bundles(args: argparse.Namespace, device: dict[str, Any], seed: int) -> list[bytes]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from schemas.bundle import RecipientPublicKey
    from schemas.forms import shipped_form

    form = shipped_form("escapee-interview")
    rng = random.Random(seed)
    pool = _pool(form, 40, seed)
    key = Ed25519PrivateKey.from_private_bytes(device["key"])
    recipient = RecipientPublicKey(device["recipient"])
    prev, out = bytes(32), []
    for seq in range(1, args.bundles + 1):
        data = _seal(_records(form, rng, pool, args.records), uuid.UUID(device["id"]), key,
                     recipient, uuid.UUID(device["project"]), seq, prev)  # fmt: skip
        prev = hashlib.sha256(data).digest()
        out.append(data)
    return out


def _client(args: argparse.Namespace, device: dict[str, Any], base: str, seed: int,
            ready: Any, go: Any, results: Any) -> None:  # fmt: skip
    """One device in its own process: seal its bundles, wait, upload them in turn."""
    bundles = _make_bundles(args, device, seed)
    ready.release()
    go.wait()
    results.put(asyncio.run(_upload_all(device, base, bundles)))


async def _upload_all(device: dict[str, Any], base: str, bundles: list[bytes]) -> dict[str, Any]:
    import aiohttp
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from collector.sync import Pins, SyncClient
    from schemas.bundle import read_header

    key = Ed25519PrivateKey.from_private_bytes(device["key"])
    pins = Pins(signing_public=device["signing_public"], log_origin=device["origin"])
    latencies, failures = [], 0
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = SyncClient(session, base, uuid.UUID(device["id"]), key, pins)
        start, cpu = time.time(), time.process_time()
        for data in bundles:
            t = time.perf_counter()
            try:
                await client.upload(read_header(io.BytesIO(data)).bundle_id, data)
            except Exception:
                failures += 1
                continue
            latencies.append(time.perf_counter() - t)
        end, cpu = time.time(), time.process_time() - cpu
    return {"start": start, "end": end, "cpu": cpu, "latencies": latencies, "failures": failures}


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its children now alive."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def http_part(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from schemas.forms import shipped_form
    from schemas.wire import EnrollmentRequest, sign_request
    from syncserver.access import devices
    from syncserver.forms import publish_form
    from syncserver.project import init_project
    from syncserver.project.keys import Secret

    key_file = root / "project.key"
    key_file.write_bytes(os.urandom(32))
    d = root / "http"
    project = init_project(d, Secret(key_file=key_file.read_bytes()), actor="cli:bench")
    publish_form(project, shipped_form("escapee-interview"), now=NOW, actor="cli:bench")
    enrolled = []
    for i in range(args.clients):
        k = Ed25519PrivateKey.generate()
        pub = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        req = sign_request(EnrollmentRequest(public_key=pub, label=f"bench-{i}", token=""), k)
        resp = devices.enroll(project, req, how="file", now=NOW, actor="cli:bench")
        import msgspec

        body = msgspec.msgpack.decode(resp.certificate.body)
        enrolled.append(
            {
                "id": str(uuid.UUID(bytes=body["device_id"])),
                "key": k.private_bytes_raw(),
                "recipient": project.identity.recipient_public.raw,
                "project": str(project.project_id),
                "signing_public": project.identity.signing_public_bytes(),
                "origin": project.log_origin,
            }
        )
    project.close()

    # port 0: the server binds a free port itself and says which (a port picked here and
    # released could be taken before the server binds it)
    argv = [sys.executable, "-m", "syncserver.cli", "run", "--dir", str(d)]
    server, _, base = start_syncserver([*argv, "--key-file", str(key_file)], root / "server.log")
    try:
        ctx = mp.get_context("fork")
        ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_client, args=(args, dev, base, 1000 + i, ready, go, results))
            for i, dev in enumerate(enrolled)
        ]
        t_seal = time.perf_counter()
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        seal_s = time.perf_counter() - t_seal
        cpu_before = _cpu_seconds(server.pid)
        spy = None
        if args.profile:  # py-spy on the server's main process while it serves the uploads
            spy = subprocess.Popen(
                [
                    shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(server.pid),
                    "-o",
                    args.profile,
                    "--format",
                    "raw",
                    "-r",
                    "250",
                    "--nonblocking",
                    *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []),
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        go.set()
        got = [results.get(timeout=600) for _ in procs]
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        for p in procs:
            p.join()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=90)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    lat = sorted(x for g in got for x in g["latencies"])
    wall = max(g["end"] for g in got) - min(g["start"] for g in got)
    done = len(lat)
    import sqlite3

    conn = sqlite3.connect(d / "store.db")
    try:
        stored = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        pending = conn.execute(
            "SELECT COUNT(*) FROM respondents WHERE state = 'pending'"
        ).fetchone()[0]
        audit = conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    finally:
        conn.close()
    return {
        "clients": args.clients,
        "bundles": done,
        "failures": sum(g["failures"] for g in got),
        "records_stored": stored,
        "wall_s": round(wall, 2),
        "records_per_s": round(done * args.records / wall),
        "bundles_per_s": round(done / wall, 1),
        "latency_ms": {
            "p50": round(statistics.median(lat) * 1000, 1),
            "p99": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, 1),
            "max": round(lat[-1] * 1000, 1),
        },
        "respondents_pending_after": pending,
        "cpu_s_while_uploading": {
            "server_and_its_workers": round(server_cpu, 1),
            "clients": round(sum(g["cpu"] for g in got), 1),
            "server_ms_per_bundle": round(server_cpu / max(done, 1) * 1000, 1),
        },
        "audit_entries": audit,
        "client_sealing_s": round(seal_s, 1),
    }


def stages_part(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """The server's pipeline for ``--stages`` bundles, back to back, in this process."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from schemas.bundle import read_header
    from schemas.forms import shipped_form
    from schemas.wire import EnrollmentRequest, sign_request
    from syncserver.access import devices
    from syncserver.forms import publish_form
    from syncserver.ingest import ingest_bundle, persist_upload
    from syncserver.ingest._prepare import Preparer
    from syncserver.project import init_project
    from syncserver.project.keys import Secret
    from syncserver.service import Service

    project = init_project(root / "stages", Secret(key_file=os.urandom(32)), actor="cli:bench")
    try:
        publish_form(project, shipped_form("escapee-interview"), now=NOW, actor="cli:bench")
        k = Ed25519PrivateKey.generate()
        pub = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        req = sign_request(EnrollmentRequest(public_key=pub, label="stages", token=""), k)
        resp = devices.enroll(project, req, how="file", now=NOW, actor="cli:bench")
        import msgspec

        body = msgspec.msgpack.decode(resp.certificate.body)
        device = {
            "id": str(uuid.UUID(bytes=body["device_id"])),
            "key": k.private_bytes_raw(),
            "recipient": project.identity.recipient_public.raw,
            "project": str(project.project_id),
        }
        sub = argparse.Namespace(**{**vars(args), "bundles": args.stages})
        bundles = _make_bundles(sub, device, 7)
        service = Service(project)
        preparer = Preparer.for_project(project)  # in this process, this thread
        dev_id = uuid.UUID(device["id"])
        times: dict[str, float] = {"area": 0.0, "persist": 0.0, "ingest": 0.0, "receipt": 0.0}
        t_all = time.perf_counter()
        for data in bundles:
            bid = read_header(io.BytesIO(data)).bundle_id
            sha = hashlib.sha256(data).digest()
            t = time.perf_counter()
            service.area.append(bid, 0, data, len(data))
            t2 = time.perf_counter()
            index = persist_upload(project, service.area, bid, dev_id, len(data), sha, now=NOW)
            t3 = time.perf_counter()
            report = ingest_bundle(project, service.area, preparer, bid, now=NOW,
                                   matcher=service.matcher, match=False)  # fmt: skip
            t4 = time.perf_counter()
            service._receipt(bid, sha, len(data), index, NOW)
            t5 = time.perf_counter()
            service.matching.note_activity()  # as the service does: matching waits
            service.matching.submit(report.pending)
            times["area"] += t2 - t
            times["persist"] += t3 - t2
            times["ingest"] += t4 - t3
            times["receipt"] += t5 - t4
        total = time.perf_counter() - t_all
        service.close()
    finally:
        project.close()
    n = len(bundles)
    return {
        "bundles": n,
        "seconds": round(total, 2),
        "records_per_s": round(n * args.records / total),
        "ms_per_bundle": {k: round(v / n * 1000, 2) for k, v in times.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--bundles", type=int, default=12, help="bundles per client")
    parser.add_argument("--records", type=int, default=50, help="records per bundle")
    parser.add_argument("--stages", type=int, default=60, help="bundles for part 2")
    parser.add_argument(
        "--profile", metavar="OUT", help="record the server's main process with py-spy (raw)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stages = stages_part(args, root)
        http = http_part(args, root)
    result = {
        "http": http,
        "in_process": stages,
        "ratio_http_to_in_process": round(http["records_per_s"] / stages["records_per_s"], 2),
        "targets": {"records_per_s": 10_000, "ratio": 0.70, "p99_ms": 300},
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    if not args.profile:  # a profiled run is slower: not a figure
        save("ingest", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
