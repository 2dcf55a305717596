"""Enrollment messages (docs/spec/api-v1.md §7).

A device proves it holds its key by signing its request. Online, the request carries a
one-time token and goes to ``POST /v1/enroll``. Offline, the same request is written to
a file, carried to an administrator, and answered with a response file; neither file holds
a secret. The response pins the project's public keys and the audit log's verifier key.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..certs import SignedCertificate
from ..text import Label, exact

__all__ = [
    "ENROLL_LABEL",
    "ENROLL_TOKEN_PREFIX",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "sign_request",
    "verify_request",
]

ENROLL_LABEL = b"sealsync/v1 enrollment request\x00"
#: Every one-time enrollment token starts with this (api-v1.md §7): the server makes them
#: so, and the field kit knows one by it (a token pasted where the URL goes is never
#: echoed in an error message). One definition, so that both ends agree.
ENROLL_TOKEN_PREFIX = "sst1_"
_KEY = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
_LABEL = Label  # schemas/text.py: 1-64 printable characters, no control character


class EnrollmentRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A device asks to be enrolled. ``signature`` is over :func:`_signed` of the rest."""

    public_key: _KEY
    label: _LABEL
    token: Annotated[str, msgspec.Meta(max_length=128)] = ""
    signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)] = bytes(64)


class EnrollmentResponse(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a device pins: its certificate and the project's public keys."""

    certificate: SignedCertificate
    project_id: uuid.UUID
    recipient_public_key: _KEY  # X25519: bundles are sealed to it
    signing_public_key: _KEY  # Ed25519: certificates, receipts, checkpoints
    #: The audit log's origin (a signed-note key name): printable ASCII, no space or '+'.
    log_origin: Annotated[str, msgspec.Meta(pattern=exact(r"[!-*,-~]{1,256}"))]


def _signed(req: EnrollmentRequest) -> bytes:
    body = msgspec.structs.replace(req, signature=bytes(64))
    return ENROLL_LABEL + msgspec.msgpack.encode(body)


def sign_request(req: EnrollmentRequest, key: Ed25519PrivateKey) -> EnrollmentRequest:
    return msgspec.structs.replace(req, signature=key.sign(_signed(req)))


def verify_request(req: EnrollmentRequest) -> bool:
    """True if the request is signed by the key it names (proof of possession)."""
    try:
        Ed25519PublicKey.from_public_bytes(req.public_key).verify(req.signature, _signed(req))
    except (InvalidSignature, ValueError):
        return False
    return True
