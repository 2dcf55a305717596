"""A hostile bundle costs memory linear in its bytes, with a small constant (issue 11,
bundle-v1.md §8), proved under a real ``RLIMIT_AS``.

msgpack spends one byte on an empty map that costs Python about 70: a bundle of records
made of many empty maps used to cost about 83 times its size to open and validate in
the worker and as much again in the server process, and its problems were kept without
bound (a 1 MiB record wrote 192 MiB of them). Here a process opens such a bundle with
the whole of ingest (open, validate, merge) under an address-space limit of its size at
rest plus a budget a few times the bundle's bytes, and must quarantine every record, not
run out of memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from support.bundles import seal_for
from support.project import NOW, SECRET
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.wire import Record
from syncserver.forms import publish_form
from syncserver.ingest import persist_upload
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project

FORM = shipped_form("escapee-interview")
MiB = 1024 * 1024

#: What the process may take beyond its size at rest: a fixed part (the largest
#: record decoded, the interpreter's arenas) plus the bundle's size (bundle-v1.md §8).
#: Before the fix this bundle needed about 4.6 GiB; after it, about 7 MiB.
FIXED_BUDGET = 48 * MiB
PER_BYTE = 1

_CHILD = r"""
import json, os, resource, sys, datetime, uuid
from pathlib import Path
from syncserver.project.keys import Secret
from syncserver.project import open_project
from syncserver.ingest.uploads import UploadArea
from syncserver.ingest import Preparer
from syncserver.ingest import ingest_bundle

args = json.loads(sys.stdin.readline())
project = open_project(Path(args["dir"]), Secret(passphrase=args["passphrase"]))
area = UploadArea(project.config.root)
preparer = Preparer.for_project(project)
project.store.write_sync(lambda c: None)  # the writer thread exists before the limit
project.store.read_sync(lambda c: c.execute("SELECT 1").fetchall())
with open("/proc/self/statm") as f:
    at_rest = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
limit = at_rest + args["budget"]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    r = ingest_bundle(
        project, area, preparer, uuid.UUID(args["bundle"]),
        now=datetime.datetime.fromisoformat(args["now"]), match=False,
    )
    out = {"state": r.state, "quarantined": r.quarantined, "reasons": sorted(set(r.reasons))}
except MemoryError:
    out = {"state": "MemoryError"}
with open("/proc/self/status") as f:  # VmHWM: this process's own peak (not its parent's)
    hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
out["peak_rss"] = hwm * 1024
out["at_rest"] = at_rest
print(json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


def _record(answers: dict[str, object]) -> Record:
    import datetime

    t = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    return Record(
        record_id=uuid.uuid4(),
        version=1,
        form_id=FORM.id,
        form_version=FORM.version,
        created_at=t,
        modified_at=t,
        lang="ko",
        answers=answers,
    )


def _hostile_records() -> list[Record]:
    """About 60 MiB of records made of one-byte empty maps: as many 1 MiB records as
    the limits allow of each kind (a repeat far over its max_count; an answer under a
    name the form does not have), and many records of 64 KiB, small enough to be decoded
    whole to report their problems. Each list repeats one dict, so that building them
    here costs pointers, not dicts."""
    empty: dict[str, object] = {}
    big, small = [empty] * (MiB - 512), [empty] * (64 * 1024 - 512)
    records = [_record({"consent": "yes", "detention": big}) for _ in range(8)]
    records += [_record({"consent": "yes", "ghost": big}) for _ in range(8)]
    records += [_record({"consent": "yes", "detention": small}) for _ in range(640)]
    return records


def _run(project_dir: Path, bundle_id: uuid.UUID, budget: int) -> dict[str, object]:
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "PYTHONPATH": str(Path.cwd())}
    args = {
        "dir": str(project_dir),
        "passphrase": SECRET.passphrase,
        "bundle": str(bundle_id),
        "now": NOW.isoformat(),
        "budget": budget,
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(args) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_bundle_of_empty_maps_is_quarantined_within_a_memory_limit(project: Project) -> None:
    publish_form(project, FORM, now=NOW, actor="cli:tester")
    key, device_id = enroll_offline(project, now=NOW)
    records = _hostile_records()
    data = seal_for(project, key, device_id, records)
    del records
    assert len(data) > 55 * MiB
    area = UploadArea(project.config.root)
    bid = read_header(io.BytesIO(data)).bundle_id
    for i in range(0, len(data), 8 * MiB):
        area.append(bid, i, data[i : i + 8 * MiB], len(data))
    persist_upload(project, area, bid, device_id, len(data), hashlib.sha256(data).digest(), now=NOW)
    size = len(data)
    del data
    project.close()

    got = _run(project.config.root, bid, FIXED_BUDGET + PER_BYTE * size)
    assert got["state"] == "accepted", got  # opened whole; every record refused
    assert got["quarantined"] == 656
    assert got["reasons"] == ["record does not satisfy its form"]
    print(
        f"bundle {size / MiB:.0f} MiB: peak RSS {int(got['peak_rss']) / MiB:.0f} MiB"  # type: ignore[call-overload]
        f" (address space at rest {int(got['at_rest']) / MiB:.0f} MiB)"  # type: ignore[call-overload]
    )
