"""Time-ordered identifiers (UUIDv7, RFC 9562 §5.7; docs/spec/bundle-v1.md §4).

Bundle ids and record ids are UUIDv7 so that the central store inserts them in roughly
increasing order. The clock and the randomness are injectable so that test vectors are
reproducible; production code passes neither.

An id read from text (a URL, a header, a command line) goes through :func:`parse_id`:
``uuid.UUID(text)`` also accepts braces, a ``urn:uuid:`` prefix, hyphens anywhere,
underscores and a final newline, so that one id has many spellings and
``"0123…cde\n"`` names another id than it seems to.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable

__all__ = ["Clock", "Rng", "new_id", "id_time_ms", "parse_id"]

Rng = Callable[[int], bytes]
Clock = Callable[[], int]  # nanoseconds since the Unix epoch


def new_id(*, clock: Clock = time.time_ns, rng: Rng = os.urandom) -> uuid.UUID:
    """Return a fresh UUIDv7: 48-bit Unix milliseconds, version 7, 74 random bits."""
    ms = clock() // 1_000_000
    if not 0 <= ms < 1 << 48:
        raise ValueError("clock out of UUIDv7 range")
    rand = int.from_bytes(rng(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


_HEX = "[0-9a-fA-F]"
_CANONICAL = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")


def parse_id(text: str) -> uuid.UUID:
    """The UUID ``text`` spells in the canonical 8-4-4-4-12 hex form, and nothing else.

    Raises ``ValueError`` for any other spelling (braces, ``urn:uuid:``, missing or moved
    hyphens, underscores, spaces, a final newline, non-ASCII digits).
    """
    if not isinstance(text, str) or _CANONICAL.fullmatch(text) is None:
        raise ValueError("not an id in the form 01890a5d-ac96-774b-bcce-b302099a8057")
    return uuid.UUID(text)


def id_time_ms(value: uuid.UUID) -> int:
    """The Unix millisecond timestamp of a UUIDv7."""
    if value.version != 7:
        raise ValueError("not a UUIDv7")
    return value.int >> 80
