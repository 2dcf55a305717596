"""``GET /v1/openapi.json``: OpenAPI 3.1 generated from the msgspec wire types
(docs/spec/api-v1.md). Schemas come from ``msgspec.json.schema_components``; nothing
about a body's shape is written by hand here, only which type each path takes and gives."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from schemas import __version__
from schemas.wire import (
    EnrollmentRequest,
    EnrollmentResponse,
    ErrorBody,
    Receipt,
    SignedFormSet,
    UploadCreate,
    UploadState,
)

from ._base import json_response

__all__ = ["openapi_document", "routes"]

routes = web.RouteTableDef()

_TYPES = [
    EnrollmentRequest,
    EnrollmentResponse,
    ErrorBody,
    Receipt,
    SignedFormSet,
    UploadCreate,
    UploadState,
]

# path, method, summary, request type, (status, response type) list, device-signed?
_PATHS: list[tuple[str, str, str, type | None, list[tuple[int, type | None]], bool]] = [
    (
        "/v1/enroll",
        "post",
        "Enroll a device with a one-time token",
        EnrollmentRequest,
        [(201, EnrollmentResponse), (401, ErrorBody)],
        False,
    ),
    (
        "/v1/uploads",
        "post",
        "Announce a bundle upload (idempotent)",
        UploadCreate,
        [(200, UploadState), (201, UploadState), (409, ErrorBody), (413, ErrorBody)],
        True,
    ),
    (
        "/v1/uploads/{bundle_id}",
        "get",
        "Current offset of an upload",
        None,
        [(200, UploadState), (404, ErrorBody)],
        True,
    ),
    (
        "/v1/uploads/{bundle_id}",
        "patch",
        "Append bytes at Upload-Offset",
        None,
        [(204, None), (409, ErrorBody), (429, ErrorBody)],
        True,
    ),
    (
        "/v1/uploads/{bundle_id}/complete",
        "post",
        "Verify, persist, ingest; get the receipt",
        None,
        [(200, Receipt), (422, ErrorBody)],
        True,
    ),
    ("/v1/forms", "get", "The signed set of published forms", None, [(200, SignedFormSet)], True),
]

# Admin endpoints: bearer tokens with a role (auditor < manager < admin).
_ADMIN: list[tuple[str, str, str, str]] = [
    ("/v1/admin/audit", "get", "Audit entries, newest first (?kind=, ?limit=)", "auditor"),
    ("/v1/admin/quarantine", "get", "Quarantined bundles and records with reasons", "manager"),
    (
        "/v1/admin/records/{record_id}",
        "get",
        "Every version of a record; ?sensitive=1 needs admin and is logged",
        "manager",
    ),
    ("/v1/admin/records/{record_id}/review", "post", "Set the review state", "manager"),
]


def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        _TYPES, ref_template="#/components/schemas/{name}"
    )

    def ref(t: type) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{t.__name__}"}

    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, req, responses, signed in _PATHS:
        op: dict[str, Any] = {"summary": summary, "responses": {}}
        if signed:
            op["security"] = [{"deviceSignature": []}]
        if req is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(req)}},
            }
        if method == "patch":
            op["requestBody"] = {
                "required": True,
                "content": {"application/offset+octet-stream": {}},
            }
        for status, resp in responses:
            entry: dict[str, Any] = {"description": str(status)}
            if resp is not None:
                entry["content"] = {"application/json": {"schema": ref(resp)}}
            op["responses"][str(status)] = entry
        paths.setdefault(path, {})[method] = op
    for path, method, summary, role in _ADMIN:
        paths.setdefault(path, {})[method] = {
            "summary": f"{summary} (role: {role})",
            "security": [{"adminToken": []}],
            "responses": {
                "200": {"description": "JSON"},
                "401": {
                    "description": "no or unknown token",
                    "content": {"application/json": {"schema": ref(ErrorBody)}},
                },
                "403": {
                    "description": "role too low",
                    "content": {"application/json": {"schema": ref(ErrorBody)}},
                },
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "sealsync sync API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer"},
                "deviceSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Sealsync-Signature",
                    "description": "Ed25519 request signature; see docs/spec/api-v1.md §3",
                },
            },
        },
    }


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())
