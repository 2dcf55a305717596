from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import id_time_ms, new_id


@given(ms=st.integers(0, 2**48 - 1), rand=st.binary(min_size=10, max_size=10))
def test_uuid7_layout(ms: int, rand: bytes) -> None:
    u = new_id(clock=lambda: ms * 1_000_000, rng=lambda n: rand[:n])
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    assert id_time_ms(u) == ms


def test_ids_are_time_ordered() -> None:
    ids = [new_id(clock=lambda t=t: t * 1_000_000) for t in range(1000, 1100)]
    assert ids == sorted(ids)


def test_clock_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        new_id(clock=lambda: -1_000_000)
    with pytest.raises(ValueError):
        id_time_ms(uuid.uuid4())
