"""Uploading sealed bundles and verifying receipts (docs/spec/api-v1.md §3–§5).

The first piece of the field kit's sync (issue #4 builds ``collector sync`` on it):
announce a bundle, resume from the server's offset, append in chunks, complete, and
verify the signed receipt (signature, checkpoint, inclusion proof) against the keys the
device pinned at enrollment. Only a verified receipt may lead to deleting a bundle.
Transient failures (connection loss, 429, 5xx) are retried with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.wire import (
    Receipt,
    ReceiptBody,
    UploadCreate,
    UploadState,
    sign_request_headers,
    verify_receipt,
)

from .errors import SyncFailed

__all__ = ["Pins", "SyncClient", "SyncError"]

CHUNK = 256 * 1024


class SyncError(SyncFailed):
    """An upload that could not be finished now; the bundle stays on the device."""


@dataclass(frozen=True)
class Pins:
    """What the device pinned at enrollment."""

    signing_public: bytes  # the project's Ed25519 key (receipts, checkpoints)
    log_origin: str

    def verifier_key(self) -> str:
        from schemas.tlog import NoteVerifier

        return NoteVerifier.from_public_key(self.log_origin, self.signing_public).vkey


class SyncClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        device_id: uuid.UUID,
        key: Ed25519PrivateKey,
        pins: Pins,
        *,
        attempts: int = 8,
    ) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.device_id = device_id
        self.key = key
        self.pins = pins
        self.attempts = attempts

    async def _call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        delay = 0.2
        for attempt in range(self.attempts):
            h = sign_request_headers(self.key, self.device_id, method, path, body, int(time.time()))
            h.update(headers or {})
            try:
                request = self.session.request(method, self.base + path, data=body, headers=h)
                async with request as r:
                    raw = await r.read()
                    if r.status == 429 or r.status >= 500:
                        wait = float(r.headers.get("Retry-After", delay))
                        raise _Retry(min(wait, 30.0))
                    return r.status, raw, dict(r.headers)
            except (TimeoutError, aiohttp.ClientError, _Retry) as e:
                if attempt == self.attempts - 1:
                    why = e.__class__.__name__
                    raise SyncError(f"server unreachable or busy ({why})") from None
                await asyncio.sleep(e.wait if isinstance(e, _Retry) else delay)
                delay = min(delay * 2, 30.0)
        raise SyncError("unreachable")  # pragma: no cover

    async def upload(self, bundle_id: uuid.UUID, data: bytes) -> ReceiptBody:
        """Upload bytes held in memory (small bundles, tests); see :meth:`upload_stream`."""

        def from_offset(offset: int) -> Iterator[bytes]:
            for i in range(offset, len(data), CHUNK):
                yield data[i : i + CHUNK]

        return await self.upload_stream(
            bundle_id, len(data), hashlib.sha256(data).digest(), from_offset
        )

    async def upload_stream(
        self,
        bundle_id: uuid.UUID,
        size: int,
        sha256: bytes,
        from_offset: Callable[[int], Iterator[bytes]],
        progress: Callable[[int, int], None] | None = None,
    ) -> ReceiptBody:
        """Upload a bundle read as a stream (resuming where the server stands, in bounded
        memory) and return the *verified* receipt. ``from_offset(n)`` yields the bundle's
        bytes from byte ``n`` on."""
        create = UploadCreate(bundle_id=bundle_id, size=size, sha256=sha256)
        status, raw, _ = await self._call("POST", "/v1/uploads", msgspec.json.encode(create))
        if status not in (200, 201):
            raise SyncError(_message(raw, status))
        offset = msgspec.json.decode(raw, type=UploadState).offset
        while offset < size:
            moved = False
            for chunk in _rechunk(from_offset(offset), CHUNK):
                status, raw, headers = await self._call(
                    "PATCH", f"/v1/uploads/{bundle_id}", chunk, {"Upload-Offset": str(offset)}
                )
                if status == 204:
                    offset = int(headers["Upload-Offset"])
                    moved = True
                    if progress:
                        progress(offset, size)
                    continue
                if status == 409 and "Upload-Offset" in headers:
                    offset = int(headers["Upload-Offset"])  # resume from the server's offset
                    moved = True
                    break
                raise SyncError(_message(raw, status))
            if not moved:
                raise SyncError("the bundle ended before its announced size")
        status, raw, _ = await self._call("POST", f"/v1/uploads/{bundle_id}/complete")
        if status != 200:
            raise SyncError(_message(raw, status))
        receipt = msgspec.json.decode(raw, type=Receipt)
        return verify_receipt(
            receipt,
            signing_public=Ed25519PublicKey.from_public_bytes(self.pins.signing_public),
            log_verifier_key=self.pins.verifier_key(),
            origin=self.pins.log_origin,
            bundle_id=bundle_id,
            sha256=sha256,
        )


def _rechunk(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Regroup a stream into pieces of ``size`` bytes (the last may be shorter)."""
    buf = bytearray()
    for c in chunks:
        buf += c
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


class _Retry(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


def _message(raw: bytes, status: int) -> str:
    try:
        err = msgspec.json.decode(raw)["error"]
        hint = f" ({err['hint']})" if err.get("hint") else ""
        return f"server answered {status}: {err['message']}{hint}"
    except (msgspec.DecodeError, KeyError, TypeError):
        return f"server answered {status}"
