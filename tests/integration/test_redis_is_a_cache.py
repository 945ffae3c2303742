"""Redis is a cache, never the record: losing its data changes no answer."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
import redis

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, create_product, register_and_login
from vendyz.core.markers import REVOCATIONS_LOADED_KEY


@pytest.fixture
def cache(local_cloud: LocalCloud) -> Iterator[redis.Redis]:
    assert local_cloud.urls is not None
    client = redis.Redis.from_url(local_cloud.urls.redis_url)
    yield client
    client.close()


def place(api: httpx.Client, token: str, product_id: str, key: str | None) -> httpx.Response:
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return api.post("/orders", json={"productId": product_id, "quantity": 1}, headers=headers)


def jti_of(token: str) -> str:
    jti: str = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    return jti


def test_a_replay_after_redis_lost_the_keys_answers_as_the_first_time(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a confirmed order for the last unit, then the product marked sold out
    user_id, token = register_and_login(api, prefix="replay")
    _, other = register_and_login(api, prefix="replay-other")
    product_id = create_product(api, admin_token, stock=1)
    first = place(api, token, product_id, "last-unit")
    assert first.status_code == 201, first.text
    assert place(api, other, product_id, "too-late").status_code == 409
    # AND Redis lost its memory of the key (a restart, an eviction)
    cache.delete(f"idem:{user_id}:last-unit")

    # WHEN the key is replayed
    replay = place(api, token, product_id, "last-unit")

    # THEN the same status and body as the first answer, not "sold out"
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_a_throttled_key_retried_at_once_meets_the_throttle_again(
    api: httpx.Client, admin_token: str
) -> None:
    # GIVEN a shopper who used up the burst of the order throttle
    _, token = register_and_login(api, prefix="bucket")
    product_id = create_product(api, admin_token, stock=100)
    statuses = [place(api, token, product_id, None).status_code for _ in range(25)]
    assert 429 in statuses, statuses
    throttled = place(api, token, product_id, "after-429")
    assert throttled.status_code == 429, throttled.text

    # WHEN the same key is retried at once
    retry = place(api, token, product_id, "after-429")

    # THEN it is throttled again: the 429 left nothing that lets the key skip the bucket
    assert retry.status_code == 429, retry.text
    assert int(retry.headers["Retry-After"]) >= 1


def test_a_logged_out_token_stays_refused_after_redis_lost_the_denylist(
    api: httpx.Client, admin_token: str, cache: redis.Redis
) -> None:
    # GIVEN a logged-out token, and Redis that lost the denylist (and its "complete" mark)
    _, token = register_and_login(api, prefix="lost-denylist")
    product_id = create_product(api, admin_token, stock=5)
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200
    cache.delete(f"revoked:{jti_of(token)}", REVOCATIONS_LOADED_KEY)

    # WHEN the token is used for a read and for an order
    me = api.get("/auth/me", headers=bearer(token))
    order = place(api, token, product_id, "after-logout")

    # THEN both are refused: PostgreSQL, the record, is asked
    assert me.status_code == 401, me.text
    assert order.status_code == 401, order.text
