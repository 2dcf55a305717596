"""Benchmark: sealing, opening and validating bundles of the shipped form.

Usage:  .venv/bin/python bench/bench_bundle.py [--records 20000] [--attachment-mb 200]

Prints records/s for seal, open and validate (50-record bundles of synthetic
escapee-interview responses, all in one process, one core), and the peak RSS of sealing
and of opening a large attachment, each measured in a fresh child process. Compare with
the targets in DESIGN.md (seal >= 20,000 records/s; 200 MB attachment in < 100 MB RSS).
The figures go to bench/results/bundle.json (bench/_results.py).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid

from _results import save

from schemas.bundle import DeviceKey, RecipientKey, open_bundle, seal_bundle
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import Validator
from schemas.survey.synth import synthesize
from schemas.wire import Record

PER_BUNDLE = 50


def make_records(n: int) -> list[Record]:
    form = shipped_form("escapee-interview")
    rng = random.Random(7)
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    pool = [synthesize(form, rng, fixed={"consent": "yes"}) for _ in range(200)]
    return [
        Record(
            record_id=new_id(),
            version=1,
            form_id=form.id,
            form_version=form.version,
            created_at=now,
            modified_at=now,
            lang="ko",
            answers=pool[i % len(pool)],
        )
        for i in range(n)
    ]


def throughput(n: int) -> dict[str, float]:
    records = make_records(n)
    project, device = RecipientKey.generate(), DeviceKey.generate(new_id())
    pid = uuid.uuid4()
    t = time.perf_counter()
    bundles = []
    for i in range(0, n, PER_BUNDLE):
        buf = io.BytesIO()
        seal_bundle(
            buf,
            records=records[i : i + PER_BUNDLE],
            device=device,
            recipients=[project.public()],
            project_id=pid,
            device_seq=i // PER_BUNDLE + 1,
        )
        bundles.append(buf.getvalue())
    seal_s = time.perf_counter() - t
    t = time.perf_counter()
    opened = [
        open_bundle(io.BytesIO(b), recipient=project, device_keys=lambda d: device.public)
        for b in bundles
    ]
    open_s = time.perf_counter() - t
    validator = Validator(shipped_form("escapee-interview"))
    t = time.perf_counter()
    bad = sum(1 for o in opened for r in o.records if validator.validate(r.answers))
    val_s = time.perf_counter() - t
    assert bad == 0
    return {
        "records": n,
        "mean_bundle_bytes": sum(map(len, bundles)) / len(bundles),
        "seal_records_per_s": n / seal_s,
        "open_records_per_s": n / open_s,
        "validate_records_per_s": n / val_s,
    }


class Pattern(io.RawIOBase):
    """``size`` bytes of a repeating pattern, generated on the fly (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = bytes(range(256)) * 4096

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = min(len(b), self.left, len(self.block))
        b[:n] = self.block[:n]
        self.left -= n
        return n


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: the latter survives exec and so
    reports the parent's high-water mark in a freshly started child."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_attachment(mb: int, path: str, phase: str) -> dict[str, float]:
    from schemas.bundle import Attachment, DiscardSink

    size = mb * 1024 * 1024
    project = RecipientKey.from_bytes(bytes(range(32)))
    device = DeviceKey(
        uuid.UUID(int=1),
        __import__(
            "cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"]
        ).Ed25519PrivateKey.from_private_bytes(bytes(32)),
    )
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    rec = Record(
        record_id=uuid.UUID(int=2),
        version=1,
        form_id="f",
        form_version=1,
        created_at=now,
        modified_at=now,
        lang="en",
        answers={},
        attachments=("audio.ogg",),
    )
    t = time.perf_counter()
    if phase == "seal":
        with open(path, "wb") as f:
            seal_bundle(
                f,
                records=[rec],
                device=device,
                recipients=[project.public()],
                project_id=uuid.UUID(int=3),
                device_seq=1,
                attachments=[
                    Attachment(
                        rec.record_id,
                        "audio.ogg",
                        "audio/ogg",
                        lambda: io.BufferedReader(Pattern(size)),
                    )
                ],
            )
    else:
        with open(path, "rb") as f:
            open_bundle(
                f, recipient=project, device_keys=lambda d: device.public, sink=DiscardSink()
            )
    secs = time.perf_counter() - t
    rss_mb = peak_rss_mb()
    return {f"{phase}_seconds": secs, f"{phase}_peak_rss_mb": rss_mb}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--attachment-mb", type=int, default=200)
    ap.add_argument("--child", nargs=2, metavar=("PHASE", "PATH"))
    args = ap.parse_args()
    if args.child:
        phase, path = args.child
        print(json.dumps(big_attachment(args.attachment_mb, path, phase)))
        return
    figures = throughput(args.records)
    print(json.dumps(figures, indent=2))
    attachment: dict[str, float] = {"mb": args.attachment_mb}
    path = f"/tmp/sealsync-bench-{os.getpid()}.bundle"
    try:
        for phase in ("seal", "open"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--attachment-mb",
                    str(args.attachment_mb),
                    "--child",
                    phase,
                    path,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            print(json.dumps({"attachment_mb": args.attachment_mb, **json.loads(out)}))
            attachment.update(json.loads(out))
    finally:
        if os.path.exists(path):
            os.unlink(path)
    save(
        "bundle",
        {
            "form": "escapee-interview v1 (shipped)",
            "records_per_bundle": PER_BUNDLE,
            **figures,
            "attachment": attachment,
        },
    )


if __name__ == "__main__":
    main()
