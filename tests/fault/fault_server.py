"""A real ``syncserver`` in a child process, with faults (``faulty_run.py``), and what
the fault tests share: a project with enrolled devices, sealed synthetic bundles, a
signing device client that retries, and the checks of a store after the fact."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import make_record, seal_for
from support.project import NOW, new_project, reopen
from support.syncserver_run import start_syncserver
from support.uploader import DeviceClient, enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.wire import (
    Receipt,
    UploadCreate,
    verify_receipt,
)
from syncserver.audit.entries import decode_entry
from syncserver.audit.log import AuditLog
from syncserver.audit.verify import verify_log
from syncserver.cli import main as syncserver_main

FORM = shipped_form("escapee-interview")
FAULTY_RUN = Path(__file__).resolve().parent / "faulty_run.py"


@dataclass
class Device:
    device_id: uuid.UUID
    key: Ed25519PrivateKey


@dataclass
class Bundle:
    bundle_id: uuid.UUID
    data: bytes
    device: Device

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


@dataclass
class Kit:
    """A project on disk with enrolled devices and bundles sealed for it (synthetic)."""

    root: Path
    key_file: Path
    devices: list[Device]
    bundles: list[Bundle]
    records_per_bundle: int
    signing_public: bytes
    verifier_key: str
    origin: str

    @classmethod
    def create(
        cls, tmp: Path, *, devices: int, bundles_per_device: int, records: int, seed: int
    ) -> Kit:
        key = tmp / "project.key"
        project = new_project(tmp / "p", key_file=key, publish=True, published_at=NOW)
        try:
            rng = random.Random(seed)
            devs, bundles = [], []
            for i in range(devices):
                dkey, dev_id = enroll_offline(project, label=f"laptop-{i}", now=NOW)
                dev = Device(dev_id, dkey)
                devs.append(dev)
                for seq in range(1, bundles_per_device + 1):
                    recs = [
                        make_record(FORM, synthesize(FORM, rng, fixed={"consent": "yes"}))
                        for _ in range(records)
                    ]
                    data = seal_for(project, dkey, dev.device_id, recs, seq=seq)
                    bundles.append(Bundle(read_header(io.BytesIO(data)).bundle_id, data, dev))
            log = AuditLog(project)
            return cls(
                tmp / "p",
                key,
                devs,
                bundles,
                records,
                project.identity.signing_public_bytes(),
                log.verifier_key,
                log.origin,
            )
        finally:
            project.close()

    def check_receipt(self, receipt: Receipt, b: Bundle) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        verify_receipt(
            receipt,
            signing_public=Ed25519PublicKey.from_public_bytes(self.signing_public),
            log_verifier_key=self.verifier_key,
            origin=self.origin,
            bundle_id=b.bundle_id,
            sha256=b.sha256,
        )


class Server:
    """``syncserver run`` under ``faulty_run.py`` in its own process group (the server
    and its ingest workers). Its first start binds port 0 and reports the port it got;
    every restart binds that port again, so that it is restarted in place: the devices
    keep the URL, as they would after a real crash."""

    def __init__(self, kit: Kit, env: dict[str, str] | None = None) -> None:
        self.kit = kit
        self.port = 0  # until the first start reports the port it bound
        self.control = kit.root.parent / "faults"
        self.control.mkdir(exist_ok=True)
        self.log = kit.root.parent / "server.log"
        self.env = {**os.environ, "SEALSYNC_FAULT_DIR": str(self.control), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        assert self.port, "the server has not been started yet: its port is not known"
        return f"http://127.0.0.1:{self.port}"

    def fault(self, name: str, value: str | None) -> None:
        """Switch a fault (a control file of ``faulty_run.py``) on, or off with None."""
        path = self.control / name
        if value is None:
            path.unlink(missing_ok=True)
        else:
            tmp = self.control / f".{name}.test"
            tmp.write_text(value)
            os.replace(tmp, path)  # the server never reads half a file

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and return once it serves (its serving line is read, with a
        deadline). The first start binds port 0 and keeps the port the server reports.
        A restart binds that port again: nothing of ours held it in between, only the
        server that was killed or stopped (its process group is reaped before a
        restart), so another process could take it in that moment; then the restart
        fails with the server's "already in use" in the error, never silently."""
        argv = [sys.executable, str(FAULTY_RUN), "run", "--dir", str(self.kit.root)]
        argv += ["--key-file", str(self.kit.key_file)]
        started = start_syncserver(
            argv, self.log, port=self.port, timeout=timeout, env=self.env, start_new_session=True
        )
        self.proc, self.port = started.proc, started.port

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server and its ingest workers at once (its process group), as a
        power cut or the OOM killer would; wait until they are gone."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self._reap_group()
        self.proc = None

    def stop(self) -> None:
        """SIGTERM (graceful: the workers are stopped and the store closed)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def _reap_group(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def rss_kib(self) -> int:
        """The server process's resident memory (Linux /proc)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


class Retry(Exception):
    """An answer after which a real device waits and tries again."""


@dataclass
class Uploader:
    """A device's upload client, as the collector behaves: resume from the server's
    offset, wait out 429 and 5xx, verify the receipt before counting it."""

    session: aiohttp.ClientSession
    base: str
    kit: Kit
    chunk: int = 4096
    told: dict[uuid.UUID, int] = field(default_factory=dict)  # highest offset acked
    #: awaited between the two halves of every PATCH body (a test hook; None: none)
    mid_body: object = None
    #: called as a ``complete`` request is about to be sent (a test hook; None: none)
    on_complete: object = None

    async def call(
        self,
        dev: Device,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        data: object = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """``dev`` signs and sends (the suite's device client); ``data``, if given, is
        sent in place of ``body`` (a stream of the same bytes)."""
        client = DeviceClient(self.session, self.base, dev.device_id, dev.key)
        r = await client.call(method, path, body, headers, data=data if data is not None else body)
        return r.status, dict(r.headers), await r.read()

    async def patch(self, b: Bundle, offset: int) -> tuple[int, dict[str, str], bytes]:
        chunk = b.data[offset : offset + self.chunk]
        hook = self.mid_body

        async def halves():  # type: ignore[no-untyped-def]
            yield chunk[: len(chunk) // 2]
            if hook is not None:
                await hook()  # type: ignore[operator]
            yield chunk[len(chunk) // 2 :]

        headers = {"Upload-Offset": str(offset), "Content-Length": str(len(chunk))}
        return await self.call(
            b.device, "PATCH", f"/v1/uploads/{b.bundle_id}", chunk, headers=headers, data=halves()
        )

    async def upload_once(self, b: Bundle) -> bytes:
        """One attempt; the receipt's bytes, or :class:`Retry`."""
        create = msgspec.json.encode(
            UploadCreate(bundle_id=b.bundle_id, size=len(b.data), sha256=b.sha256)
        )
        status, _, raw = await self.call(b.device, "POST", "/v1/uploads", create)
        if status not in (200, 201):
            raise Retry(f"create answered {status}")
        offset = int(msgspec.json.decode(raw)["offset"])
        while offset < len(b.data):
            status, headers, raw = await self.patch(b, offset)
            if status == 204 or (status == 409 and "Upload-Offset" in headers):
                offset = int(headers["Upload-Offset"])
                if status == 204:
                    self.told[b.bundle_id] = max(self.told.get(b.bundle_id, 0), offset)
            elif status == 429:
                await asyncio.sleep(0.05)
            else:
                raise Retry(f"PATCH answered {status}")
        if self.on_complete is not None:
            self.on_complete()  # type: ignore[operator]
        status, _, raw = await self.call(b.device, "POST", f"/v1/uploads/{b.bundle_id}/complete")
        if status != 200:
            raise Retry(f"complete answered {status}")
        self.kit.check_receipt(msgspec.json.decode(raw, type=Receipt), b)
        return msgspec.msgpack.encode(msgspec.json.decode(raw, type=Receipt))

    async def deliver(self, b: Bundle, rng: random.Random) -> bytes:
        """Until acknowledged: what a device does with a bundle in its outbox."""
        while True:
            try:
                return await self.upload_once(b)
            except (Retry, aiohttp.ClientError, TimeoutError, ConnectionError):
                await asyncio.sleep(rng.uniform(0.02, 0.1))


def part_or_blob_offset(kit: Kit, b: Bundle) -> int:
    """How many bytes of ``b`` the server holds on disk, read from the files."""
    if (kit.root / "blobs" / b.sha256.hex()).exists():
        return len(b.data)
    part = kit.root / "uploads" / f"{b.bundle_id}.part"
    return part.stat().st_size if part.exists() else 0


def check_store(kit: Kit, delivered: list[Bundle], acked: dict[uuid.UUID, bytes]) -> None:
    """Exactly ``delivered`` are in the store, each once, accepted, with its records
    once and the receipt it was acknowledged with; the log verifies, also by the CLI."""
    project = reopen(kit.root, key_file=kit.key_file)
    try:
        rows = project.store.read_sync(
            lambda c: c.execute("SELECT bundle_id, state, sha256, receipt FROM bundles").fetchall()
        )
        records = project.store.read_sync(
            lambda c: c.execute(
                "SELECT COUNT(*), COUNT(DISTINCT record_id) FROM records"
            ).fetchone()
        )
        entries = project.store.read_sync(
            lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
        )
    finally:
        project.close()
    want = {b.bundle_id: b for b in delivered}
    got = [uuid.UUID(bytes=r[0]) for r in rows]
    assert sorted(got) == sorted(want), "bundles in the store differ from those delivered"
    for bid_raw, state, sha, receipt in rows:
        bid = uuid.UUID(bytes=bid_raw)
        assert state == "accepted", f"bundle {bid} is {state}"
        assert sha == want[bid].sha256
        if bid in acked:
            assert receipt == acked[bid], f"bundle {bid}: receipt changed after the ack"
    n = len(delivered) * kit.records_per_bundle
    assert tuple(records) == (n, n), "records not counted exactly once"
    kinds = [decode_entry(e).kind for (e,) in entries]
    assert kinds.count("upload") == len(delivered), "upload entries not one per bundle"
    assert kinds.count("accept") == n + len(delivered), "accept entries not one per record"
    assert not list((kit.root / "uploads").glob("*.part")), "an upload part was left behind"
    assert len(list((kit.root / "blobs").iterdir())) == len(delivered)
    report = verify_log(kit.root / "store.db")
    assert report.ok, report.first_problem
    assert report.entries == len(entries)
    assert syncserver_main(["audit", "verify", "--dir", str(kit.root)]) == 0
