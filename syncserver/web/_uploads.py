"""Idempotent, resumable uploads (docs/spec/api-v1.md §4).

POST  /v1/uploads                    announce {bundle_id, size, sha256}
HEAD  /v1/uploads/{id}               current offset in Upload-Offset
GET   /v1/uploads/{id}               the same, as a body
PATCH /v1/uploads/{id}               append at Upload-Offset
POST  /v1/uploads/{id}/complete      verify, persist durably, ingest, receipt
"""

from __future__ import annotations

import uuid

from aiohttp import web

from schemas.ids import parse_id
from schemas.wire import UploadCreate

from ..errors import BadRequest, NotFound
from ._base import CLOCK, GATE, SERVICE, authenticate, decode_body, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


def _bundle_id(request: web.Request) -> uuid.UUID:
    try:
        return parse_id(request.match_info["bundle_id"])
    except ValueError:
        raise NotFound("no such upload") from None


@routes.post("/v1/uploads")
async def create(request: web.Request) -> web.Response:
    body = await request.read()
    device = await authenticate(request, body)
    up = decode_body(body, UploadCreate)
    assert isinstance(up, UploadCreate)
    st, new = await request.app[SERVICE].announce(device.device_id, up, now=request.app[CLOCK]())
    return json_response(st, 201 if new else 200)


@routes.get("/v1/uploads/{bundle_id}")
async def state(request: web.Request) -> web.Response:
    device = await authenticate(request, await request.read())
    st = await request.app[SERVICE].upload_state(device.device_id, _bundle_id(request))
    return json_response(st, headers={"Upload-Offset": str(st.offset)})


@routes.patch("/v1/uploads/{bundle_id}")
async def append(request: web.Request) -> web.Response:
    try:
        offset = int(request.headers["Upload-Offset"])
    except (KeyError, ValueError):
        raise BadRequest("missing or bad Upload-Offset header") from None
    body = await request.read()
    device = await authenticate(request, body)
    service = request.app[SERVICE]
    row = await service.upload(device.device_id, _bundle_id(request))
    gate = request.app[GATE]
    gate.enter(device.device_id)
    try:
        new = await service.append(row, offset, body)
    finally:
        gate.leave(device.device_id)
    return web.Response(status=204, headers={"Upload-Offset": str(new)})


@routes.post("/v1/uploads/{bundle_id}/complete")
async def complete(request: web.Request) -> web.Response:
    device = await authenticate(request, await request.read())
    service = request.app[SERVICE]
    row = await service.upload(device.device_id, _bundle_id(request))
    receipt = await service.complete_upload(
        row.bundle_id, device.device_id, row.size, row.sha256, now=request.app[CLOCK]()
    )
    return json_response(receipt)
