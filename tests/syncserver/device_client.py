"""A minimal signing device client for tests (the collector's real one comes with #4)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import uuid
from typing import Any

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.wire import Receipt, UploadCreate, UploadState, sign_request_headers


class DeviceClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        device_id: uuid.UUID,
        key: Ed25519PrivateKey,
    ) -> None:
        self.session, self.base, self.device_id, self.key = session, base, device_id, key
        self.clock_offset = 0

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

    async def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        ts = int(time.time()) + self.clock_offset
        h = sign_request_headers(self.key, self.device_id, method, path, body, ts)
        h.update(headers or {})
        data = io.BytesIO(body) if len(body) > 1024 * 1024 else body  # stream big bodies
        resp = await self.session.request(method, self.base + path, data=data, headers=h)
        await resp.read()
        return resp

    async def create(self, bundle_id: uuid.UUID, data: bytes) -> tuple[int, Any]:
        body = msgspec.json.encode(
            UploadCreate(bundle_id=bundle_id, size=len(data), sha256=hashlib.sha256(data).digest())
        )
        r = await self.call("POST", "/v1/uploads", body)
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
