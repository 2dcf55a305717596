"""The real server in the test's own event loop, on 127.0.0.1, port 0.

    async with serve(project) as srv:
        client, response = await srv.enroll()
        receipt = await client.upload(bundle_id, data)
        ... srv.base, srv.session, srv.app ...

:func:`serve` runs ``syncserver.web.create_app(project)`` (or an app the test built from
it) with aiohttp's ``AppRunner`` and ``TCPSite`` and hands out the base URL, the project
and a client session. :func:`listen` is the part that serves: any aiohttp application
(a stand-in server a client test needs), on port 0, the port read back from the socket
the server bound (never a port picked and released: another process could take it in
between)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from schemas.wire import EnrollmentResponse
from syncserver.project import Project
from syncserver.web import create_app

from .project import ACTOR
from .uploader import DeviceClient

__all__ = ["Served", "listen", "serve"]


@asynccontextmanager
async def listen(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (port 0) until the block ends: its base URL,
    ``http://127.0.0.1:PORT``. The app is cleaned up (its ``cleanup_ctx`` run) after."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Served:
    """A project served in-process: where (``base``), and a client ``session`` (closed
    before the server stops). ``app`` is the running application."""

    project: Project
    base: str
    session: aiohttp.ClientSession
    app: web.Application

    async def enroll(
        self, label: str = "laptop-1", *, token_label: str = "kit", actor: str = ACTOR
    ) -> tuple[DeviceClient, EnrollmentResponse]:
        """A new device enrolled online (:meth:`DeviceClient.enroll`)."""
        return await DeviceClient.enroll(
            self.session,
            self.base,
            self.project,
            label=label,
            token_label=token_label,
            actor=actor,
        )


@asynccontextmanager
async def serve(
    project: Project, *, app: web.Application | None = None, timeout: float = 30
) -> AsyncIterator[Served]:
    """Serve ``project`` (``app``: an application made from it by the test, default
    ``create_app(project)``) on 127.0.0.1, port 0, with a client session whose requests
    time out after ``timeout`` seconds. The project stays open: its owner closes it."""
    app = create_app(project) if app is None else app
    async with listen(app) as base:
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            yield Served(project, base, session, app)
