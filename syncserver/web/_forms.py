"""``GET /v1/forms``: the signed set of published forms (docs/spec/api-v1.md §6)."""

from __future__ import annotations

import sqlite3

from aiohttp import web

from schemas.wire import FormSet, PublishedFormDoc, sign_formset

from ._base import CLOCK, PROJECT, authenticate, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1/forms")
async def forms(request: web.Request) -> web.Response:
    await authenticate(request, await request.read())
    project = request.app[PROJECT]

    def read(conn: sqlite3.Connection) -> list[PublishedFormDoc]:
        return [
            PublishedFormDoc(form_id=r[0], version=r[1], digest=r[2], document=r[3])
            for r in conn.execute(
                "SELECT form_id, version, digest, document FROM forms ORDER BY form_id, version"
            )
        ]

    docs = await project.store.read(read)
    signed = sign_formset(
        FormSet(issued_at=request.app[CLOCK](), forms=docs), project.identity.signing
    )
    return json_response(signed)
