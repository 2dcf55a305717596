"""An aiohttp application served on 127.0.0.1 from a thread of its own, in the test's
process: on port 0, the port read back from the server's own socket (never a port picked
and released). The test's thread keeps its own event loop, so a client that runs its
own (``collector``, a synchronous HTTP client) can talk to it.

    with ThreadServer(lambda: create_app(project)) as server:
        ... server.url ...
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadServer"]


class ThreadServer:
    """An aiohttp application served on 127.0.0.1 (port 0) from a thread of its own, so
    that `collector` can run in the test's thread with its own event loop."""

    def __init__(self, app: Callable[[], Any]) -> None:
        self._app = app
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="thread-server", daemon=True)

    def _run(self) -> None:
        from aiohttp import web

        async def serve() -> None:
            self._stop = asyncio.Event()
            runner = web.AppRunner(self._app())
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(serve())
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self._error = e
            self._ready.set()
        finally:
            self._loop.close()

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        assert self._ready.wait(60), "server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert self._error is None, self._error

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
