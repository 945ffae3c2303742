"""Coalesced cache invalidation against the real Valkey: at once after a quiet spell, a burst
together."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from localcloud.cloud import LocalCloud
from vendyz.core.cache import create_redis
from vendyz.core.invalidation import CoalescedInvalidation

# Long enough that a burst of calls always lands inside it, even on a slow machine.
INTERVAL_SECONDS = 1.0


@pytest.fixture
def cache(local_cloud: LocalCloud) -> Iterator[redis.Redis]:
    assert local_cloud.urls is not None
    client = create_redis(local_cloud.urls.redis_url, max_connections=4)
    yield client
    client.close()


def keys() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return f"test:view:{run}", f"test:version:{run}"


def test_the_first_change_after_a_quiet_spell_goes_out_at_once(cache: redis.Redis) -> None:
    # GIVEN a cached view and an invalidation that has sent nothing yet
    view, version = keys()
    cache.set(view, b"stale")
    invalidation = CoalescedInvalidation(cache, interval_seconds=INTERVAL_SECONDS)
    # WHEN one change invalidates it
    invalidation.invalidate([view], [version])
    # THEN the view is gone and the version bumped before the call returns
    assert cache.get(view) is None
    assert cache.get(version) == b"1"


def test_a_burst_goes_out_together_when_the_interval_is_up(cache: redis.Redis) -> None:
    # GIVEN a change that just went out, and a reader that cached the view again
    view, version = keys()
    invalidation = CoalescedInvalidation(cache, interval_seconds=INTERVAL_SECONDS)
    invalidation.invalidate([view], [version])
    cache.set(view, b"read after the first change")
    # WHEN twenty more changes follow at once
    for _ in range(20):
        invalidation.invalidate([view], [version])
    # THEN they wait for the interval: the view is still there
    assert cache.get(view) == b"read after the first change"
    # AND once it is up the view is dropped and the version bumped once for the whole burst
    deadline = time.monotonic() + 10 * INTERVAL_SECONDS
    while cache.get(view) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.get(view) is None
    assert cache.get(version) == b"2"
