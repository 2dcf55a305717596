"""What every handler shares: app keys, the error and body-deadline middlewares, device
authentication, rate and concurrency limits (docs/spec/api-v1.md §2–§3)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.ids import parse_id
from schemas.text import shown
from schemas.wire import (
    H_DEVICE,
    H_NONCE,
    H_SIGNATURE,
    H_TIMESTAMP,
    ErrorBody,
    ErrorDetail,
    request_message,
)

from .._fs import disk_full
from ..access.devices import registered
from ..errors import (
    AuthFailed,
    BadRequest,
    RateLimited,
    RequestTimeout,
    StorageFull,
    SyncServerError,
)
from ..ingest.uploads import Blobs
from ..project import Project
from ..service import Service

__all__ = [
    "AREA",
    "CLOCK",
    "GATE",
    "PROJECT",
    "SERVICE",
    "Device",
    "Gate",
    "authenticate",
    "body_deadline_middleware",
    "decode_body",
    "error_middleware",
    "json_response",
]

log = logging.getLogger("syncserver")

Clock = Callable[[], datetime.datetime]
PROJECT = web.AppKey("project", Project)
SERVICE = web.AppKey("service", Service)
AREA = web.AppKey("area", Blobs)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")


@dataclass
class Gate:
    """Per-device request rate (token bucket), in-flight uploads, and replay memory."""

    per_minute: int
    uploads: int
    skew: int
    buckets: dict[uuid.UUID, tuple[float, float]] = field(default_factory=dict)
    inflight: dict[uuid.UUID, int] = field(default_factory=dict)
    seen: OrderedDict[bytes, float] = field(default_factory=OrderedDict)

    def take(self, device: uuid.UUID, now: float) -> None:
        tokens, last = self.buckets.get(device, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60)
        if tokens < 1:
            wait = max(1, int((1 - tokens) * 60 / self.per_minute) + 1)
            raise RateLimited(
                "too many requests from this device",
                hint=f"wait {wait} s and retry",
                retry_after=wait,
            )
        self.buckets[device] = (tokens - 1, now)

    def remember(self, signature: bytes, now: float) -> None:
        while self.seen and next(iter(self.seen.values())) < now - 2 * self.skew:
            self.seen.popitem(last=False)
        if signature in self.seen:
            raise AuthFailed("replayed request", hint="sign every request afresh")
        self.seen[signature] = now

    def enter(self, device: uuid.UUID) -> None:
        n = self.inflight.get(device, 0)
        if n >= self.uploads:
            raise RateLimited(
                f"this device already has {n} uploads in flight",
                hint="wait for one to finish, then retry",
                retry_after=2,
            )
        self.inflight[device] = n + 1

    def leave(self, device: uuid.UUID) -> None:
        self.inflight[device] -= 1


GATE = web.AppKey("gate", Gate)


@dataclass(frozen=True)
class Device:
    device_id: uuid.UUID
    public_key: bytes
    revoked: bool
    not_after_ms: int


def json_response(
    obj: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(obj),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _error(
    status: int, code: str, message: str, hint: str | None, retry: int | None
) -> web.Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, hint=hint, retry_after=retry))
    headers = {"Retry-After": str(retry)} if retry else None
    return json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Render every error in one shape; never a traceback, never a secret."""
    try:
        return await handler(request)
    except ConnectionError:  # the client went away mid-request: nobody will read this
        return _error(400, "bad_request", "the connection was lost mid-request", None, None)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        resp = _error(e.status, e.reason.lower().replace(" ", "_"), e.reason, None, None)
        if "Allow" in e.headers:  # a 405 MUST list the methods that are allowed (RFC 9110)
            resp.headers["Allow"] = e.headers["Allow"]
        return resp
    except Exception as exc:
        err = _as_error(exc)
        if err is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return _error(500, "internal", "internal server error", "retry later", None)
        if isinstance(err, StorageFull):
            log.error("disk full: %s %s refused, nothing taken in", request.method, request.path)
        resp = _error(err.status, err.code, err.message, err.hint, err.retry_after)
        resp.headers.update(err.headers)
        return resp


def _as_error(exc: Exception) -> SyncServerError | None:
    """The error to answer ``exc`` with (None: an unexpected one, a plain 500). A full
    disk answers 507 wherever it shows: ENOSPC from a file, or :class:`StorageFull` from
    the store (which recognises its database's own, SQLITE_FULL)."""
    if disk_full(exc):
        return StorageFull()
    if isinstance(exc, SyncServerError):
        return exc
    if isinstance(exc, RequestPayloadError):
        return BadRequest(
            "the request body is malformed (bad chunked encoding or cut short)",
            hint="send the body again with a correct Content-Length",
        )
    return None


@web.middleware
async def body_deadline_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Read the whole body within ``[server] body_timeout_seconds`` of the request head,
    before the handler runs (handlers then get it from aiohttp's cache). A client that
    trickles its body is answered 408 and its connection closed, so that it cannot hold
    a handler, or memory, for longer than that."""
    if request.can_read_body:
        timeout = request.app[PROJECT].config.server.body_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                await request.read()
        except TimeoutError:
            resp = _error(
                408,
                RequestTimeout.code,
                f"the request body did not arrive within {timeout} s",
                "send smaller chunks (PATCH) on a slow link, then resume from the offset",
                None,
            )
            resp.force_close()
            return resp
    return await handler(request)


def decode_body(data: bytes, typ: type[msgspec.Struct]) -> msgspec.Struct:
    try:
        return msgspec.json.decode(data, type=typ)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise BadRequest(f"request body is not a valid {typ.__name__} ({_said(e)})") from None


def _said(e: Exception) -> str:
    """msgspec's reason, short: a pattern is named, not quoted (some are hundreds of
    characters long); cut and escaped (a decode error may quote what was sent)."""
    text = re.sub(r"matching regex '.*' - at", "of the allowed form - at", str(e), flags=re.S)
    return shown(text, 200)


async def authenticate(request: web.Request, body: bytes) -> Device:
    """Check the signed-request headers; return the device (revoked ones too: their
    bundles are accepted into quarantine, never into the data)."""
    gate, project = request.app[GATE], request.app[PROJECT]
    try:
        device_id = parse_id(request.headers[H_DEVICE])
        ts = int(request.headers[H_TIMESTAMP])
        nonce = request.headers[H_NONCE]
        sig = base64.b64decode(request.headers[H_SIGNATURE], validate=True)
        if not 16 <= len(nonce) <= 64 or not nonce.isalnum() or not nonce.isascii():
            raise ValueError
    except (KeyError, ValueError, binascii.Error):
        raise AuthFailed(
            "request is not signed",
            hint=f"send {H_DEVICE}, {H_TIMESTAMP}, {H_NONCE} and {H_SIGNATURE} headers",
        ) from None
    now = request.app[CLOCK]().timestamp()
    if abs(now - ts) > gate.skew:
        raise AuthFailed(
            "request timestamp outside the accepted window",
            hint="check the device's clock and time zone",
        )
    known = await registered(project, device_id)
    if known is None:
        raise AuthFailed("unknown device", hint="enroll the device first")
    msg = request_message(request.method, request.path_qs, ts, nonce, hashlib.sha256(body).digest())
    try:
        Ed25519PublicKey.from_public_bytes(known.public_key).verify(sig, msg)
    except InvalidSignature:
        raise AuthFailed("request signature does not verify") from None
    gate.remember(sig, time.monotonic())
    gate.take(device_id, time.monotonic())
    return Device(device_id, known.public_key, known.revoked_ms is not None, known.not_after_ms)
