"""Errors raised by :mod:`syncserver`.

One tree, rooted at :class:`SyncServerError`. Each error carries its HTTP meaning
(``status``) and a ``hint`` that says what to do next; one middleware renders every error
body the same way (docs/spec/api-v1.md §2)::

    SyncServerError (500)
     ├── ConfigError (500)              a config file or setting is unusable
     │    └── WeightsError (500)        a matching weights file is unusable
     ├── IdentityError (500)            the project identity cannot be read
     │    └── PassphraseRejected (401)  wrong passphrase or key file
     ├── ProjectExists (409)            init over an existing project
     ├── ProjectMissing (404)           no project at that directory
     ├── StoreError (500)               the store cannot be opened, read or written
     │    └── StorageFull (507)         the server's disk is full: nothing was taken in
     ├── DeviceError (400)              enrollment or device management refused
     │    ├── TokenInvalid (401)        enrollment token unknown, used or expired
     │    └── DeviceUnknown (404)       no such device
     └── RequestError (400)             an API request that cannot be served
          ├── BadRequest (400)          malformed body or header
          ├── AuthFailed (401)          missing, stale, replayed or wrong signature
          ├── NotFound (404)
          ├── RequestTimeout (408)      a request body arrived too slowly
          ├── UploadConflict (409)      same bundle id, other bytes; or wrong offset
          ├── ReviewConflict (409)      a review decision that contradicts the data
          ├── TooLarge (413)            over a size limit
          ├── Unprocessable (422)       well-formed, but wrong (e.g. size or hash mismatch)
          └── RateLimited (429)         too many requests or uploads at once

Messages never carry a passphrase, a key, an answer or a reason a bundle failed to open.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "IdentityError",
    "PassphraseRejected",
    "ProjectExists",
    "ProjectMissing",
    "DeviceError",
    "DeviceUnknown",
    "StoreError",
    "StorageFull",
    "RequestTimeout",
    "SyncServerError",
    "TokenInvalid",
    "AuthFailed",
    "BadRequest",
    "NotFound",
    "RateLimited",
    "RequestError",
    "ReviewConflict",
    "TooLarge",
    "Unprocessable",
    "UploadConflict",
    "WeightsError",
]


class SyncServerError(Exception):
    """Root of every syncserver error."""

    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message
        self.hint = hint
        self.retry_after = retry_after
        self.headers = headers or {}
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")


class ConfigError(SyncServerError):
    code = "config"


class WeightsError(ConfigError):
    code = "weights_invalid"


class IdentityError(SyncServerError):
    code = "identity"


class PassphraseRejected(IdentityError):
    status = 401
    code = "passphrase_rejected"


class ProjectExists(SyncServerError):
    status = 409
    code = "project_exists"


class ProjectMissing(SyncServerError):
    status = 404
    code = "project_missing"


class StoreError(SyncServerError):
    code = "store"


class StorageFull(StoreError):
    """The disk under the upload area, the blob store or the database is full (ENOSPC,
    EDQUOT, SQLITE_FULL). What was acknowledged before is kept; the failed step left
    nothing behind, so the same request can simply be sent again later."""

    status = 507
    code = "storage_full"

    def __init__(
        self,
        message: str = "the server's disk is full",
        *,
        hint: str | None = None,
        retry_after: int | None = 60,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            message,
            hint=hint
            or "nothing you sent before was lost; try again later and resume from the"
            " upload's current offset (the server's administrator must free disk space)",
            retry_after=retry_after,
            headers=headers,
        )


class DeviceError(SyncServerError):
    status = 400
    code = "device"


class TokenInvalid(DeviceError):
    status = 401
    code = "token_invalid"


class DeviceUnknown(DeviceError):
    status = 404
    code = "device_unknown"


class RequestError(SyncServerError):
    status = 400
    code = "bad_request"


class BadRequest(RequestError):
    pass


class AuthFailed(RequestError):
    status = 401
    code = "unauthorized"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class RequestTimeout(RequestError):
    status = 408
    code = "timeout"


class UploadConflict(RequestError):
    status = 409
    code = "conflict"


class ReviewConflict(RequestError):
    status = 409
    code = "review_conflict"


class TooLarge(RequestError):
    status = 413
    code = "too_large"


class Unprocessable(RequestError):
    status = 422
    code = "unprocessable"


class RateLimited(RequestError):
    status = 429
    code = "rate_limited"
