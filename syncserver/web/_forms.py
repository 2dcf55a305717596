"""``GET /v1/forms``: the signed set of published forms (docs/spec/api-v1.md §6)."""

from __future__ import annotations

from aiohttp import web

from schemas.wire import FormSet, PublishedFormDoc, sign_formset

from ..store import Tx
from ._base import CLOCK, PROJECT, authenticate, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1/forms")
async def forms(request: web.Request) -> web.Response:
    await authenticate(request, await request.read())
    project = request.app[PROJECT]

    def read(tx: Tx) -> list[PublishedFormDoc]:
        return [
            PublishedFormDoc(
                form_id=f.form_id, version=f.version, digest=f.digest, document=f.document
            )
            for f in tx.forms.all()
        ]

    docs = await project.store.read(read)
    signed = sign_formset(
        FormSet(issued_at=request.app[CLOCK](), forms=docs), project.identity.signing
    )
    return json_response(signed)
