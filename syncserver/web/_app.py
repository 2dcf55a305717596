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
import logging
import ssl
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

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


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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
    project: Project, *, clock: Callable[[], datetime.datetime] = _utcnow
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


def serve(
    project: Project, *, host: str, port: int, print_fn: Callable[[str], None] = print
) -> None:
    """Run the server until interrupted (the only caller of ``web.run_app``)."""
    cfg = project.config.server
    context = None
    if cfg.tls_cert and cfg.tls_key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(
            project.config.root / cfg.tls_cert, project.config.root / cfg.tls_key
        )
    logging.getLogger("aiohttp.server").addFilter(_MalformedRequests())
    web.run_app(
        create_app(project),
        host=host,
        port=port,
        ssl_context=context,
        keepalive_timeout=cfg.idle_timeout_seconds,
        lingering_time=_LINGER_SECONDS,
        print=lambda _msg: print_fn(
            f"serving project {project.project_id} on "
            f"{'https' if context else 'http'}://{host}:{port}"
        ),
    )
