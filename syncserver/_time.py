"""Time as the server keeps it: aware UTC datetimes in code, Unix milliseconds in the
store. One place for the conversions (every module had its own ``_ms``)."""

from __future__ import annotations

import datetime

__all__ = ["from_ms", "ms", "now"]


def now() -> datetime.datetime:
    """The current time, UTC."""
    return datetime.datetime.now(datetime.UTC)


def ms(t: datetime.datetime) -> int:
    """``t`` as Unix milliseconds."""
    return int(t.timestamp() * 1000)


def from_ms(value: int) -> datetime.datetime:
    """Unix milliseconds as an aware UTC datetime."""
    return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC)
