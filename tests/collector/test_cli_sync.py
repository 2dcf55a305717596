"""`collector sync` tells the truth, at once (issue 11).

With the server unreachable it waited ~51 s in silence, then printed "0 uploaded,
receipts verified, local copies deleted". Now every retry is told as it starts (why,
how long, which try), the sync stops once the server cannot be reached, and the summary
says what was uploaded and what is kept. Small bundles' progress moves in KiB or bytes;
a stalled transfer is told and retried. "Unreachable" is a port bound, noted and closed;
the backoff is shortened so the tests are fast."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kit_cli_helpers import (
    ACTOR,
    ServedProject,
    answered_draft,
    closed_port,
    enroll_kit_offline,
    kit_env,
    new_kit,
    open_kit,
)
from support.project import new_project
from support.server import listen

from collector import sync as sync_module
from collector.cli import main as collector
from syncserver.project import Project


def cli(home: Path, *args: str) -> int:
    return collector(["--home", str(home), *args])


def sealed_kit(tmp_path: Path, url: str, bundles: int, project: Project | None = None) -> Path:
    """A kit enrolled (offline) with ``project`` (a new one if None), naming ``url``,
    holding ``bundles`` sealed bundles of one interview each."""
    home = tmp_path / "kit"
    kit = new_kit(home)
    if project is None:
        offline = new_project(tmp_path / "srv-offline", actor=ACTOR)
        enroll_kit_offline(kit, offline, url)
        offline.close()
    else:
        enroll_kit_offline(kit, project, url)
    for seed in range(bundles):
        kit.finalize(answered_draft(kit, seed))
    assert len(kit.seal(max_records=1)) == bundles
    return home


def test_sync_with_the_server_unreachable_says_so_at_once_and_honestly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    monkeypatch.setattr(sync_module, "FIRST_DELAY", 0.001)
    url = f"http://127.0.0.1:{closed_port()}"
    home = sealed_kit(tmp_path, url, 3)
    assert cli(home, "sync") == 1
    out = capsys.readouterr()
    waits = ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064"]
    assert out.err == "".join(
        f"server unreachable (connection refused): retrying in {w} s, attempt {n} of 8\n"
        for n, w in enumerate(waits, start=2)
    ) + (
        f"collector: nothing answers at {url} (connection refused), after 8 tries\n"
        "hint: check that the server is running and that the address and port are right; "
        "if this laptop is offline, try again when it is online\n"
    )
    assert out.out.splitlines()[-1] == (
        "0 of 3 bundles uploaded; all 3 are kept on this laptop: the server could not be "
        "reached. Run `collector sync` again when online."
    )
    assert "receipts verified" not in out.out and "deleted" not in out.out
    kit = open_kit(home)
    assert len(kit.outbox()) == 3 and kit.vault.list("receipt") == []
    assert kit.status().last_sync is None  # the server was never there


def test_sync_says_what_it_uploaded_and_small_bundles_progress_in_kib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    with ServedProject(tmp_path / "srv") as server:
        home = sealed_kit(tmp_path, server.url, 0, server.project)
        assert cli(home, "sync") == 0
        assert capsys.readouterr().out == "nothing to upload\n"
        kit = open_kit(home)
        for seed in range(3):
            kit.finalize(answered_draft(kit, seed))
        kit.seal(max_records=1)
        sizes = [e.size for e in kit.outbox()]
        assert max(sizes) < 1024 * 1024  # small bundles: the old bar showed 0.0/0.0 MiB
        assert cli(home, "sync") == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.splitlines()[-1] == "3 uploaded; receipts verified; local copies deleted"
    bars = re.findall(r"bundle (\d)/3  ([\d.]+)/([\d.]+) (\w+)", out.out)
    assert {unit for *_, unit in bars} == {"KiB"}
    done = [(n, d) for n, d, total, _ in bars if d == total]
    assert [n for n, _ in done] == ["1", "2", "3"]  # each bundle's bar reaches its size
    assert sorted(float(d) for _, d in done) == sorted(round(s / 1024, 1) for s in sizes)
    assert "0.0/0.0" not in out.out
    assert open_kit(home).outbox() == []


# -- the retry loop itself ---------------------------------------------------------------------


class Told(Exception):
    def __init__(self, retry: object) -> None:
        self.retry = retry


def client(session: aiohttp.ClientSession, url: str, **kw: object) -> sync_module.SyncClient:
    pins = sync_module.Pins(signing_public=bytes(32), log_origin="synthetic.example/log")
    key = Ed25519PrivateKey.generate()
    return sync_module.SyncClient(session, url, uuid.uuid4(), key, pins, **kw)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
        yield s


@pytest.mark.asyncio
async def test_the_first_retry_is_told_before_any_wait(session: aiohttp.ClientSession) -> None:
    """The backoff is an hour: the test would hang if the retry were told after it."""

    def hook(r: object) -> None:
        raise Told(r)

    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(Told) as told:
        await client(session, url, first_delay=3600, on_retry=hook)._call("POST", "/v1/uploads")
    assert str(told.value.retry) == (
        "server unreachable (connection refused): retrying in 3600 s, attempt 2 of 8"
    )


@pytest.mark.asyncio
async def test_a_stalled_transfer_is_told_and_retried() -> None:
    """The first append gets no answer (the server holds it): the client's read timeout
    ends it, the stall is told, and the retry goes through."""
    held = asyncio.Event()
    calls = 0

    async def patch(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await request.read()
        if calls == 1:
            await held.wait()  # never set: the transfer stalls
        return web.Response(status=204, headers={"Upload-Offset": "5"})

    app = web.Application()
    app.router.add_patch("/v1/uploads/{id}", patch)
    retries: list[object] = []
    async with listen(app) as url:
        try:
            timeout = aiohttp.ClientTimeout(total=30, sock_read=0.2)
            async with aiohttp.ClientSession(timeout=timeout) as s:
                c = client(s, url, first_delay=0, on_retry=retries.append)
                status, _, headers = await c._call("PATCH", "/v1/uploads/x", b"bytes")
        finally:
            held.set()  # before the server stops: it waits for the held request
    assert (status, headers["Upload-Offset"], calls) == (204, "5", 2)
    assert [str(r) for r in retries] == [
        "the transfer stalled (no answer in time): retrying in 0 s, attempt 2 of 8"
    ]


@pytest.mark.asyncio
async def test_a_failing_server_and_a_tls_mismatch_end_in_server_unavailable(
    session: aiohttp.ClientSession,
) -> None:
    async def busy(request: web.Request) -> web.Response:
        body = {"error": {"code": "busy", "message": "synthetic overload"}}
        return web.json_response(body, status=503, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_post("/v1/uploads", busy)
    retries: list[object] = []
    async with listen(app) as url:
        with pytest.raises(sync_module.ServerUnavailable) as failing:
            await client(session, url, attempts=3, on_retry=retries.append)._call(
                "POST", "/v1/uploads"
            )
        with pytest.raises(sync_module.ServerUnavailable) as mismatch:  # https:// to a plain server
            await client(session, "https" + url[4:], on_retry=retries.append)._call(
                "POST", "/v1/uploads"
            )
    assert [str(r) for r in retries] == [
        "server error (HTTP 503): retrying in 0 s, attempt 2 of 3",
        "server error (HTTP 503): retrying in 0 s, attempt 3 of 3",
    ]  # and none for the mismatch: waiting cannot mend it
    e = failing.value
    assert (e.transient, e.reached) == (True, True)
    assert e.message == (
        f"the server at {url} kept failing: server answered 503: synthetic overload, after 3 tries"
    )
    e = mismatch.value
    assert (e.transient, e.reached) == (False, False)
    assert e.message == f"the server at https{url[4:]} does not speak TLS"
