"""Admin endpoints, role-scoped (docs/spec/api-v1.md §10).

GET  /v1/admin/audit?kind=&limit=          auditor
GET  /v1/admin/quarantine                  manager
GET  /v1/admin/records/{id}                manager; ?sensitive=1 needs admin (logged)
POST /v1/admin/records/{id}/review         manager   {"state": "approved"}
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal

import msgspec
from aiohttp import web

from schemas.ids import parse_id

from ..access.admin_tokens import Role, authorize
from ..audit.log import recent_entries
from ..errors import BadRequest, NotFound
from ..records.review import ReviewState, list_quarantine, record_history, set_review
from ._base import CLOCK, PROJECT, decode_body, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


async def _who(request: web.Request, need: Role) -> tuple[str, str]:
    return await authorize(request.app[PROJECT], request.headers.get("Authorization"), need)


def _record_id(request: web.Request) -> uuid.UUID:
    try:
        return parse_id(request.match_info["record_id"])
    except ValueError:
        raise NotFound("no such record") from None


@routes.get("/v1/admin/audit")
async def audit(request: web.Request) -> web.Response:
    await _who(request, Role.AUDITOR)
    kind = request.query.get("kind")
    try:
        limit = min(int(request.query.get("limit", "100")), 1000)
    except ValueError:
        raise BadRequest("limit must be a number") from None
    shown = await recent_entries(request.app[PROJECT], kind=kind, limit=limit)
    return json_response([{"index": r.index, **msgspec.to_builtins(r.entry)} for r in shown])


@routes.get("/v1/admin/quarantine")
async def quarantine(request: web.Request) -> web.Response:
    await _who(request, Role.MANAGER)
    items = await asyncio.to_thread(list_quarantine, request.app[PROJECT])
    return json_response([msgspec.to_builtins(q.__dict__) for q in items])


@routes.get("/v1/admin/records/{record_id}")
async def record(request: web.Request) -> web.Response:
    sensitive = request.query.get("sensitive") == "1"
    label, _role = await _who(request, Role.ADMIN if sensitive else Role.MANAGER)
    history = await asyncio.to_thread(
        record_history,
        request.app[PROJECT],
        _record_id(request),
        include_sensitive=sensitive,
        actor=f"token:{label}",
        now=request.app[CLOCK](),
    )
    return json_response(
        [
            {
                "version": h.version,
                "status": h.status,
                "review": h.review,
                "form": f"{h.form_id}@{h.form_version}",
                "received_at": h.received,
                "sha256": h.sha256.hex(),
                "answers": h.answers,
            }
            for h in history
        ]
    )


class ReviewRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/admin/records/{id}/review``: the new review state."""

    state: Literal["received", "has_issues", "approved", "rejected"]


@routes.post("/v1/admin/records/{record_id}/review")
async def review(request: web.Request) -> web.Response:
    label, _role = await _who(request, Role.MANAGER)
    body = decode_body(await request.read(), ReviewRequest)
    assert isinstance(body, ReviewRequest)
    await asyncio.to_thread(
        set_review,
        request.app[PROJECT],
        _record_id(request),
        ReviewState(body.state),
        actor=f"token:{label}",
        now=request.app[CLOCK](),
    )
    return json_response({"record_id": request.match_info["record_id"], "review": body.state})
