"""The payload STREAM: ChaCha20-Poly1305 in 64 KiB chunks (docs/spec/bundle-v1.md §5).

Chunk *i* is sealed with nonce = *i* as 11 big-endian bytes ‖ flag, where flag is 0x01
for the final chunk and 0x00 otherwise (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár, as age uses it). Every chunk but the last holds exactly 64 KiB of
plaintext; the last holds 1..64 KiB (0 only when the whole payload is empty). So
truncation, reordering, duplication and splicing all fail authentication, and bytes
after the final chunk are detected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import BundleInvalid, BundleReason
from ._header import read_exact

__all__ = ["CHUNK_SIZE", "StreamReader", "StreamWriter"]

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENC_CHUNK = CHUNK_SIZE + TAG_SIZE
MAX_COUNTER = 1 << 88


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class StreamWriter:
    """Encrypts written plaintext chunk by chunk into ``dst``; call :meth:`close` once."""

    def __init__(self, dst: BinaryIO, key: bytes) -> None:
        self._dst = dst
        self._aead = ChaCha20Poly1305(key)
        self._buf = bytearray()
        self._counter = 0
        self._closed = False

    def write(self, data: bytes | memoryview) -> None:
        if self._closed:
            raise ValueError("stream already closed")
        self._buf += data
        # Keep at least one byte back: the final chunk must never be empty.
        while len(self._buf) > CHUNK_SIZE:
            self._emit(bytes(self._buf[:CHUNK_SIZE]), last=False)
            del self._buf[:CHUNK_SIZE]

    def close(self) -> None:
        if not self._closed:
            self._emit(bytes(self._buf), last=True)
            self._buf.clear()
            self._closed = True

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        if self._counter >= MAX_COUNTER:  # pragma: no cover - 2**88 chunks
            raise ValueError("stream too long")
        self._dst.write(self._aead.encrypt(_nonce(self._counter, last), chunk, None))
        self._counter += 1


class StreamReader:
    """Decrypts and authenticates ``src`` chunk by chunk; memory is one chunk.

    :meth:`read` returns exactly the bytes asked for or raises
    :class:`~schemas.errors.BundleInvalid`; :meth:`finish` checks that nothing is left.
    """

    def __init__(self, src: BinaryIO, key: bytes) -> None:
        self._src = src
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._plain = b""
        self._pos = 0
        self._done = False
        self._peek = b""

    def _next_chunk(self) -> None:
        data = self._peek + read_exact(self._src, ENC_CHUNK - len(self._peek))
        self._peek = b""
        if len(data) == ENC_CHUNK:
            self._peek = self._src.read(1)
            last = not self._peek
        else:
            last = True
        if len(data) < TAG_SIZE:
            raise BundleInvalid(BundleReason.TRUNCATED, f"chunk {self._counter} short")
        try:
            plain = self._aead.decrypt(_nonce(self._counter, last), data, None)
        except InvalidTag:
            raise BundleInvalid(self._diagnose(data, last), f"chunk {self._counter}") from None
        if last and not plain and self._counter > 0:
            raise BundleInvalid(BundleReason.EMPTY_FINAL_CHUNK)
        self._counter += 1
        self._plain, self._pos, self._done = plain, 0, last

    def _diagnose(self, data: bytes, last: bool) -> BundleReason:
        """Which way a chunk failed: for the private log only, never for the sender."""
        try:
            self._aead.decrypt(_nonce(self._counter, not last), data, None)
        except InvalidTag:
            return BundleReason.CHUNK_INVALID
        return BundleReason.TRUNCATED if last else BundleReason.TRAILING_DATA

    def read(self, n: int) -> bytes:
        """Exactly ``n`` plaintext bytes."""
        out = bytearray()
        while len(out) < n:
            if self._pos == len(self._plain):
                if self._done:
                    raise BundleInvalid(BundleReason.MANIFEST_MISMATCH, "payload ends early")
                self._next_chunk()
                continue
            take = min(n - len(out), len(self._plain) - self._pos)
            out += self._plain[self._pos : self._pos + take]
            self._pos += take
        return bytes(out)

    def read_into(self, n: int, sink: Callable[[memoryview], object]) -> None:
        """Stream exactly ``n`` plaintext bytes to ``sink`` without holding them."""
        left = n
        while left > 0:
            if self._pos == len(self._plain):
                if self._done:
                    raise BundleInvalid(BundleReason.MANIFEST_MISMATCH, "payload ends early")
                self._next_chunk()
                continue
            take = min(left, len(self._plain) - self._pos)
            sink(memoryview(self._plain)[self._pos : self._pos + take])
            self._pos += take
            left -= take

    def finish(self) -> None:
        """Check the payload ended exactly here: final chunk seen, nothing after it."""
        if self._pos != len(self._plain):
            raise BundleInvalid(BundleReason.PAYLOAD_TRAILING)
        if not self._done:
            self._next_chunk()
            if self._plain:
                raise BundleInvalid(BundleReason.PAYLOAD_TRAILING)
            if not self._done:  # pragma: no cover - an empty non-final chunk is impossible
                raise BundleInvalid(BundleReason.PAYLOAD_TRAILING)
