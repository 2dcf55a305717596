"""Uploads through several servers on one PostgreSQL database (issue 12, "Several
servers"): the blob store is the database, so a device resumes on any server at the
offset another one acknowledged, a ``complete`` sent to two servers at once gives one
bundle and one receipt, the ingest workers of each server read the bundles from the
database, and expiry removes an upload's bytes wherever they arrived. Two servers are one
project opened twice, each with its own service."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from support.bundles import make_record, seal_for
from support.postgres import fresh_schema
from support.project import ACTOR, FAST_KDF, FORM, NOW, SECRET
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.survey.synth import synthesize
from schemas.wire import Receipt, ReceiptBody, UploadCreate
from syncserver.audit.entries import decode_entry
from syncserver.errors import NotFound, UploadConflict
from syncserver.forms import publish_form
from syncserver.project import Project, init_project, open_project
from syncserver.project.config import Config, ServerSettings, StoreSettings
from syncserver.service import Service
from syncserver.store import BundleState

pytestmark = pytest.mark.postgres


class Servers:
    def __init__(self, a: Project, b: Project) -> None:
        self.projects = (a, b)
        # Server A opens bundles in a worker process (reading them from the database
        # itself), server B in its own threads.
        self.a = Service(a)
        self.b = Service(b)
        self.key, self.device = enroll_offline(a, now=NOW, actor=ACTOR)
        self.seq = 0

    def bundle(self, n: int = 2) -> tuple[UploadCreate, bytes]:
        self.seq += 1
        rng = random.Random(self.seq)
        records = [
            make_record(FORM, synthesize(FORM, rng, fixed={"consent": "yes"})) for _ in range(n)
        ]
        data = seal_for(self.projects[0], self.key, self.device, records, seq=self.seq)
        bid = read_header(io.BytesIO(data)).bundle_id
        return UploadCreate(
            bundle_id=bid, size=len(data), sha256=hashlib.sha256(data).digest()
        ), data


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with fresh_schema() as url:
        root = tmp_path / "proj"
        config = Config(store=StoreSettings(url=url))
        a = init_project(root, SECRET, kdf=FAST_KDF, actor=ACTOR, config=config)
        a.config = msgspec.structs.replace(a.config, server=ServerSettings(ingest_processes=1))
        publish_form(a, FORM, now=NOW, actor=ACTOR)
        b = open_project(root, SECRET)
        b.config = msgspec.structs.replace(b.config, server=ServerSettings(ingest_processes=0))
        s = Servers(a, b)
        try:
            yield s
        finally:
            s.a.close()
            s.b.close()
            b.close()
            a.close()
    assert not (root / "blobs").exists() or not any((root / "blobs").iterdir())
    assert not (root / "uploads").exists()  # nothing of a PostgreSQL project on disk


def test_a_device_resumes_on_another_server_at_the_offset_acknowledged(servers: Servers) -> None:
    up, data = servers.bundle()
    dev = servers.device

    async def run() -> Receipt:
        state, new = await servers.a.announce(dev, up, now=NOW)
        assert new and state.offset == 0
        cut = len(data) // 2
        row = await servers.a.upload(dev, up.bundle_id)
        assert await servers.a.append(row, 0, data[:cut]) == cut
        # The connection drops; the device asks server B where it stands.
        state, new = await servers.b.announce(dev, up, now=NOW)
        assert not new and state.offset == cut
        assert (await servers.b.upload_state(dev, up.bundle_id)).offset == cut
        row = await servers.b.upload(dev, up.bundle_id)
        with pytest.raises(UploadConflict) as e:
            await servers.b.append(row, 0, data[:cut])  # what A took already
        assert e.value.headers == {"Upload-Offset": str(cut)}
        assert await servers.b.append(row, cut, data[cut:]) == len(data)
        return await servers.a.complete_upload(up.bundle_id, dev, up.size, up.sha256, now=NOW)

    receipt = asyncio.run(run())
    assert servers.a.preparers._pool is not None  # server A opened it in a worker
    body = msgspec.msgpack.decode(receipt.body, type=ReceiptBody)
    assert (body.bundle_id, body.sha256, body.size) == (up.bundle_id, up.sha256, up.size)
    state = asyncio.run(servers.b.upload_state(dev, up.bundle_id))
    assert state.complete and state.offset == len(data)
    bundle = servers.projects[1].store.read_sync(lambda tx: tx.bundles.get(up.bundle_id))
    assert bundle is not None and bundle.state is BundleState.ACCEPTED
    blobs = servers.projects[1].blobs
    with blobs.open(blobs.blob(up.sha256)) as f:
        assert f.read() == data  # read back on the other server


def test_complete_on_two_servers_at_once_gives_one_bundle_and_one_receipt(
    servers: Servers,
) -> None:
    up, data = servers.bundle()
    dev = servers.device

    async def run() -> list[Receipt]:
        await servers.a.announce(dev, up, now=NOW)
        row = await servers.a.upload(dev, up.bundle_id)
        await servers.a.append(row, 0, data)
        return await asyncio.gather(
            servers.a.complete_upload(up.bundle_id, dev, up.size, up.sha256, now=NOW),
            servers.b.complete_upload(up.bundle_id, dev, up.size, up.sha256, now=NOW),
        )

    first, second = asyncio.run(run())
    assert msgspec.msgpack.encode(first) == msgspec.msgpack.encode(second)
    entries = servers.projects[0].store.read_sync(lambda tx: tx.audit.latest(1000))
    kinds = [(d.kind, d.subject) for d in (decode_entry(e.entry) for e in entries)]
    assert kinds.count(("upload", str(up.bundle_id))) == 1
    assert servers.projects[0].blobs.offset(up.bundle_id) == 0  # the part became the blob


def test_expiry_removes_the_bytes_whichever_server_took_them(servers: Servers) -> None:
    up, data = servers.bundle()
    dev = servers.device

    async def start() -> None:
        await servers.a.announce(dev, up, now=NOW)
        row = await servers.a.upload(dev, up.bundle_id)
        await servers.a.append(row, 0, data[:100])

    asyncio.run(start())
    days = servers.projects[1].config.limits.open_upload_days
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days + 1)
    assert servers.b.expire_open_uploads(later) == 1
    assert servers.projects[0].blobs.offset(up.bundle_id) == 0
    with pytest.raises(NotFound):
        asyncio.run(servers.a.upload_state(dev, up.bundle_id))
    assert servers.projects[0].blobs.touched_ms(up.bundle_id) is None


def test_a_bundle_missing_from_the_database_is_quarantined_with_its_reason(
    servers: Servers,
) -> None:
    """As with a blob missing from DIR/blobs (test_ingest_hardening.py): the bundle is
    quarantined with a reason a person can read, and the other bundles go on."""
    import psycopg

    from syncserver.ingest import Preparer, persist_upload, recover

    project = servers.projects[1]
    gone, kept = servers.bundle(), servers.bundle()
    for up, data in (gone, kept):
        asyncio.run(servers.a.announce(servers.device, up, now=NOW))
        project.blobs.append(up.bundle_id, 0, data, up.size)
        persist_upload(
            project, project.blobs, up.bundle_id, servers.device, up.size, up.sha256, now=NOW
        )
    url = project.config.store.url
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM blob_chunks WHERE sha256 = %s", (gone[0].sha256,))
    reports = recover(project, project.blobs, Preparer.for_project(project), now=NOW)
    by_id = {r.bundle_id: r for r in reports}
    assert by_id[gone[0].bundle_id].reasons == [
        f"the stored bundle is missing ({gone[0].sha256.hex()} in blob_chunks)"
    ]
    assert by_id[kept[0].bundle_id].state is BundleState.ACCEPTED
