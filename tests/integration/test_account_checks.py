"""Auth that trusts no more than it must: a token's account as the database has it now, and
throttles that cannot be turned against the real user."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis

from localcloud.cloud import LocalCloud
from tests.helpers import bearer, create_product, login, register_and_login
from vendyz.auth.service import AuthService, Limit, LoginLimits
from vendyz.core.db import create_pool
from vendyz.core.errors import TooManyRequests
from vendyz.core.tokens import Tokens

PASSWORD = "correct-horse"


def order(api: httpx.Client, token: str, product_id: str) -> httpx.Response:
    return api.post(
        "/orders",
        json={"productId": product_id, "quantity": 1},
        headers=bearer(token) | {"Idempotency-Key": str(uuid.uuid4())},
    )


def client_from_own_address(local_cloud: LocalCloud) -> httpx.Client:
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    return httpx.Client(
        base_url=f"{local_cloud.base_url}/api/v1",
        transport=httpx.HTTPTransport(local_address=address),
        timeout=30,
    )


@pytest.fixture(scope="module")
def product(api: httpx.Client, admin_token: str) -> str:
    return create_product(api, admin_token, stock=100)


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM auth.users WHERE user_id = %s",
        "UPDATE auth.users SET active = false WHERE user_id = %s",
    ],
    ids=["deleted", "deactivated"],
)
def test_a_token_stops_buying_the_moment_its_account_goes(
    api: httpx.Client, db: psycopg.Connection[Any], product: str, change: str
) -> None:
    # GIVEN a shopper whose token has just bought
    user_id, token = register_and_login(api, prefix="gone")
    assert order(api, token, product).status_code == 201
    # WHEN the account is deleted or deactivated
    db.execute(change, (user_id,))
    # THEN the same, unexpired token buys nothing
    reply = order(api, token, product)
    assert reply.status_code == 401, reply.text


def test_a_demoted_admin_token_stops_at_once_on_admin_routes(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    # GIVEN an admin with a token that says ADMIN
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    user_id, _ = register_and_login(api, prefix="demoted")
    db.execute(
        "UPDATE auth.users SET role = 'ADMIN', email = %s WHERE user_id = %s", (email, user_id)
    )
    token = login(api, email, PASSWORD)
    assert (
        api.post("/products", json={"name": "ok", "stock": 1}, headers=bearer(token)).status_code
        == 201
    )
    # WHEN the account is demoted to USER
    db.execute("UPDATE auth.users SET role = 'USER' WHERE user_id = %s", (user_id,))
    # THEN the token, still signed ADMIN, may no longer create products
    reply = api.post("/products", json={"name": "no", "stock": 1}, headers=bearer(token))
    assert reply.status_code == 403, reply.text


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(
    api: httpx.Client, local_cloud: LocalCloud
) -> None:
    # GIVEN an attacker's address that failed ten logins on a shopper's account
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "firstName": "T", "lastName": "U"}
    assert api.post("/auth/register", json=body).status_code == 201
    with client_from_own_address(local_cloud) as attacker:
        for _ in range(10):
            wrong = attacker.post("/auth/login", json={"email": email, "password": "guess"})
            assert wrong.status_code == 401
        assert (
            attacker.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code
            == 429
        )
    # WHEN the shopper logs in from their own address
    with client_from_own_address(local_cloud) as shopper:
        reply = shopper.post("/auth/login", json={"email": email, "password": PASSWORD})
    # THEN they get in
    assert reply.status_code == 200, reply.text


@pytest.fixture
def auth_service(local_cloud: LocalCloud) -> Iterator[AuthService]:
    assert local_cloud.urls is not None
    pool = create_pool(local_cloud.urls.database_url, max_size=2, name="test-auth")
    cache = redis.Redis.from_url(local_cloud.urls.redis_url)
    limits = LoginLimits(registrations=Limit(2, 3600))
    yield AuthService(
        pool, cache, Tokens(local_cloud.secrets.jwt_key), token_ttl_seconds=60, limits=limits
    )
    pool.close()
    cache.close()


def test_registrations_are_throttled_per_address(auth_service: AuthService) -> None:
    def register(address: str) -> None:
        auth_service.register(
            email=f"reg-{uuid.uuid4().hex[:10]}@example.com",
            password=PASSWORD,
            first_name="R",
            last_name="T",
            client_address=address,
        )

    # GIVEN an address that made the two registrations an hour allows
    address = f"198.51.100.{random.randint(1, 254)}-{uuid.uuid4().hex[:6]}"
    register(address)
    register(address)
    # WHEN it registers once more, THEN 429 with the window's remaining seconds
    with pytest.raises(TooManyRequests) as refused:
        register(address)
    assert 0 < int(refused.value.headers["Retry-After"]) <= 3600
    # AND another address still registers
    register(f"{address}-other")
