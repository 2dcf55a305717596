"""Audit log endpoints (docs/spec/api-v1.md §5, audit-log-v1.md).

GET /v1/log/key                        origin and verifier key
GET /v1/log/checkpoint                 the latest signed checkpoint (text/plain)
GET /v1/log/consistency?from=N&to=M    consistency proof between two tree sizes
"""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from ..errors import BadRequest
from ._base import SERVICE, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


class LogKey(msgspec.Struct, frozen=True):
    origin: str
    verifier_key: str


class ConsistencyProof(msgspec.Struct, frozen=True):
    size1: int
    size2: int
    proof: list[bytes]


@routes.get("/v1/log/key")
async def key(request: web.Request) -> web.Response:
    log = request.app[SERVICE].log
    return json_response(LogKey(origin=log.origin, verifier_key=log.verifier_key))


@routes.get("/v1/log/checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    _size, _root, note = await asyncio.to_thread(request.app[SERVICE].log.checkpoint)
    return web.Response(text=note, content_type="text/plain", charset="utf-8")


@routes.get("/v1/log/consistency")
async def consistency(request: web.Request) -> web.Response:
    try:
        size1, size2 = int(request.query["from"]), int(request.query["to"])
    except (KeyError, ValueError):
        raise BadRequest("give ?from=N&to=M, two tree sizes") from None
    proof = await asyncio.to_thread(request.app[SERVICE].log.consistency_proof, size1, size2)
    return json_response(ConsistencyProof(size1=size1, size2=size2, proof=proof))
