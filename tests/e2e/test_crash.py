"""SIGKILL the server while uploads are in flight; after restart every acknowledged
bundle is present exactly once, the unacknowledged ones complete on retry, nothing is
duplicated, and the audit log verifies (issue #3, "Done when")."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncserver"))

from device_client import DeviceClient  # noqa: E402
from server_helpers import NOW, device_request, make_record, seal_for  # noqa: E402

from schemas.bundle import read_header  # noqa: E402
from schemas.forms import shipped_form  # noqa: E402
from schemas.survey.synth import synthesize  # noqa: E402
from syncserver import devices  # noqa: E402
from syncserver.audit import decode_entry  # noqa: E402
from syncserver.audit_verify import verify_log  # noqa: E402
from syncserver.forms import publish_form  # noqa: E402
from syncserver.identity import Secret  # noqa: E402
from syncserver.project import init_project, open_project  # noqa: E402

FORM = shipped_form("escapee-interview")
BUNDLES, PER_BUNDLE = 16, 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(d: Path, key: Path, port: int) -> subprocess.Popen[bytes]:
    log = d.parent / "server.log"
    argv = [sys.executable, "-m", "syncserver.cli", "run", "--dir", str(d)]
    argv += ["--key-file", str(key), "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")) from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.mark.slow
def test_sigkill_during_uploads_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_bytes(os.urandom(32))
    secret = Secret(key_file=key.read_bytes())
    project = init_project(tmp_path / "p", secret)
    publish_form(project, FORM, now=NOW)
    dkey, req = device_request()
    resp = devices.enroll(project, req, how="file", now=NOW)
    dev = uuid.UUID(bytes=msgspec.msgpack.decode(resp.certificate.body)["device_id"])
    rng = random.Random(9)
    bundles = []
    for seq in range(1, BUNDLES + 1):
        recs = [
            make_record(FORM, synthesize(FORM, rng, fixed={"consent": "yes"}))
            for _ in range(PER_BUNDLE)
        ]
        data = seal_for(project, dkey, dev, recs, seq=seq)
        bundles.append((read_header(io.BytesIO(data)).bundle_id, data))
    project.close()

    port = free_port()
    proc = start(tmp_path / "p", key, port)
    acked: dict[uuid.UUID, bytes] = {}

    async def upload_all(kill_after: int | None) -> None:
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = DeviceClient(session, f"http://127.0.0.1:{port}", dev, dkey)

            async def one(bid: uuid.UUID, data: bytes) -> None:
                try:
                    receipt = await client.upload(bid, data, chunk=4096)
                except (TimeoutError, aiohttp.ClientError, AssertionError):
                    return  # the server died under us: not acknowledged
                acked[bid] = msgspec.msgpack.encode(receipt)
                if kill_after is not None and len(acked) >= kill_after and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)

            await asyncio.gather(*(one(b, d) for b, d in bundles if b not in acked))

    asyncio.run(upload_all(kill_after=5))
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    first_acked = dict(acked)
    assert 5 <= len(first_acked) < BUNDLES  # some acknowledged, some cut off in flight

    proc = start(tmp_path / "p", key, port)  # restart: recovery runs at start-up
    try:
        asyncio.run(upload_all(kill_after=None))  # the device retries what was not acked
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert set(acked) == {b for b, _ in bundles}
    for bid, receipt in first_acked.items():
        assert acked[bid] == receipt  # the same receipt: acknowledged once, kept

    project = open_project(tmp_path / "p", secret)
    try:
        rows = project.store.read_sync(
            lambda c: c.execute("SELECT bundle_id, state, sha256 FROM bundles").fetchall()
        )
        assert sorted(uuid.UUID(bytes=r[0]) for r in rows) == sorted(b for b, _ in bundles)
        assert {r[1] for r in rows} == {"accepted"}
        shas = {b: hashlib.sha256(d).digest() for b, d in bundles}
        assert all(shas[uuid.UUID(bytes=r[0])] == r[2] for r in rows)
        n = project.store.read_sync(
            lambda c: c.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        )
        assert n == BUNDLES * PER_BUNDLE  # every record exactly once
        entries = project.store.read_sync(
            lambda c: c.execute("SELECT idx, entry, leaf_hash FROM audit ORDER BY idx").fetchall()
        )
        kinds = [decode_entry(e).kind for _, e, _ in entries]
        assert kinds.count("upload") == BUNDLES  # each bundle logged once, crash or not
        assert [i for i, _, _ in entries] == list(range(len(entries)))
        assert all(hashlib.sha256(b"\x00" + e).digest() == h for _, e, h in entries)
    finally:
        project.close()
    report = verify_log(tmp_path / "p" / "store.db")  # the independent verifier agrees
    assert report.ok, report.first_problem
    assert report.entries == len(entries) and report.checkpoints >= 1
