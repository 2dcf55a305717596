"""The app factory and the entry point (docs/spec/api-v1.md).

``create_app(project)`` returns a ``web.Application``; ``web.run_app`` is called only in
:func:`serve`. Resources live in ``cleanup_ctx``: the service recovers interrupted ingest
at start-up and the store is closed on shutdown.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ..project import Project
from ..service import Service
from . import _admin, _devices, _forms, _log, _openapi, _uploads
from ._base import AREA, CLOCK, GATE, PROJECT, SERVICE, Gate, error_middleware, json_response

__all__ = ["create_app", "serve"]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def create_app(
    project: Project, *, clock: Callable[[], datetime.datetime] = _utcnow
) -> web.Application:
    lim = project.config.limits
    app = web.Application(
        middlewares=[error_middleware], client_max_size=lim.max_chunk_bytes + 64 * 1024
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
        yield
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
    web.run_app(
        create_app(project),
        host=host,
        port=port,
        ssl_context=context,
        print=lambda _msg: print_fn(
            f"serving project {project.project_id} on "
            f"{'https' if context else 'http'}://{host}:{port}"
        ),
    )
