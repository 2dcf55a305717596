"""Device certificates (docs/spec/api-v1.md §7).

At enrollment the project signs a certificate binding a device id to the device's
Ed25519 public key, with a serial number and a validity window. The device keeps it; the
server checks it on every request and before accepting a bundle. The signed bytes are the
canonical msgpack encoding of :class:`DeviceCertificate`, signed with Ed25519 over
``CERT_LABEL ‖ body``.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import CertificateInvalid
from .text import Label

__all__ = [
    "CERT_LABEL",
    "DeviceCertificate",
    "SignedCertificate",
    "fingerprint",
    "issue",
    "verify",
]

CERT_LABEL = b"sealsync/v1 device certificate\x00"

_UTC = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
_KEY = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
_LABEL = Label  # schemas/text.py: 1-64 printable characters, no control character


class DeviceCertificate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the project vouches for: this key belongs to this device, for this time."""

    project_id: uuid.UUID
    device_id: uuid.UUID
    public_key: _KEY  # raw Ed25519
    serial: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    not_before: _UTC
    not_after: _UTC
    label: _LABEL  # an administrator's name for the device, never a person's name

    def public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


class SignedCertificate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    body: Annotated[bytes, msgspec.Meta(max_length=4096)]
    signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


_enc = msgspec.msgpack.Encoder(uuid_format="bytes")
_dec = msgspec.msgpack.Decoder(DeviceCertificate)


def issue(cert: DeviceCertificate, project_key: Ed25519PrivateKey) -> SignedCertificate:
    """Sign ``cert`` with the project's Ed25519 key."""
    if cert.not_after <= cert.not_before:
        raise ValueError("not_after must be after not_before")
    body = _enc.encode(cert)
    _dec.decode(body)  # constructors do not validate; the decoder does
    return SignedCertificate(body=body, signature=project_key.sign(CERT_LABEL + body))


def verify(
    signed: SignedCertificate,
    project_public: Ed25519PublicKey,
    *,
    now: datetime.datetime,
    project_id: uuid.UUID | None = None,
) -> DeviceCertificate:
    """Check signature, encoding, project and validity at ``now``; return the certificate.

    Raises :class:`~schemas.errors.CertificateInvalid` (with ``.reason``) otherwise.
    Revocation is the server's business: it keeps the list.
    """
    try:
        project_public.verify(signed.signature, CERT_LABEL + signed.body)
    except InvalidSignature:
        raise CertificateInvalid("signature") from None
    try:
        cert = _dec.decode(signed.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise CertificateInvalid("malformed") from None
    if _enc.encode(cert) != signed.body:
        raise CertificateInvalid("malformed")
    if project_id is not None and cert.project_id != project_id:
        raise CertificateInvalid("other project")
    if now < cert.not_before:
        raise CertificateInvalid("not yet valid")
    if now >= cert.not_after:
        raise CertificateInvalid("expired")
    return cert


def fingerprint(project_signing_key: bytes) -> str:
    """A short, readable fingerprint of the project's Ed25519 key, for people to compare
    aloud (enrollment trusts the key on first use): 8 groups of 4 hex digits of
    SHA-256("sealsync/v1 project key\x00" ‖ key)."""
    h = hashlib.sha256(b"sealsync/v1 project key\x00" + project_signing_key).hexdigest()[:32]
    return " ".join(h[i : i + 4] for i in range(0, 32, 4))
