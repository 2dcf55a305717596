"""Time-ordered identifiers (UUIDv7, RFC 9562 §5.7; docs/spec/bundle-v1.md §4).

Bundle ids and record ids are UUIDv7 so that the central store inserts them in roughly
increasing order. The clock and the randomness are injectable so that test vectors are
reproducible; production code passes neither.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

__all__ = ["Clock", "Rng", "new_id", "id_time_ms"]

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


def id_time_ms(value: uuid.UUID) -> int:
    """The Unix millisecond timestamp of a UUIDv7."""
    if value.version != 7:
        raise ValueError("not a UUIDv7")
    return value.int >> 80
