"""Shared values and builders for server tests (imported as ``server_helpers``)."""

from __future__ import annotations

import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.wire import EnrollmentRequest, sign_request
from syncserver.identity import KdfParams, Secret

#: Fast Argon2id for tests only; production uses the defaults (about 0.4 s).
FAST_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
SECRET = Secret(passphrase="synthetic test passphrase")
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def device_request(
    label: str = "laptop-1", token: str = ""
) -> tuple[Ed25519PrivateKey, EnrollmentRequest]:
    """A device key and its signed enrollment request (synthetic)."""
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, sign_request(EnrollmentRequest(public_key=pub, label=label, token=token), key)
