"""``POST /v1/enroll``: online enrollment with a one-time token (docs/spec/api-v1.md §7)."""

from __future__ import annotations

from aiohttp import web

from schemas.wire import EnrollmentRequest

from ..access.devices import enroll_online
from ._base import CLOCK, PROJECT, decode_body, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/v1/enroll")
async def enroll(request: web.Request) -> web.Response:
    req = decode_body(await request.read(), EnrollmentRequest)
    assert isinstance(req, EnrollmentRequest)
    resp = await enroll_online(request.app[PROJECT], req, now=request.app[CLOCK]())
    return json_response(resp, status=201)
