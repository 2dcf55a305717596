"""The app factory and the entry point (docs/spec/api-v1.md).

``create_app(project)`` returns a ``web.Application``; ``web.run_app`` is called only in
:func:`serve`. Resources live in ``cleanup_ctx``: the service recovers interrupted ingest
at start-up and the store is closed on shutdown.

Slow and hostile clients are bounded by ``[server]`` settings: a connection without a
complete request head after ``idle_timeout_seconds`` is closed (aiohttp's keep-alive
timer also runs from the moment a connection opens), a body must arrive within
``body_timeout_seconds`` (``body_deadline_middleware``), and aiohttp itself refuses a
request line or header over 8190 bytes, more than 128 headers and a body over
``client_max_size``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import logging
import multiprocessing.resource_tracker
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_runner import GracefulExit

from .._time import now
from ..errors import SyncServerError
from ..project import Project
from ..service import Service
from . import _admin, _devices, _forms, _log, _openapi, _uploads
from ._base import (
    AREA,
    CLOCK,
    GATE,
    PROJECT,
    SERVICE,
    Gate,
    body_deadline_middleware,
    error_middleware,
    json_response,
)

__all__ = ["create_app", "serve"]


#: How long to read and drop the rest of a body after answering early (e.g. 413, 408)
#: before closing the connection.
_LINGER_SECONDS = 2.0


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse with a traceback that quotes the bytes
    received: one line naming the error instead, so that a client sending garbage can
    neither fill the log nor write into it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args = "refused a malformed request (%s)", (type(exc).__name__,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


log = logging.getLogger("syncserver")

#: How often stale uploads are looked for (and once at start-up).
EXPIRY_EVERY_SECONDS = 3600.0


async def _expire_open_uploads(service: Service, clock: Callable[[], datetime.datetime]) -> None:
    while True:
        try:
            await asyncio.to_thread(service.expire_open_uploads, clock())
        except Exception:  # never stop the server for housekeeping; try again later
            log.exception("could not expire stale uploads")
        await asyncio.sleep(EXPIRY_EVERY_SECONDS)


def create_app(
    project: Project, *, clock: Callable[[], datetime.datetime] = now
) -> web.Application:
    lim = project.config.limits
    app = web.Application(
        middlewares=[error_middleware, body_deadline_middleware],
        client_max_size=lim.max_chunk_bytes + 64 * 1024,
    )
    service = Service(project, clock=clock)
    app[PROJECT] = project
    app[SERVICE] = service
    app[AREA] = service.area
    app[CLOCK] = clock
    app[GATE] = Gate(
        per_minute=lim.requests_per_minute,
        uploads=lim.uploads_per_device,
        skew=lim.clock_skew_seconds,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        service.recover(clock())
        expiry = asyncio.create_task(_expire_open_uploads(service, clock))
        yield
        expiry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await expiry
        await asyncio.to_thread(service.close)

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/v1/health", _health)
    app.router.add_routes(_devices.routes)
    app.router.add_routes(_uploads.routes)
    app.router.add_routes(_log.routes)
    app.router.add_routes(_forms.routes)
    app.router.add_routes(_openapi.routes)
    app.router.add_routes(_admin.routes)
    return app


def _listen(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for every address of ``host`` (not yet listening): bound here, before
    anything starts, so that a port in use is one clear error and not a traceback."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        raise SyncServerError(
            f"cannot listen on {host}: no such host or address",
            hint="check --host or [server] host in sealsync.toml (e.g. 127.0.0.1)",
        ) from None
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _name, addr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as e:
                raise _bind_error(host, port, e) from None
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def _bind_error(host: str, port: int, e: OSError) -> SyncServerError:
    where = f"{host}:{port}"
    if e.errno == errno.EADDRINUSE:
        return SyncServerError(
            f"{where} is already in use: another syncserver?", hint="stop it or choose --port"
        )
    if e.errno == errno.EACCES:
        return SyncServerError(
            f"not allowed to listen on {where}",
            hint="ports below 1024 need privileges: choose --port 1024 or above (default 8443)",
        )
    if e.errno == errno.EADDRNOTAVAIL:
        return SyncServerError(
            f"{host} is not an address of this machine",
            hint="choose --host 127.0.0.1, or an address this machine has",
        )
    return SyncServerError(
        f"cannot listen on {where} ({e.strerror})", hint="choose another --host or --port"
    )


def _tls(project: Project) -> ssl.SSLContext | None:
    cfg = project.config.server
    if not (cfg.tls_cert and cfg.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(
            project.config.root / cfg.tls_cert, project.config.root / cfg.tls_key
        )
    except (OSError, ssl.SSLError) as e:
        raise SyncServerError(
            f"cannot load the TLS certificate and key ({getattr(e, 'strerror', None) or e})",
            hint="check tls_cert and tls_key in sealsync.toml (PEM files, relative to the"
            " project directory)",
        ) from None
    return context


class _Stop:
    """SIGINT (Ctrl-C) and SIGTERM stop the server gracefully: it stops accepting, lets
    requests finish, stops the ingest workers and closes the store.

    The signals are blocked in every thread and process the server starts from here on
    (the mask is inherited), and taken by one thread with ``sigwait``: so a Ctrl-C, which
    the terminal sends to the whole process group, reaches the server alone, and an ingest
    worker never dies of it with a traceback. The workers end when the server stops them
    (or at once if it is killed). A second signal while stopping ends the process at once.
    Must be entered in the main thread.
    """

    SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.signum: int | None = None
        self._done = False
        self._thread = threading.Thread(target=self._wait, name="stop-signals", daemon=True)

    def __enter__(self) -> _Stop:
        # The resource tracker of the worker processes unblocks these signals in the
        # thread that starts it: start it now, before they are blocked.
        multiprocessing.resource_tracker.ensure_running()
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        # A thread started before this one does not block them: it hands them here.
        self._handlers = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done = True
        if self._thread.ident is not None:
            signal.pthread_kill(self._thread.ident, signal.SIGTERM)  # wakes sigwait
            self._thread.join()
        for s, h in self._handlers.items():
            signal.signal(s, h)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)

    def _handler(self, signum: int, _frame: object) -> None:
        self._request(signum)

    def _wait(self) -> None:
        while True:
            signum = signal.sigwait(self.SIGNALS)
            if self._done:
                return
            self._request(signum)

    def _request(self, signum: int) -> None:
        if self.signum is not None:
            os.write(
                2, b"syncserver: stopped at once; the next start finishes what was in progress\n"
            )
            os._exit(128 + signum)
        self.signum = signum
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(_raise_graceful_exit)


def _raise_graceful_exit() -> None:
    raise GracefulExit()


def _announce(print_fn: Callable[[str], None], line: str) -> None:
    """The serving line, flushed: whoever watches the output (a log, a test, a script
    waiting to connect) sees it at once, even when stdout is a pipe."""
    print_fn(line)
    sys.stdout.flush()


def serve(
    project: Project, *, host: str, port: int, print_fn: Callable[[str], None] = print
) -> int:
    """Run the server until SIGINT or SIGTERM (the only caller of ``web.run_app``), then
    stop it gracefully; return the signal that stopped it. A port in use, an address
    that is not this machine's or an unreadable TLS key is a :class:`SyncServerError`
    before anything starts."""
    cfg = project.config.server
    context = _tls(project)
    socks = _listen(host, port)
    scheme = "https" if context else "http"
    urls = []
    for sock in socks:
        h, p = sock.getsockname()[:2]
        urls.append(f"{scheme}://{f'[{h}]' if ':' in h else h}:{p}")
    logging.getLogger("aiohttp.server").addFilter(_MalformedRequests())
    loop = asyncio.new_event_loop()
    try:
        with _Stop(loop) as stop:
            web.run_app(
                create_app(project),
                sock=socks,
                ssl_context=context,
                keepalive_timeout=cfg.idle_timeout_seconds,
                lingering_time=_LINGER_SECONDS,
                handle_signals=False,
                loop=loop,
                print=lambda _msg: _announce(
                    print_fn,
                    f"serving project {project.project_id} on {', '.join(urls)} (Ctrl-C to stop)",
                ),
            )
    finally:
        for sock in socks:
            sock.close()
        if not loop.is_closed():
            loop.close()
    # No signal seen: a KeyboardInterrupt raised in a thread that did not block SIGINT.
    return stop.signum if stop.signum is not None else int(signal.SIGINT)
