"""The signed set of published forms that devices fetch (docs/spec/api-v1.md §6).

The server signs the whole set, so a device can tell that the forms it holds are the
ones the project published, even when they travel on a USB stick.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import SchemaError
from ..text import SHA256_HEX, FormId, exact

__all__ = [
    "FORMSET_LABEL",
    "FormSet",
    "PublishedFormDoc",
    "SignedFormSet",
    "sign_formset",
    "verify_formset",
]

FORMSET_LABEL = b"sealsync/v1 form set\x00"


class PublishedFormDoc(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    form_id: FormId
    version: Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
    digest: Annotated[str, msgspec.Meta(pattern=exact(SHA256_HEX))]
    document: bytes  # msgpack of schemas.survey.Form


class FormSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    issued_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)]
    forms: list[PublishedFormDoc]


class SignedFormSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    body: bytes
    signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


def sign_formset(fs: FormSet, key: Ed25519PrivateKey) -> SignedFormSet:
    body = msgspec.msgpack.encode(fs)
    return SignedFormSet(body=body, signature=key.sign(FORMSET_LABEL + body))


def verify_formset(signed: SignedFormSet, project_public: Ed25519PublicKey) -> FormSet:
    """Check the project's signature; raise :class:`~schemas.errors.SchemaError` if not."""
    try:
        project_public.verify(signed.signature, FORMSET_LABEL + signed.body)
        return msgspec.msgpack.decode(signed.body, type=FormSet)
    except (InvalidSignature, msgspec.DecodeError, msgspec.ValidationError):
        raise SchemaError("the form set is not signed by this project") from None
