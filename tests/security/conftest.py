"""Fixtures for the threat model's own tests (docs/threat-model.md): a project in
tmp_path with a cheap KDF and the shipped form published, and the real server on
127.0.0.1 (random port). Helpers live in ``security_helpers``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from security_helpers import FAST_KDF, FORM, SECRET, Server, now

from syncserver.forms import publish_form
from syncserver.project import Project, init_project
from syncserver.web import create_app


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    p = init_project(tmp_path / "proj", SECRET, kdf=FAST_KDF, actor="cli:tester")
    publish_form(p, FORM, now=now(), actor="cli:tester")
    try:
        yield p
    finally:
        p.close()


@pytest_asyncio.fixture
async def server(project: Project) -> AsyncIterator[Server]:
    runner = web.AppRunner(create_app(project))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Server(project, f"http://127.0.0.1:{port}", session)
    await runner.cleanup()
