"""``POST /v1/enroll``: online enrollment with a one-time token (docs/spec/api-v1.md §7)."""

from __future__ import annotations

from aiohttp import web

from schemas.wire import EnrollmentRequest

from ..access.devices import enroll_tx
from ._base import CLOCK, PROJECT, decode_body, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/v1/enroll")
async def enroll(request: web.Request) -> web.Response:
    req = decode_body(await request.read(), EnrollmentRequest)
    assert isinstance(req, EnrollmentRequest)
    project = request.app[PROJECT]
    if not req.token:
        from ..errors import BadRequest

        raise BadRequest(
            "online enrollment needs a token",
            hint="ask the administrator for one (`syncserver devices token`)",
        )
    resp = await project.store.write(enroll_tx(project, req, how="token", now=request.app[CLOCK]()))
    return json_response(resp, status=201)
