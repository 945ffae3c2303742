"""The gateways of several worker processes share one authorizer cache, as API Gateway keeps
one per API: through the local cloud's Valkey, with the fake handlers of the unit tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localcloud.cloud import LocalCloud
from localcloud.gateway import Gateway
from localcloud.runtime import FunctionRuntime
from tests.unit import fake_handlers
from tests.unit.test_gateway import CALLS_DIR, CLIENT_IP, SECRETS, _template, handler_event

ALLOWED_CONTEXT = {"lambda": {"userId": "user-42", "role": "ADMIN"}}


@pytest.fixture(scope="module")
def runtimes() -> Iterator[dict[str, FunctionRuntime]]:
    pools = {name: FunctionRuntime(spec) for name, spec in _template().functions.items()}
    yield pools
    for runtime in pools.values():
        runtime.shutdown()


def two_workers(
    runtimes: dict[str, FunctionRuntime], tmp_path: Path, ttl: float, shared_url: str
) -> tuple[Gateway, Gateway]:
    template = _template(authorizer_ttl_seconds=ttl)
    return (
        Gateway(template, runtimes, tmp_path, secrets=SECRETS, shared_cache_url=shared_url),
        Gateway(template, runtimes, tmp_path, secrets=SECRETS, shared_cache_url=shared_url),
    )


async def get_private(gateway: Gateway, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=gateway, client=(CLIENT_IP, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        return await client.get("/api/private", headers={"Authorization": token})


def test_an_allow_from_one_worker_serves_the_other_until_it_expires(
    local_cloud: LocalCloud, runtimes: dict[str, FunctionRuntime], tmp_path: Path
) -> None:
    assert local_cloud.urls is not None
    # GIVEN two workers' gateways sharing the cache, allows living 1 s
    first, second = two_workers(runtimes, tmp_path, 1.0, local_cloud.urls.redis_url)
    token = f"Bearer shared-{uuid.uuid4()}"

    async def scenario() -> tuple[list[httpx.Response], int, int]:
        # (warm instances first: a cold start would take much of the allow's life)
        await get_private(first, f"Bearer warm-up-{uuid.uuid4()}")
        # WHEN a shopper's request reaches one worker, the next one the other
        replies = [await get_private(first, token), await get_private(second, token)]
        asked_within_ttl = fake_handlers.authorizer_calls(CALLS_DIR)[token]
        # AND another comes to the second worker after the allow expired
        await asyncio.sleep(1.1)
        replies.append(await get_private(second, token))
        return replies, asked_within_ttl, fake_handlers.authorizer_calls(CALLS_DIR)[token]

    replies, asked_within_ttl, asked_in_all = asyncio.run(scenario())
    # THEN the authorizer ran once for both workers, and again once the allow expired
    assert asked_within_ttl == 1
    assert asked_in_all == 2
    # AND every request reached the function with the authorizer's context
    for reply in replies:
        assert handler_event(reply)["requestContext"]["authorizer"] == ALLOWED_CONTEXT


def test_without_the_shared_cache_each_worker_asks_the_authorizer_itself(
    runtimes: dict[str, FunctionRuntime], tmp_path: Path
) -> None:
    # GIVEN two workers whose shared cache cannot be reached (nothing listens on port 9)
    first, second = two_workers(runtimes, tmp_path, 60, "redis://127.0.0.1:9/0")
    token = f"Bearer unshared-{uuid.uuid4()}"

    async def scenario() -> list[httpx.Response]:
        # WHEN a shopper calls each worker twice
        return [await get_private(g, token) for g in (first, second, first, second)]

    replies = asyncio.run(scenario())
    # THEN every request is still served, each worker asking the authorizer once
    for reply in replies:
        assert handler_event(reply)["requestContext"]["authorizer"] == ALLOWED_CONTEXT
    assert fake_handlers.authorizer_calls(CALLS_DIR)[token] == 2
