"""Idempotent, resumable uploads (docs/spec/api-v1.md §4).

POST  /v1/uploads                    announce {bundle_id, size, sha256}
HEAD  /v1/uploads/{id}               current offset in Upload-Offset
GET   /v1/uploads/{id}               the same, as a body
PATCH /v1/uploads/{id}               append at Upload-Offset
POST  /v1/uploads/{id}/complete      verify, persist durably, ingest, receipt
"""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from schemas.ids import parse_id
from schemas.wire import UploadCreate, UploadState

from .._time import ms
from ..errors import BadRequest, NotFound, RateLimited, TooLarge, UploadConflict
from ..store import Tx, Upload
from ._base import AREA, CLOCK, GATE, PROJECT, SERVICE, authenticate, decode_body, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


def _bundle_id(request: web.Request) -> uuid.UUID:
    try:
        return parse_id(request.match_info["bundle_id"])
    except ValueError:
        raise NotFound("no such upload") from None


async def _upload_row(
    request: web.Request, bundle_id: uuid.UUID, device_id: uuid.UUID
) -> tuple[int, bytes, int | None]:
    row = await request.app[PROJECT].store.read(lambda tx: tx.uploads.get(bundle_id))
    if row is None or row.device_id != device_id:
        raise NotFound("no such upload", hint="create it with POST /v1/uploads")
    return row.size, row.sha256, row.completed_ms


@routes.post("/v1/uploads")
async def create(request: web.Request) -> web.Response:
    body = await request.read()
    device = await authenticate(request, body)
    up = decode_body(body, UploadCreate)
    assert isinstance(up, UploadCreate)
    project, area = request.app[PROJECT], request.app[AREA]
    limit = project.config.limits.max_bundle_bytes
    if up.size > limit:
        raise TooLarge(
            f"bundle of {up.size} bytes is over the limit of {limit}",
            hint="seal fewer records or attachments per bundle (collector seal --max-bytes)",
        )
    now_ms = ms(request.app[CLOCK]())

    def tx(tx: Tx) -> Upload | None:
        row = tx.uploads.get(up.bundle_id)
        if row is None:
            n = tx.uploads.open_count(device.device_id)
            if n >= project.config.limits.open_uploads_per_device:
                raise RateLimited(
                    f"this device has {n} uploads announced and not completed",
                    hint="complete (or wait for) the uploads already started, then try again",
                    retry_after=60,
                )
            tx.uploads.announce(up.bundle_id, device.device_id, up.size, up.sha256, now_ms)
            return None
        return row

    row = await project.store.write(tx)
    if row is None:
        return json_response(UploadState(bundle_id=up.bundle_id, size=up.size, offset=0), 201)
    size, sha, completed = row.size, row.sha256, row.completed_ms
    if sha != up.sha256 or size != up.size or row.device_id != device.device_id:
        raise UploadConflict(
            "this bundle id is already taken by other bytes",
            hint="a bundle id is used once; seal the records again into a new bundle",
        )
    offset = size if completed else area.held(up.bundle_id, size, sha)
    return json_response(
        UploadState(bundle_id=up.bundle_id, size=size, offset=offset, complete=bool(completed))
    )


@routes.get("/v1/uploads/{bundle_id}")
async def state(request: web.Request) -> web.Response:
    device = await authenticate(request, await request.read())
    bundle_id = _bundle_id(request)
    size, sha, completed = await _upload_row(request, bundle_id, device.device_id)
    offset = size if completed else request.app[AREA].held(bundle_id, size, sha)
    st = UploadState(bundle_id=bundle_id, size=size, offset=offset, complete=bool(completed))
    return json_response(st, headers={"Upload-Offset": str(offset)})


@routes.patch("/v1/uploads/{bundle_id}")
async def append(request: web.Request) -> web.Response:
    try:
        offset = int(request.headers["Upload-Offset"])
    except (KeyError, ValueError):
        raise BadRequest("missing or bad Upload-Offset header") from None
    body = await request.read()
    device = await authenticate(request, body)
    bundle_id = _bundle_id(request)
    size, _sha, completed = await _upload_row(request, bundle_id, device.device_id)
    if completed:
        raise UploadConflict(
            "this upload is already complete", headers={"Upload-Offset": str(size)}
        )
    gate = request.app[GATE]
    gate.enter(device.device_id)
    try:
        new = await asyncio.to_thread(request.app[AREA].append, bundle_id, offset, body, size)
    finally:
        gate.leave(device.device_id)
    return web.Response(status=204, headers={"Upload-Offset": str(new)})


@routes.post("/v1/uploads/{bundle_id}/complete")
async def complete(request: web.Request) -> web.Response:
    device = await authenticate(request, await request.read())
    bundle_id = _bundle_id(request)
    size, sha, _completed = await _upload_row(request, bundle_id, device.device_id)
    receipt = await request.app[SERVICE].complete_upload(
        bundle_id, device.device_id, size, sha, now=request.app[CLOCK]()
    )
    return json_response(receipt)
