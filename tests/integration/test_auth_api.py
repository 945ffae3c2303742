"""The auth routes and the authorizer through the local cloud's HTTP API: real PostgreSQL,
Valkey and NATS, payload-2.0 events, the Lambda REQUEST authorizer in front of /auth/me,
/auth/logout and the admin routes.

Failed-login tests come from their own loopback address (127.x.y.z) so the per-address
throttle they provoke never reaches the other tests, which all come from 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest
import redis

from localcloud.cloud import LocalCloud
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, bearer, invoke, login, register_and_login
from vendyz.core.tokens import Tokens

PASSWORD = "correct-horse"
OTHER_KEY = "not-the-servers-key-but-long-enough-0123456789"

Db = psycopg.Connection[dict[str, Any]]


def unique_email(prefix: str = "auth") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register(api: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return api.post(
        "/auth/register",
        json={"email": email, "password": password, "firstName": "Test", "lastName": "User"},
    )


def b64url_json(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_unauthorized(reply: httpx.Response) -> None:
    """A function's 401, in our envelope."""
    assert reply.status_code == 401, reply.text
    body = reply.json()
    assert body["success"] is False
    assert body["data"] is None


def assert_refused_by_api_gateway(reply: httpx.Response) -> None:
    """API Gateway's own 401 (no token, or the authorizer refused it): its bytes, not ours."""
    assert reply.status_code == 401, reply.text
    assert reply.content == b'{"message":"Unauthorized"}'


@pytest.fixture
def api_from_own_address(local_cloud: LocalCloud) -> Iterator[httpx.Client]:
    """A client whose requests come from a fresh loopback address (its own sourceIp)."""
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(
        base_url=f"{local_cloud.base_url}/api/v1", transport=transport, timeout=30
    ) as client:
        yield client


# -- logging in --------------------------------------------------------------------------------
def test_seeded_admin_logs_in_as_admin(api: httpx.Client, db: Db) -> None:
    # GIVEN the seeded admin
    # WHEN they log in
    reply = api.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})

    # THEN the reply carries a token and the original system's fields, role ADMIN
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) >= {"token", "userId", "email", "firstName", "lastName", "role"}
    assert data["role"] == "ADMIN"
    assert data["email"] == ADMIN_EMAIL
    assert data["token"].count(".") == 2
    # AND the seed's default-parameter hash was upgraded to the service's cheaper argon2id one
    row = db.execute("SELECT password_hash FROM auth.users WHERE email = %s", (ADMIN_EMAIL,))
    stored = row.fetchone()
    assert stored is not None
    assert str(stored["password_hash"]).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # AND logging in again with the upgraded hash still works
    assert login(api, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_new_user_registers_logs_in_and_reads_me(api: httpx.Client, db: Db) -> None:
    # GIVEN a new shopper whose email arrives with spaces and capitals
    email = unique_email("Mixed.Case").upper()
    reply = api.post(
        "/auth/register",
        json={
            "email": f"  {email} ",
            "password": PASSWORD,
            "firstName": "  Ada ",
            "lastName": "Lovelace",
        },
    )

    # THEN the account is created as a USER with the email normalised and names trimmed
    assert reply.status_code == 201, reply.text
    created = reply.json()["data"]
    assert created == {
        "userId": created["userId"],
        "email": email.lower(),
        "firstName": "Ada",
        "lastName": "Lovelace",
        "role": "USER",
    }
    uuid.UUID(created["userId"])
    row = db.execute(
        "SELECT password_hash FROM auth.users WHERE user_id = %s", (created["userId"],)
    ).fetchone()
    assert row is not None
    assert str(row["password_hash"]).startswith("$argon2id$")

    # WHEN they log in (any case) and ask who they are
    token = login(api, email.swapcase(), PASSWORD)
    me = api.get("/auth/me", headers=bearer(token))

    # THEN /auth/me answers their account from the database
    assert me.status_code == 200, me.text
    assert me.json()["data"] == created


def test_wrong_credentials_get_one_message_whether_or_not_the_email_exists(
    api_from_own_address: httpx.Client,
) -> None:
    # GIVEN an existing account
    email = unique_email()
    assert register(api_from_own_address, email).status_code == 201

    # WHEN one login has the wrong password and another an unknown email
    wrong_password = api_from_own_address.post(
        "/auth/login", json={"email": email, "password": "wrong-password"}
    )
    unknown_email = api_from_own_address.post(
        "/auth/login", json={"email": unique_email("nobody"), "password": PASSWORD}
    )

    # THEN both are the same 401
    assert_unauthorized(wrong_password)
    assert_unauthorized(unknown_email)
    assert wrong_password.json() == unknown_email.json()


# -- logout and the authorizer -----------------------------------------------------------------
def test_logout_revokes_that_token_at_once(
    api: httpx.Client, db: Db, local_cloud: LocalCloud
) -> None:
    # GIVEN a user with two sessions
    user_id, token = register_and_login(api, prefix="logout")
    reply = api.get("/auth/me", headers=bearer(token))
    email = reply.json()["data"]["email"]
    other_token = login(api, email, "correct-horse")
    assert api.get("/auth/me", headers=bearer(token)).status_code == 200

    # WHEN they log out with the first
    reply = api.post("/auth/logout", headers=bearer(token))

    # THEN the logout is confirmed, and the very next request with that token is refused
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"] == {"revoked": True}
    assert_unauthorized(api.get("/auth/me", headers=bearer(token)))
    assert_unauthorized(api.post("/auth/logout", headers=bearer(token)))
    # AND the other session is untouched
    assert api.get("/auth/me", headers=bearer(other_token)).status_code == 200
    # AND the revocation is in PostgreSQL and in Redis, expiring with the token
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    row = db.execute(
        "SELECT user_id::text AS user_id, expires_at FROM auth.revoked_tokens WHERE jti = %s",
        (jti,),
    ).fetchone()
    assert row is not None
    assert row["user_id"] == user_id
    assert local_cloud.urls is not None
    cache = redis.Redis.from_url(local_cloud.urls.redis_url)
    try:
        ttl = cache.ttl(f"revoked:{jti}")
    finally:
        cache.close()
    assert 0 < ttl <= 3600


def test_a_logged_out_token_is_refused_by_every_service_while_the_gateway_caches_it(
    api: httpx.Client, db: Db
) -> None:
    # GIVEN a shopper and an admin whose tokens each service has just accepted (so the
    # gateway holds the authorizer's allow for them: ReauthorizeEvery)
    user_id, token = register_and_login(api, prefix="cached")
    admin = login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert api.get("/orders", headers=bearer(token)).status_code == 200
    first = api.post(
        "/orders",
        json={"productId": "no-such-product", "quantity": 1},
        headers={**bearer(token), "Idempotency-Key": f"k-{uuid.uuid4()}"},
    )
    assert first.status_code == 404, first.text
    assert api.get("/auth/me", headers=bearer(admin)).status_code == 200

    # WHEN both log out
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200
    assert api.post("/auth/logout", headers=bearer(admin)).status_code == 200

    # THEN Orders and Inventory refuse the tokens at once too, and nothing is written
    assert_unauthorized(api.get("/orders", headers=bearer(token)))
    assert_unauthorized(
        api.post(
            "/orders",
            json={"productId": "product-3", "quantity": 1},
            headers={**bearer(token), "Idempotency-Key": f"k-{uuid.uuid4()}"},
        )
    )
    assert_unauthorized(
        api.post("/products", json={"name": "Never", "stock": 1}, headers=bearer(admin))
    )
    orders = db.execute(
        "SELECT count(*) AS n FROM orders.orders WHERE user_id = %s", (user_id,)
    ).fetchone()
    assert orders == {"n": 0}
    products = db.execute(
        "SELECT count(*) AS n FROM inventory.products WHERE name = 'Never'"
    ).fetchone()
    assert products == {"n": 0}


def test_heartbeat_beats_and_heals_a_lost_revocation(
    api: httpx.Client, local_cloud: LocalCloud, lambda_client: Any
) -> None:
    # GIVEN a logged-out token whose Redis denylist entry was lost (a Redis restart, say)
    _, token = register_and_login(api, prefix="heal")
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    assert local_cloud.urls is not None
    cache = redis.Redis.from_url(local_cloud.urls.redis_url)
    try:
        cache.delete(f"revoked:{jti}", "health:auth")

        # WHEN auth's scheduled heartbeat runs (invoked as EventBridge invokes it)
        result = invoke(lambda_client, "AuthFunction", {"task": "heartbeat"})

        # THEN the heartbeat is recorded and the revocation is back in Redis from PostgreSQL
        assert result["service"] == "auth"
        assert result["revocationsSynced"] >= 1
        assert cache.get("health:auth") is not None
        assert 0 < cache.ttl(f"revoked:{jti}") <= 3600
    finally:
        cache.close()
    assert_unauthorized(api.get("/auth/me", headers=bearer(token)))


@pytest.fixture(scope="module")
def signing_key(local_cloud: LocalCloud) -> str:
    """The JWT key the local cloud generated for its data dir (what an insider would hold)."""
    assert local_cloud.secrets is not None
    return local_cloud.secrets.jwt_key


def forged_tokens(valid: str, signing_key: str) -> dict[str, str]:
    header, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    now = time.time()
    return {
        "tampered": f"{header}.{b64url_json({**claims, 'role': 'ADMIN'})}.{signature}",
        "expired": Tokens(signing_key)
        .issue(
            user_id=claims["sub"],
            role="USER",
            email=claims["email"],
            ttl_seconds=3600,
            now=now - 7200,
        )
        .token,
        "alg-none": f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}"
        f".{b64url_json({**claims, 'role': 'ADMIN'})}.",
        "wrong-key": Tokens(OTHER_KEY)
        .issue(user_id=claims["sub"], role="ADMIN", email=claims["email"], ttl_seconds=600)
        .token,
        "garbage": "not.a.token",
    }


def test_bad_tokens_are_refused_with_401(api: httpx.Client, signing_key: str) -> None:
    # GIVEN a valid user token and forgeries derived from it
    _, token = register_and_login(api, prefix="forge")
    assert api.get("/auth/me", headers=bearer(token)).status_code == 200

    for name, forged in forged_tokens(token, signing_key).items():
        # WHEN each is presented
        reply = api.get("/auth/me", headers=bearer(forged))
        # THEN the gateway answers 401 without reaching the function
        assert reply.status_code == 401, (name, reply.text)
        assert reply.content == b'{"message":"Unauthorized"}', name


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ],
    ids=["no-header", "empty", "bearer-without-token", "basic-auth"],
)
def test_requests_without_a_bearer_token_get_401(
    api: httpx.Client, headers: dict[str, str]
) -> None:
    # WHEN a protected route is called without a usable bearer token
    # THEN API Gateway refuses it with its own 401
    assert_refused_by_api_gateway(api.get("/auth/me", headers=headers))


def test_valid_token_of_a_vanished_account_gets_401_from_me(
    api: httpx.Client, signing_key: str
) -> None:
    # GIVEN a correctly signed token for a user id that has no account
    token = (
        Tokens(signing_key)
        .issue(user_id=str(uuid.uuid4()), role="USER", email="ghost@example.com", ttl_seconds=600)
        .token
    )

    # WHEN /auth/me is asked, THEN it is 401 (the authorizer allowed it; the account is gone)
    assert_unauthorized(api.get("/auth/me", headers=bearer(token)))


def test_user_on_an_admin_route_gets_403(api: httpx.Client, admin_token: str) -> None:
    # GIVEN a USER and a valid product body
    _, token = register_and_login(api, prefix="not-admin")
    body = {"name": "Not allowed", "stock": 1}

    # WHEN the USER creates a product
    reply = api.post("/products", json=body, headers=bearer(token))

    # THEN it is 403 in the envelope
    assert reply.status_code == 403, reply.text
    assert reply.json()["success"] is False


# -- validation ----------------------------------------------------------------------------------
VALID = {"password": PASSWORD, "firstName": "Test", "lastName": "User"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "email": "not-an-email"}, "email"),
        ({**VALID, "email": "two@@example.com"}, "email"),
        ({**VALID, "email": "a" * 250 + "@example.com"}, "email"),
        ({**VALID, "email": None}, "email"),
        ({**VALID, "password": "short"}, "password"),
        ({**VALID, "password": "x" * 129}, "password"),
        ({**VALID, "password": 12345678}, "password"),
        ({**VALID, "firstName": 42}, "firstName"),
        ({**VALID, "firstName": "   "}, "firstName"),
        ({**VALID, "lastName": "x" * 101}, "lastName"),
        ({k: v for k, v in VALID.items() if k != "lastName"}, "lastName"),
        ({**VALID, "isAdmin": True}, "isAdmin"),
        ({**VALID, "role": "ADMIN"}, "role"),
    ],
    ids=[
        "email-format",
        "email-two-ats",
        "email-too-long",
        "email-null",
        "password-short",
        "password-long",
        "password-number",
        "firstName-number",
        "firstName-blank",
        "lastName-long",
        "lastName-missing",
        "unknown-field",
        "role-injection",
    ],
)
def test_invalid_registration_names_the_field_and_writes_nothing(
    api: httpx.Client, db: Db, body: dict[str, Any], field: str
) -> None:
    # GIVEN a registration body wrong in one field (with a fresh email unless email is the fault)
    email = unique_email("invalid")
    payload = {"email": email, **body}

    # WHEN it is posted
    reply = api.post("/auth/register", json=payload)

    # THEN it is a 4xx envelope naming the field
    assert reply.status_code == 422, reply.text
    envelope = reply.json()
    assert envelope["success"] is False
    assert field in envelope["message"]
    assert field in {e["field"] for e in envelope["data"]["errors"]}
    # AND no account was created
    count = db.execute(
        "SELECT count(*) AS n FROM auth.users WHERE email = lower(%s)",
        (str(payload.get("email")),),
    ).fetchone()
    assert count is not None
    assert count["n"] == 0


def test_malformed_json_is_400_and_writes_nothing(api: httpx.Client, db: Db) -> None:
    # GIVEN a body that is not JSON
    email = unique_email("malformed")
    raw = f'{{"email": "{email}", "password": "{PASSWORD}", "firstName": "A", '

    # WHEN it is posted
    reply = api.post("/auth/register", content=raw, headers={"Content-Type": "application/json"})

    # THEN it is a 400 envelope naming the body, and nothing is written
    assert reply.status_code == 400, reply.text
    assert reply.json()["success"] is False
    assert "body" in reply.json()["message"]
    count = db.execute("SELECT count(*) AS n FROM auth.users WHERE email = %s", (email,))
    row = count.fetchone()
    assert row is not None
    assert row["n"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": ADMIN_EMAIL}, "password"),
        ({"email": ADMIN_EMAIL, "password": 123}, "password"),
        ({"email": ADMIN_EMAIL, "password": "x", "remember": True}, "remember"),
    ],
    ids=["password-missing", "password-number", "unknown-field"],
)
def test_invalid_login_body_names_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    reply = api.post("/auth/login", json=body)
    assert reply.status_code == 422, reply.text
    assert field in reply.json()["message"]


def test_duplicate_email_is_409(api: httpx.Client, db: Db) -> None:
    # GIVEN a registered email
    email = unique_email("dup")
    assert register(api, email).status_code == 201

    # WHEN it is registered again, in other letter case
    reply = register(api, email.upper(), password="another-password")

    # THEN it is 409 naming the email, and there is still one account
    assert reply.status_code == 409, reply.text
    assert reply.json()["success"] is False
    assert "email" in reply.json()["message"]
    row = db.execute("SELECT count(*) AS n FROM auth.users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    assert row["n"] == 1


# -- throttling ----------------------------------------------------------------------------------
def test_login_is_throttled_per_account_and_address_after_ten_failures(
    api_from_own_address: httpx.Client,
) -> None:
    # GIVEN an account whose password is guessed wrong ten times from one address
    client = api_from_own_address
    email = unique_email("throttled")
    assert register(client, email).status_code == 201
    for _ in range(10):
        assert_unauthorized(client.post("/auth/login", json={"email": email, "password": "guess"}))

    # WHEN the next attempt comes, even with the right password
    reply = client.post("/auth/login", json={"email": email, "password": PASSWORD})

    # THEN it is 429 with Retry-After in seconds, up to the 5-minute window
    assert reply.status_code == 429, reply.text
    assert reply.json()["success"] is False
    assert 0 < int(reply.headers["Retry-After"]) <= 300
    # AND another account is not affected
    other = unique_email("unaffected")
    assert register(client, other).status_code == 201
    assert login(client, other, PASSWORD)


def test_successful_login_resets_the_account_counter(api_from_own_address: httpx.Client) -> None:
    # GIVEN nine failed logins and then a successful one
    client = api_from_own_address
    email = unique_email("reset")
    assert register(client, email).status_code == 201
    for _ in range(9):
        assert_unauthorized(client.post("/auth/login", json={"email": email, "password": "x"}))
    assert login(client, email, PASSWORD)

    # WHEN nine more failures follow
    for _ in range(9):
        assert_unauthorized(client.post("/auth/login", json={"email": email, "password": "x"}))

    # THEN the account is still not locked
    assert login(client, email, PASSWORD)


def test_login_is_throttled_per_address_after_fifty_failures(
    api_from_own_address: httpx.Client, api: httpx.Client
) -> None:
    # GIVEN one address spraying a password over fifty different emails
    client = api_from_own_address
    for _ in range(50):
        reply = client.post(
            "/auth/login", json={"email": unique_email("spray"), "password": "Summer2026!"}
        )
        assert_unauthorized(reply)

    # WHEN that address tries again, even with good credentials
    reply = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})

    # THEN it is 429 with Retry-After within the minute window
    assert reply.status_code == 429, reply.text
    assert 0 < int(reply.headers["Retry-After"]) <= 60
    # AND other addresses still log in
    assert login(api, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_tokens_are_signed_with_the_key_generated_for_the_data_dir(
    api: httpx.Client, signing_key: str
) -> None:
    # GIVEN the local cloud, whose Auth function reads its key from the local Secrets Manager
    # WHEN a shopper logs in
    _, token = register_and_login(api, prefix="key")
    # THEN the token is signed with the data dir's own key (none is in the source)
    claims = jwt.decode(token, signing_key, algorithms=["HS256"])
    assert claims["role"] == "USER"
