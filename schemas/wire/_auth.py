"""Signed device requests (docs/spec/api-v1.md §3).

A device signs each request with its Ed25519 key over the method, the path and query,
a timestamp, a random nonce and the SHA-256 of the body. The nonce matters: Ed25519 is
deterministic, so without it two identical requests in the same second (a legitimate
retry) would carry identical signatures and look like a replay. No shared secret lives
on the device. The server checks the signature, a ±300 s window, and that it has not
seen the signature before.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "H_DEVICE",
    "H_NONCE",
    "H_SIGNATURE",
    "H_TIMESTAMP",
    "REQUEST_LABEL",
    "request_message",
    "sign_request_headers",
]

REQUEST_LABEL = b"sealsync/api/v1 request\x00"
H_DEVICE = "Sealsync-Device"
H_TIMESTAMP = "Sealsync-Timestamp"
H_SIGNATURE = "Sealsync-Signature"
H_NONCE = "Sealsync-Nonce"


def request_message(
    method: str, path_qs: str, timestamp: int, nonce: str, body_sha256: bytes
) -> bytes:
    """The exact bytes a device signs (and the server verifies)."""
    return REQUEST_LABEL + "\n".join(
        [method.upper(), path_qs, str(timestamp), nonce, body_sha256.hex()]
    ).encode("ascii")


def sign_request_headers(
    key: Ed25519PrivateKey,
    device_id: uuid.UUID,
    method: str,
    path_qs: str,
    body: bytes,
    timestamp: int,
) -> dict[str, str]:
    """The four authentication headers for one request."""
    nonce = os.urandom(16).hex()
    msg = request_message(method, path_qs, timestamp, nonce, hashlib.sha256(body).digest())
    return {
        H_DEVICE: str(device_id),
        H_TIMESTAMP: str(timestamp),
        H_NONCE: nonce,
        H_SIGNATURE: base64.b64encode(key.sign(msg)).decode("ascii"),
    }
