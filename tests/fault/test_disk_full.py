"""A full disk: the device gets a clear 507 (retry later), nothing acknowledged is lost,
no partial bundle is merged, the store still opens and its log verifies, and when space
comes back the same upload resumes and is accepted exactly once (issue #6).

The disk fills by injection (``faulty_run.py``), without root: the upload area's writes
hit ENOSPC after a byte budget (the last write short, as on a real disk), or SQLite
fails with SQLITE_FULL on a write statement or on the COMMIT of the durable step.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest
from fault_server import Bundle, Kit, Retry, Server, Uploader, check_store

from schemas.wire import UploadCreate
from syncserver.audit.verify import verify_log

SERVER_ENV = {"SEALSYNC_SERVER_INGEST_PROCESSES": "0"}


def query(root: Path, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    """Read the store of a running server (read-only, as an auditor would)."""
    with sqlite3.connect(f"file:{root / 'store.db'}?mode=ro", uri=True) as c:
        rows = c.execute(sql, args).fetchall()
    c.close()
    return rows


def wait_matched(root: Path) -> None:
    """Until background matching is done (it writes too, and must not take the fault)."""
    deadline = time.monotonic() + 10
    while query(root, "SELECT COUNT(*) FROM respondents WHERE state = 'pending'")[0][0]:
        assert time.monotonic() < deadline, "matching did not finish"
        time.sleep(0.05)


def assert_disk_full_answer(status: int, headers: dict[str, str], raw: bytes) -> None:
    assert status == 507, (status, raw[:200])
    err = msgspec.json.decode(raw)["error"]
    assert err["code"] == "storage_full"
    assert "disk is full" in err["message"]
    assert "try again later" in err["hint"] and "nothing you sent before was lost" in err["hint"]
    assert int(headers["Retry-After"]) > 0


def nothing_of(kit: Kit, b: Bundle) -> None:
    """``b`` left no trace in the store's data or log; the log verifies."""
    bid = b.bundle_id.bytes
    assert query(kit.root, "SELECT COUNT(*) FROM bundles WHERE bundle_id = ?", bid) == [(0,)]
    assert query(kit.root, "SELECT COUNT(*) FROM records WHERE bundle_id = ?", bid) == [(0,)]
    report = verify_log(kit.root / "store.db")
    assert report.ok, report.first_problem


def with_server(tmp_path: Path, body: Callable[[Kit, Server, Uploader], Awaitable[None]]) -> Kit:
    kit = Kit.create(tmp_path, devices=1, bundles_per_device=3, records=4, seed=61)
    server = Server(kit, env=SERVER_ENV)
    server.start()

    async def run() -> None:
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with asyncio.timeout(60):
                await body(kit, server, Uploader(session, server.base, kit))

    try:
        asyncio.run(run())
    finally:
        server.stop()
    return kit


@pytest.mark.slow
def test_upload_area_full_mid_chunk_gives_507_and_resumes_from_the_acked_offset(
    tmp_path: Path,
) -> None:
    acked: dict = {}  # type: ignore[type-arg]

    async def body(kit: Kit, server: Server, up: Uploader) -> None:
        a, b, _ = kit.bundles
        acked[a.bundle_id] = await up.upload_once(a)
        up.chunk = len(b.data) // 3
        create = UploadCreate(bundle_id=b.bundle_id, size=len(b.data), sha256=b.sha256)
        status, _, _ = await up.call(b.device, "POST", "/v1/uploads", msgspec.json.encode(create))
        assert status == 201
        server.fault("disk-budget", str(up.chunk + up.chunk // 2))  # fills in chunk 2
        status, headers, _ = await up.patch(b, 0)
        assert status == 204 and int(headers["Upload-Offset"]) == up.chunk
        for _ in range(2):  # the chunk that fills the disk, then one on a full disk
            assert_disk_full_answer(*await up.patch(b, up.chunk))
        part = kit.root / "uploads" / f"{b.bundle_id}.part"
        assert part.stat().st_size == up.chunk  # the short write was cut back
        status, headers, _ = await up.call(b.device, "GET", f"/v1/uploads/{b.bundle_id}")
        assert status == 200 and int(headers["Upload-Offset"]) == up.chunk
        status, _, _ = await up.call(b.device, "POST", f"/v1/uploads/{b.bundle_id}/complete")
        assert status == 422  # incomplete: never merged
        assert await up.upload_once(a) == acked[a.bundle_id]  # the acked one is intact
        nothing_of(kit, b)

        server.fault("disk-budget", None)  # space is back
        patched_from = []
        real_patch = up.patch

        async def patch(bundle: Bundle, offset: int):  # type: ignore[no-untyped-def]
            patched_from.append(offset)
            return await real_patch(bundle, offset)

        up.patch = patch  # type: ignore[method-assign]
        acked[b.bundle_id] = await up.upload_once(b)
        assert patched_from[0] == up.chunk  # resumed, not started again

    kit = with_server(tmp_path, body)
    check_store(kit, kit.bundles[:2], acked)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["statement", "commit"])
def test_sqlite_full_on_the_durable_step_gives_507_and_completes_once_later(
    tmp_path: Path, where: str
) -> None:
    acked: dict = {}  # type: ignore[type-arg]

    async def body(kit: Kit, server: Server, up: Uploader) -> None:
        a, b, c = kit.bundles
        acked[a.bundle_id] = await up.upload_once(a)
        await asyncio.to_thread(wait_matched, kit.root)
        up.on_complete = lambda: server.fault("sqlite-full", where)  # bytes in, then full
        with pytest.raises(Retry, match="complete answered 507"):
            await up.upload_once(b)
        up.on_complete = None
        assert_disk_full_answer(
            *await up.call(b.device, "POST", f"/v1/uploads/{b.bundle_id}/complete")
        )
        create = UploadCreate(bundle_id=c.bundle_id, size=len(c.data), sha256=c.sha256)
        assert_disk_full_answer(  # announcing another upload: the same clear answer
            *await up.call(c.device, "POST", "/v1/uploads", msgspec.json.encode(create))
        )
        status, headers, _ = await up.call(b.device, "GET", f"/v1/uploads/{b.bundle_id}")
        assert status == 200 and int(headers["Upload-Offset"]) == len(b.data)  # bytes kept
        assert await up.upload_once(a) == acked[a.bundle_id]  # reading still works
        nothing_of(kit, b)

        server.fault("sqlite-full", None)
        acked[b.bundle_id] = await up.upload_once(b)
        acked[c.bundle_id] = await up.upload_once(c)

    kit = with_server(tmp_path, body)
    check_store(kit, kit.bundles, acked)


@pytest.mark.slow
def test_sqlite_full_during_ingest_keeps_the_bundle_and_merges_it_once_later(
    tmp_path: Path,
) -> None:
    acked: dict = {}  # type: ignore[type-arg]

    async def body(kit: Kit, server: Server, up: Uploader) -> None:
        a, b, _ = kit.bundles
        acked[a.bundle_id] = await up.upload_once(a)
        await asyncio.to_thread(wait_matched, kit.root)
        server.fault("sqlite-full", "statement@records")  # the merge, not the durable step
        with pytest.raises(Retry, match="complete answered 507"):
            await up.upload_once(b)
        state = query(kit.root, "SELECT state FROM bundles WHERE bundle_id = ?", b.bundle_id.bytes)
        assert state == [("stored",)]  # durable and logged, not merged, no receipt
        records = "SELECT COUNT(*) FROM records WHERE bundle_id = ?"
        assert query(kit.root, records, b.bundle_id.bytes) == [(0,)]
        assert verify_log(kit.root / "store.db").ok

        server.fault("sqlite-full", None)
        acked[b.bundle_id] = await up.upload_once(b)

    kit = with_server(tmp_path, body)
    check_store(kit, kit.bundles[:2], acked)
