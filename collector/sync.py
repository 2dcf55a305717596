"""Uploading sealed bundles and verifying receipts (docs/spec/api-v1.md §3–§5).

The first piece of the field kit's sync (issue #4 builds ``collector sync`` on it):
announce a bundle, resume from the server's offset, append in chunks, complete, and
verify the signed receipt (signature, checkpoint, inclusion proof) against the keys the
device pinned at enrollment. Only a verified receipt may lead to deleting a bundle.

Transient failures (a refused or dropped connection, a stalled transfer, 429, 5xx) are
retried with backoff: :data:`FIRST_DELAY` seconds, doubled each time up to
:data:`MAX_DELAY` (or what the server's ``Retry-After`` asks), ``attempts`` tries in all.
Each retry is reported at once to ``on_retry`` (a :class:`Retry`: why, how long, which
try), so a person is never left waiting in silence. When every try has failed, or the
failure cannot pass by waiting (a TLS mismatch, an untrusted certificate), the client
raises :class:`ServerUnavailable`: the caller stops, and every bundle stays.
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

from ._net import Failure, explain, server_error
from .errors import SyncFailed

__all__ = [
    "FIRST_DELAY",
    "MAX_DELAY",
    "Pins",
    "Retry",
    "ServerUnavailable",
    "SyncClient",
    "SyncError",
]

CHUNK = 256 * 1024
#: Seconds before the first retry; doubled after each, up to MAX_DELAY.
FIRST_DELAY = 0.2
MAX_DELAY = 30.0


class SyncError(SyncFailed):
    """An upload that could not be finished now; the bundle stays on the device."""


class ServerUnavailable(SyncError):
    """The server could not be reached, or kept failing, through every try (or in a way
    waiting cannot mend): no other bundle will fare better now, so a sync stops here and
    every bundle not yet receipted stays on the device.

    ``transient``: trying again later may work (offline, a refused connection, a server
    error), unlike a TLS mismatch or an untrusted certificate. ``reached``: the server
    answered, with errors (429, 5xx), rather than not at all."""

    def __init__(
        self, message: str, *, hint: str | None = None, transient: bool, reached: bool
    ) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient
        self.reached = reached

    def __reduce__(self) -> tuple[object, ...]:
        return (_unavailable, (self.message, self.hint, self.transient, self.reached))


def _unavailable(
    message: str, hint: str | None, transient: bool, reached: bool
) -> ServerUnavailable:
    return ServerUnavailable(message, hint=hint, transient=transient, reached=reached)


@dataclass(frozen=True)
class Retry:
    """A try that failed and will be made again (what ``on_retry`` receives)."""

    reason: str  # "server unreachable (connection refused)", "server busy (HTTP 503)"
    wait: float  # seconds before the next try
    attempt: int  # the try about to be made: 2 … attempts
    attempts: int

    def __str__(self) -> str:
        wait = f"{self.wait:.2g}" if self.wait < 100 else f"{self.wait:.0f}"
        return f"{self.reason}: retrying in {wait} s, attempt {self.attempt} of {self.attempts}"


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
        first_delay: float | None = None,
        on_retry: Callable[[Retry], None] | None = None,
    ) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.device_id = device_id
        self.key = key
        self.pins = pins
        self.attempts = attempts
        self.first_delay = FIRST_DELAY if first_delay is None else first_delay
        self.on_retry = on_retry

    async def _call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request, tried up to ``attempts`` times while it fails transiently; the
        answer of any other status is returned. :class:`ServerUnavailable` at the end."""
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            h = sign_request_headers(self.key, self.device_id, method, path, body, int(time.time()))
            h.update(headers or {})
            reached = False
            try:
                request = self.session.request(method, self.base + path, data=body, headers=h)
                async with request as r:
                    raw = await r.read()
                    if r.status != 429 and r.status < 500:
                        return r.status, raw, dict(r.headers)
                    failure, reached = _busy(r.status, raw, self.base), True
                    wait = _retry_after(r.headers.get("Retry-After"), delay)
            except (TimeoutError, aiohttp.ClientError) as e:
                failure = explain(e, self.base, stalled=method == "PATCH")
                if not failure.transient:
                    raise ServerUnavailable(
                        failure.message, hint=failure.hint, transient=False, reached=False
                    ) from None
                wait = delay
            if attempt == self.attempts:
                tries = "1 try" if self.attempts == 1 else f"{self.attempts} tries"
                raise ServerUnavailable(
                    f"{failure.message}, after {tries}",
                    hint=failure.hint,
                    transient=True,
                    reached=reached,
                )
            if self.on_retry is not None:
                self.on_retry(Retry(failure.reason, wait, attempt + 1, self.attempts))
            await asyncio.sleep(wait)
            delay = min(delay * 2, MAX_DELAY)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

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


def _retry_after(value: str | None, default: float) -> float:
    """The server's Retry-After in seconds (at most MAX_DELAY), else ``default``."""
    try:
        wait = float(value) if value is not None else default
    except ValueError:  # an HTTP date, or garbage: our own backoff
        wait = default
    return min(max(wait, 0.0), MAX_DELAY)


def _busy(status: int, raw: bytes, url: str) -> Failure:
    """A 429 or 5xx answer, in words (the server's own message when it sent one)."""
    said = _message(raw, status)
    if status == 429:
        reason = "server busy (HTTP 429)"
    elif status == 507:
        reason = "the server's disk is full (HTTP 507)"
    else:
        reason = f"server error (HTTP {status})"
    return Failure(
        reason,
        f"the server at {url} kept failing: {said}",
        "nothing is lost; try again later, and tell the administrator if it goes on",
        True,
    )


def _message(raw: bytes, status: int) -> str:
    said = server_error(raw)
    if said is None:
        return f"server answered {status}"
    message, hint = said
    return f"server answered {status}: {message}" + (f" ({hint})" if hint else "")
