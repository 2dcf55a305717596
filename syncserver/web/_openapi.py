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

from ._admin import ReviewRequest
from ._base import json_response
from ._log import ConsistencyProof, LogKey

__all__ = ["openapi_document", "routes"]

routes = web.RouteTableDef()


def _errors(*statuses: int) -> list[tuple[int, type | None]]:
    return [(s, ErrorBody) for s in sorted(set(statuses))]


_TYPES = [
    ConsistencyProof,
    EnrollmentRequest,
    EnrollmentResponse,
    ErrorBody,
    LogKey,
    Receipt,
    ReviewRequest,
    SignedFormSet,
    UploadCreate,
    UploadState,
]

# Parameters, by name: path ids, the PATCH offset header and the query strings.
_UUID = {"type": "string", "format": "uuid"}
_PARAMS: dict[str, dict[str, Any]] = {
    "bundle_id": {"in": "path", "required": True, "schema": _UUID},
    "record_id": {"in": "path", "required": True, "schema": _UUID},
    "Upload-Offset": {
        "in": "header",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
        "description": "the offset the bytes start at: the server's current offset",
    },
    "kind": {"in": "query", "required": False, "schema": {"type": "string"}},
    "limit": {
        "in": "query",
        "required": False,
        "schema": {"type": "integer"},
        "description": "at most this many entries (default 100; more than 1000 reads as 1000)",
    },
    "sensitive": {
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "1: include sensitive answers (admin role; the access is logged)",
    },
    "from": {"in": "query", "required": True, "schema": {"type": "integer", "minimum": 0}},
    "to": {"in": "query", "required": True, "schema": {"type": "integer", "minimum": 0}},
}

# What every error status means (api-v1.md §2); each operation lists those it can give.
_STATUS = {
    400: "malformed request (body, header or query)",
    401: "signature or token missing, stale, replayed or unknown",
    403: "role too low",
    404: "unknown resource",
    408: "the request body arrived too slowly",
    409: "same bundle id with other bytes, or a wrong upload offset (with Upload-Offset)",
    413: "over a size limit",
    422: "size or hash mismatch on completion, or more bytes than announced",
    429: "rate or concurrency limit (with Retry-After)",
    507: "the server's disk is full: nothing was taken in",
}
_BODY = [400, 408, 413]  # any request with a body
_SIGNED = [401, 429]  # any device-signed request

# path, method, summary, request type, (status, response type) list, device-signed?,
# parameters. Error statuses answer ErrorBody.
_Op = tuple[str, str, str, type | None, list[tuple[int, type | None]], bool, list[str]]
_PATHS: list[_Op] = [
    (
        "/v1/enroll",
        "post",
        "Enroll a device with a one-time token",
        EnrollmentRequest,
        [(201, EnrollmentResponse), *_errors(*_BODY, 401)],
        False,
        [],
    ),
    (
        "/v1/uploads",
        "post",
        "Announce a bundle upload (idempotent)",
        UploadCreate,
        [(200, UploadState), (201, UploadState), *_errors(*_BODY, *_SIGNED, 409, 507)],
        True,
        [],
    ),
    (
        "/v1/uploads/{bundle_id}",
        "get",
        "Current offset of an upload",
        None,
        [(200, UploadState), *_errors(*_SIGNED, 404)],
        True,
        ["bundle_id"],
    ),
    (
        "/v1/uploads/{bundle_id}",
        "patch",
        "Append bytes at Upload-Offset",
        None,
        [(204, None), *_errors(*_BODY, *_SIGNED, 404, 409, 422, 507)],
        True,
        ["bundle_id", "Upload-Offset"],
    ),
    (
        "/v1/uploads/{bundle_id}/complete",
        "post",
        "Verify, persist, ingest; get the receipt",
        None,
        [(200, Receipt), *_errors(*_SIGNED, 404, 422, 507)],
        True,
        ["bundle_id"],
    ),
    (
        "/v1/forms",
        "get",
        "The signed set of published forms",
        None,
        [(200, SignedFormSet), *_errors(*_SIGNED)],
        True,
        [],
    ),
    ("/v1/log/key", "get", "The log's origin and verifier key", None, [(200, LogKey)], False, []),
    (
        "/v1/log/consistency",
        "get",
        "RFC 9162 consistency proof between two tree sizes",
        None,
        [(200, ConsistencyProof), *_errors(400)],
        False,
        ["from", "to"],
    ),
]

# Admin endpoints: bearer tokens with a role (auditor < manager < admin).
# path, method, summary, role, request type, parameters, extra error statuses
_ADMIN: list[tuple[str, str, str, str, type | None, list[str], list[int]]] = [
    (
        "/v1/admin/audit",
        "get",
        "Audit entries, newest first (?kind=, ?limit=)",
        "auditor",
        None,
        ["kind", "limit"],
        [400],
    ),
    (
        "/v1/admin/quarantine",
        "get",
        "Quarantined bundles and records with reasons",
        "manager",
        None,
        [],
        [],
    ),
    (
        "/v1/admin/records/{record_id}",
        "get",
        "Every version of a record; ?sensitive=1 needs admin and is logged",
        "manager",
        None,
        ["record_id", "sensitive"],
        [404],
    ),
    (
        "/v1/admin/records/{record_id}/review",
        "post",
        "Set the review state",
        "manager",
        ReviewRequest,
        ["record_id"],
        [*_BODY, 404],
    ),
]


def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        _TYPES, ref_template="#/components/schemas/{name}"
    )

    def ref(t: type) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{t.__name__}"}

    def responses(pairs: list[tuple[int, type | None]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for status, resp in pairs:
            entry: dict[str, Any] = {"description": _STATUS.get(status, str(status))}
            if resp is not None:
                entry["content"] = {"application/json": {"schema": ref(resp)}}
            out[str(status)] = entry
        return out

    def params(names: list[str]) -> list[dict[str, Any]]:
        return [{"name": n, **_PARAMS[n]} for n in names]

    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, req, pairs, signed, names in _PATHS:
        op: dict[str, Any] = {"summary": summary, "responses": responses(pairs)}
        if names:
            op["parameters"] = params(names)
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
                "content": {
                    "application/offset+octet-stream": {
                        "schema": {"type": "string", "format": "binary"}
                    }
                },
            }
        paths.setdefault(path, {})[method] = op
    paths["/v1/log/checkpoint"] = {
        "get": {
            "summary": "The latest signed checkpoint (C2SP signed note)",
            "responses": {
                "200": {
                    "description": "the note",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    for path, method, summary, role, req, names, more in _ADMIN:
        op = {
            "summary": f"{summary} (role: {role})",
            "security": [{"adminToken": []}],
            "responses": {
                "200": {"description": "JSON"},
                **responses(_errors(401, 403, *more)),
            },
        }
        if names:
            op["parameters"] = params(names)
        if req is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(req)}},
            }
        paths.setdefault(path, {})[method] = op
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
