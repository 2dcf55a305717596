"""``GET /v1/forms``: the signed set of published forms (docs/spec/api-v1.md §6)."""

from __future__ import annotations

from aiohttp import web

from ..forms import signed_form_set
from ._base import CLOCK, PROJECT, authenticate, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1/forms")
async def forms(request: web.Request) -> web.Response:
    await authenticate(request, await request.read())
    signed = await signed_form_set(request.app[PROJECT], now=request.app[CLOCK]())
    return json_response(signed)
