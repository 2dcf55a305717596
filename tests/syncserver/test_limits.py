"""Rate and concurrency limits answer 429 with Retry-After and a hint."""

from __future__ import annotations

import uuid

import pytest

from syncserver.errors import AuthFailed, RateLimited
from syncserver.web._base import Gate


def test_rate_limit_per_device_refills_over_time() -> None:
    g = Gate(per_minute=3, uploads=2, skew=300)
    d, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        g.take(d, now=100.0)
    with pytest.raises(RateLimited) as e:
        g.take(d, now=100.0)
    assert e.value.status == 429 and e.value.retry_after and e.value.hint
    g.take(other, now=100.0)  # another device has its own budget
    g.take(d, now=120.1)  # 20 s later one request's worth has come back


def test_uploads_in_flight_per_device() -> None:
    g = Gate(per_minute=100, uploads=2, skew=300)
    d = uuid.uuid4()
    g.enter(d)
    g.enter(d)
    with pytest.raises(RateLimited, match="2 uploads in flight"):
        g.enter(d)
    g.leave(d)
    g.enter(d)


def test_replayed_signature_is_refused_until_it_ages_out() -> None:
    g = Gate(per_minute=100, uploads=2, skew=300)
    g.remember(b"sig", now=0.0)
    with pytest.raises(AuthFailed, match="replayed"):
        g.remember(b"sig", now=10.0)
    g.remember(b"sig", now=700.0)  # outside twice the window: forgotten, and stale anyway
