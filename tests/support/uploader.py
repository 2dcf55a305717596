"""The one test device: enrolled online (a one-time token, ``POST /v1/enroll``) or
offline (a request carried by hand), it signs its requests (docs/spec/api-v1.md §3) and
uploads bundles, resuming from the server's offset.

:class:`DeviceClient` is the device over aiohttp, for tests that run in an event loop
(the in-process server of :mod:`support.server`, ``syncserver run``).
:class:`SyncDeviceClient` is the same device over one blocking ``http.client``
connection, for the adversarial tests: hypothesis draws and runs its examples
synchronously, one after another, against a server in a thread
(:mod:`support.thread_server`); an aiohttp client would need an event loop (and a
session) per example, and its answers could not be returned to the test's thread as they
come. The two share how a request is signed and how an upload is announced
(:class:`Signer`); they differ in what an upload is for: :meth:`DeviceClient.upload`
gets a bundle through (waiting out 429, resuming from the offset the server holds) and
asserts that it did, :meth:`SyncDeviceClient.upload` sends it once, in two pieces, and
returns every answer up to the first refusal, for the test to judge.

Without a server, :func:`enroll_offline` enrolls a device (its key and id) and
:func:`enroll_file` enrolls a request made elsewhere (a kit's).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import http.client
import io
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.wire import (
    EnrollmentRequest,
    EnrollmentResponse,
    Receipt,
    UploadCreate,
    UploadState,
    sign_request,
    sign_request_headers,
)
from syncserver.access import devices
from syncserver.project import Project

from .project import ACTOR

__all__ = [
    "DeviceClient",
    "Response",
    "Signer",
    "SyncDeviceClient",
    "device_id_of",
    "device_request",
    "enroll_file",
    "enroll_offline",
    "raw_request",
]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# -- enrollment ----------------------------------------------------------------------------


def device_request(
    label: str = "laptop-1", token: str = ""
) -> tuple[Ed25519PrivateKey, EnrollmentRequest]:
    """A new device key and its signed enrollment request (synthetic)."""
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, sign_request(EnrollmentRequest(public_key=pub, label=label, token=token), key)


def device_id_of(response: EnrollmentResponse) -> uuid.UUID:
    """The device id an enrollment response's certificate was issued to."""
    return uuid.UUID(bytes=msgspec.msgpack.decode(response.certificate.body)["device_id"])


def enroll_file(
    project: Project,
    request: EnrollmentRequest,
    *,
    now: datetime.datetime | None = None,
    actor: str = ACTOR,
) -> EnrollmentResponse:
    """Enroll ``request`` offline (``syncserver devices enroll-file``), as ``actor`` at
    ``now`` (default: the current time)."""
    return devices.enroll(project, request, how="file", now=now or _now(), actor=actor)


def enroll_offline(
    project: Project,
    *,
    label: str = "laptop-1",
    now: datetime.datetime | None = None,
    actor: str = ACTOR,
) -> tuple[Ed25519PrivateKey, uuid.UUID]:
    """A new device enrolled offline with ``project`` at ``now``: its key and id."""
    key, request = device_request(label=label)
    return key, device_id_of(enroll_file(project, request, now=now, actor=actor))


# -- requests ------------------------------------------------------------------------------


class Signer:
    """A device's id and key: it signs requests (at its clock, ``clock_offset`` seconds
    off the real one) and announces uploads."""

    def __init__(self, device_id: uuid.UUID, key: Ed25519PrivateKey) -> None:
        self.device_id, self.key = device_id, key
        self.clock_offset = 0

    def headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """The headers that sign this request, now."""
        ts = int(time.time()) + self.clock_offset
        return sign_request_headers(self.key, self.device_id, method, path, body, ts)

    @staticmethod
    def announce(bundle_id: uuid.UUID, data: bytes) -> bytes:
        """The body of ``POST /v1/uploads`` for ``data``."""
        sha256 = hashlib.sha256(data).digest()
        return msgspec.json.encode(UploadCreate(bundle_id=bundle_id, size=len(data), sha256=sha256))


class DeviceClient(Signer):
    """A device talking to the server at ``base`` over an aiohttp ``session``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        device_id: uuid.UUID,
        key: Ed25519PrivateKey,
    ) -> None:
        super().__init__(device_id, key)
        self.session, self.base = session, base

    @classmethod
    async def enroll(
        cls,
        session: aiohttp.ClientSession,
        base: str,
        project: Project,
        *,
        label: str = "laptop-1",
        token_label: str = "kit",
        actor: str = ACTOR,
    ) -> tuple[DeviceClient, EnrollmentResponse]:
        """A new device enrolled online: a one-time token labelled ``token_label`` is
        made in ``project`` (as ``actor``), and the device posts it to ``/v1/enroll``."""
        token = devices.create_token(project, token_label, now=_now(), actor=actor)
        key, request = device_request(label=label, token=token)
        r = await session.post(base + "/v1/enroll", data=msgspec.json.encode(request))
        assert r.status == 201, await r.text()
        response = msgspec.json.decode(await r.read(), type=EnrollmentResponse)
        return cls(session, base, device_id_of(response), key), response

    @classmethod
    def offline(
        cls,
        session: aiohttp.ClientSession,
        base: str,
        project: Project,
        *,
        label: str = "laptop-1",
        now: datetime.datetime | None = None,
    ) -> DeviceClient:
        """A new device enrolled offline (:func:`enroll_offline`) at ``now``."""
        key, device_id = enroll_offline(project, label=label, now=now)
        return cls(session, base, device_id, key)

    async def call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        data: Any = None,
    ) -> aiohttp.ClientResponse:
        """A signed request for ``body``, its answer read. ``data`` is sent in place of
        ``body`` if given (a stream of the same bytes); a body over 1 MiB is streamed."""
        h = self.headers(method, path, body)
        h.update(headers or {})
        if data is None:
            data = io.BytesIO(body) if len(body) > 1024 * 1024 else body
        resp = await self.session.request(method, self.base + path, data=data, headers=h)
        await resp.read()
        return resp

    async def call_retrying(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        """Like :meth:`call`, but waits out 429 answers as a real client does."""
        for _ in range(50):
            r = await self.call(method, path, body, headers)
            if r.status != 429:
                return r
            await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0) / 4)
        return r

    async def create(self, bundle_id: uuid.UUID, data: bytes) -> tuple[int, Any]:
        r = await self.call("POST", "/v1/uploads", self.announce(bundle_id, data))
        return r.status, msgspec.json.decode(await r.read())

    async def offset(self, bundle_id: uuid.UUID) -> int:
        r = await self.call("GET", f"/v1/uploads/{bundle_id}")
        assert r.status == 200, await r.text()
        return msgspec.json.decode(await r.read(), type=UploadState).offset

    async def patch(
        self, bundle_id: uuid.UUID, offset: int, chunk: bytes
    ) -> aiohttp.ClientResponse:
        return await self.call(
            "PATCH", f"/v1/uploads/{bundle_id}", chunk, {"Upload-Offset": str(offset)}
        )

    async def complete(self, bundle_id: uuid.UUID) -> tuple[int, Any]:
        r = await self.call("POST", f"/v1/uploads/{bundle_id}/complete")
        raw = await r.read()
        if r.status == 200:
            return r.status, msgspec.json.decode(raw, type=Receipt)
        return r.status, msgspec.json.decode(raw)

    async def upload(self, bundle_id: uuid.UUID, data: bytes, chunk: int = 64 * 1024) -> Receipt:
        """Announce, send from the server's offset in ``chunk``s, complete: the receipt."""
        status, _ = await self.create(bundle_id, data)
        assert status in (200, 201)
        off = await self.offset(bundle_id)
        while off < len(data):
            r = await self.call_retrying(
                "PATCH",
                f"/v1/uploads/{bundle_id}",
                data[off : off + chunk],
                {"Upload-Offset": str(off)},
            )
            assert r.status == 204, await r.text()
            off = int(r.headers["Upload-Offset"])
        status, receipt = await self.complete(bundle_id)
        assert status == 200, receipt
        return receipt


@dataclass(frozen=True)
class Response:
    """An answer as :class:`SyncDeviceClient` returns it (header names in lower case)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class SyncDeviceClient(Signer):
    """A device talking to the server at ``base`` over one blocking keep-alive
    connection (``self.conn``)."""

    def __init__(self, base: str, device_id: uuid.UUID, key: Ed25519PrivateKey) -> None:
        super().__init__(device_id, key)
        url = urllib.parse.urlsplit(base)
        assert url.scheme == "http" and url.hostname and url.port, base
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        h = self.headers(method, path, body)
        h.update(headers or {})
        return raw_request(self.conn, method, path, body, h)

    def upload(self, bundle_id: uuid.UUID, data: bytes) -> list[Response]:
        """Announce, send in two pieces, complete; stops at the first refusal."""
        out = [self.request("POST", "/v1/uploads", self.announce(bundle_id, data))]
        if out[-1].status not in (200, 201):
            return out
        half = len(data) // 2
        for off, piece in ((0, data[:half]), (half, data[half:])):
            if piece:
                out.append(
                    self.request(
                        "PATCH", f"/v1/uploads/{bundle_id}", piece, {"Upload-Offset": str(off)}
                    )
                )
                if out[-1].status != 204:
                    return out
        out.append(self.request("POST", f"/v1/uploads/{bundle_id}/complete"))
        return out

    def close(self) -> None:
        self.conn.close()


def raw_request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> Response:
    """``method path`` on ``conn`` with exactly ``headers`` (unsigned unless they sign
    it), reconnecting once if the server closed the keep-alive connection."""
    for attempt in range(2):
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")
