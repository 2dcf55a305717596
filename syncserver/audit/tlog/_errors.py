"""Errors raised by :mod:`syncserver.audit.tlog` (docs/spec/audit-log-v1.md §10).

::

    SyncServerError
     └── TlogWriteError (500)            the log writer was asked something it cannot do
          ├── LogRangeError (400)        an index or tree size outside the log as it stands
          └── NoteInputInvalid (500)     text, name or key that cannot be signed canonically

Each carries its HTTP meaning (``status``), as every ``SyncServerError`` does.
"""

from __future__ import annotations

from ...errors import SyncServerError

__all__ = ["LogRangeError", "NoteInputInvalid", "TlogWriteError"]


class TlogWriteError(SyncServerError):
    """Root of the writer's errors; raised as such for a malformed leaf hash."""

    status = 500
    code = "log"


class LogRangeError(TlogWriteError):
    """An index or size the log cannot prove: ask for one within the current tree size."""

    status = 400
    code = "log_range"


class NoteInputInvalid(TlogWriteError):
    """The signer was given a name, text, origin or root it cannot sign canonically."""

    status = 500
