"""Upload messages (docs/spec/api-v1.md §4–§5)."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

__all__ = ["UploadCreate", "UploadState"]

_SHA256 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class UploadCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/uploads``: announce a bundle by id, size and SHA-256."""

    bundle_id: uuid.UUID
    size: Annotated[int, msgspec.Meta(ge=1, le=2**62)]
    sha256: _SHA256


class UploadState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where an upload stands: bytes received so far, and whether it is complete."""

    bundle_id: uuid.UUID
    size: int
    offset: int
    complete: bool = False
