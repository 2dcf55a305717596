"""The one error body every API response uses (docs/spec/api-v1.md §2)."""

from __future__ import annotations

import msgspec

__all__ = ["ErrorBody", "ErrorDetail"]


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: str
    message: str
    hint: str | None = None
    retry_after: int | None = None


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    error: ErrorDetail
