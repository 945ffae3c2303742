"""Bad input gets a clear 4xx envelope naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.helpers import bearer, create_product, register_and_login, stock_of


@pytest.fixture(scope="module")
def buyer(api: httpx.Client) -> tuple[str, str]:
    return register_and_login(api)


@pytest.fixture(scope="module")
def product(api: httpx.Client, admin_token: str) -> str:
    return create_product(api, admin_token, stock=5)


def orders_of(db: psycopg.Connection[Any], user_id: str) -> int:
    row = db.execute("SELECT count(*) AS n FROM orders.orders WHERE user_id = %s", (user_id,))
    found = row.fetchone()
    assert found is not None
    return int(found["n"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"productId": "P", "quantity": 0}, "quantity"),
        ({"productId": "P", "quantity": -1}, "quantity"),
        ({"productId": "P", "quantity": 10**9}, "quantity"),
        ({"productId": "P", "quantity": "2"}, "quantity"),
        ({"productId": "P", "quantity": 1.5}, "quantity"),
        ({"productId": "P", "quantity": True}, "quantity"),
        ({"productId": "P"}, "quantity"),
        ({"quantity": 1}, "productId"),
        ({"productId": 12, "quantity": 1}, "productId"),
        ({"productId": "", "quantity": 1}, "productId"),
        ({"productId": "P", "quantity": 1, "price": 0}, "price"),
    ],
)
def test_invalid_order_bodies_name_the_field_and_write_nothing(
    api: httpx.Client,
    buyer: tuple[str, str],
    product: str,
    db: psycopg.Connection[Any],
    body: dict[str, Any],
    field: str,
) -> None:
    user_id, token = buyer
    before = orders_of(db, user_id)
    # GIVEN a body with one bad field (P stands for a real product)
    body = {k: (product if v == "P" else v) for k, v in body.items()}
    # WHEN it is sent
    reply = api.post("/orders", json=body, headers=bearer(token) | {"Idempotency-Key": "bad-1"})
    # THEN 422 with an envelope naming the field, and nothing changed
    assert reply.status_code == 422, reply.text
    payload = reply.json()
    assert payload["success"] is False
    assert field in payload["message"]
    assert field in {e["field"] for e in payload["data"]["errors"]}
    assert orders_of(db, user_id) == before
    assert stock_of(api, product) == 5


def test_malformed_json_is_a_400_naming_the_body(
    api: httpx.Client, buyer: tuple[str, str], db: psycopg.Connection[Any]
) -> None:
    user_id, token = buyer
    headers = bearer(token) | {"Content-Type": "application/json"}
    reply = api.post("/orders", content=b'{"productId": "product-2", "quantity": ', headers=headers)
    assert reply.status_code == 400
    assert reply.json()["success"] is False
    assert "body" in reply.json()["message"]
    assert orders_of(db, user_id) == 0


def test_an_oversized_body_is_a_413(api: httpx.Client, buyer: tuple[str, str]) -> None:
    _, token = buyer
    huge = {"productId": "x" * 100_000, "quantity": 1}
    reply = api.post("/orders", json=huge, headers=bearer(token))
    assert reply.status_code == 413
    assert reply.json() == {
        "success": False,
        "message": reply.json()["message"],
        "data": reply.json()["data"],
    }
    assert "body" in reply.json()["message"]  # the function's own cap, in our envelope


def test_an_unknown_product_is_a_404_and_leaves_no_order(
    api: httpx.Client, buyer: tuple[str, str], db: psycopg.Connection[Any]
) -> None:
    user_id, token = buyer
    before = orders_of(db, user_id)
    reply = api.post(
        "/orders",
        json={"productId": "no-such-product", "quantity": 1},
        headers=bearer(token) | {"Idempotency-Key": "ghost"},
    )
    assert reply.status_code == 404
    assert "productId" in reply.json()["message"]
    assert orders_of(db, user_id) == before


def test_a_bad_idempotency_key_is_rejected_by_name(
    api: httpx.Client, buyer: tuple[str, str], product: str
) -> None:
    _, token = buyer
    reply = api.post(
        "/orders",
        json={"productId": product, "quantity": 1},
        headers=bearer(token) | {"Idempotency-Key": "k" * 500},
    )
    assert reply.status_code == 422
    assert "Idempotency-Key" in reply.json()["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 51}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_bad_pagination_names_the_parameter(
    api: httpx.Client, params: dict[str, Any], field: str
) -> None:
    reply = api.get("/products", params=params)
    assert reply.status_code == 422
    assert field in reply.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "stock": 1}, "name"),
        ({"name": "x", "stock": -1}, "stock"),
        ({"name": "x", "stock": "many"}, "stock"),
        ({"name": "x", "stock": 1, "max_per_user": 0}, "max_per_user"),
        ({"name": "x", "stock": 1, "starts_at": "tomorrow"}, "starts_at"),
        ({"name": "x", "stock": 1, "colour": "red"}, "colour"),
        (
            {
                "name": "x",
                "stock": 1,
                "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z",
            },
            "ends_at",
        ),
    ],
)
def test_bad_product_bodies_name_the_field_and_create_nothing(
    api: httpx.Client,
    admin_token: str,
    db: psycopg.Connection[Any],
    body: dict[str, Any],
    field: str,
) -> None:
    before = db.execute("SELECT count(*) AS n FROM inventory.products").fetchone()
    reply = api.post("/products", json=body, headers=bearer(admin_token))
    assert reply.status_code == 422, reply.text
    assert field in reply.json()["message"]
    assert db.execute("SELECT count(*) AS n FROM inventory.products").fetchone() == before


def test_unknown_product_and_unknown_order_are_404s(
    api: httpx.Client, admin_token: str, buyer: tuple[str, str]
) -> None:
    _, token = buyer
    assert api.get("/products/nope").status_code == 404
    stock = api.post("/products/nope/stock", json={"stock": 1}, headers=bearer(admin_token))
    assert stock.status_code == 404
    missing = api.get("/orders/8b0c3f4e-6a52-4a4e-9d59-3a2f5a8f0c11", headers=bearer(token))
    assert missing.status_code == 404
    malformed = api.get("/orders/not-a-uuid", headers=bearer(token))
    assert malformed.status_code == 422
    assert "id" in malformed.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "field", "authorized"),
    [
        ("/auth/login", {"email": "a\u0000@example.com", "password": "x"}, "email", False),
        (
            "/auth/register",
            {"email": "n@example.com", "password": "long-enough", "firstName": "A\u0000"}
            | {"lastName": "B"},
            "firstName",
            False,
        ),
        ("/orders", {"productId": "p\u0000", "quantity": 1}, "productId", True),
        ("/products", {"name": "nul\u0000name", "stock": 1}, "name", True),
    ],
)
def test_nul_characters_are_refused_by_field_name(
    api: httpx.Client,
    admin_token: str,
    path: str,
    body: dict[str, Any],
    field: str,
    authorized: bool,
) -> None:
    # GIVEN a body with a NUL character, which PostgreSQL cannot store in text
    headers = bearer(admin_token) if authorized else {}
    # WHEN it is sent
    reply = api.post(path, json=body, headers=headers)
    # THEN 422 naming the field, not a 500
    assert reply.status_code == 422, reply.text
    assert reply.json()["data"]["errors"][0]["field"] == field


def test_a_nul_in_a_path_parameter_is_a_422(api: httpx.Client) -> None:
    reply = api.get("/products/a%00b")
    assert reply.status_code == 422
    assert "id" in reply.json()["message"]


def test_a_duplicated_json_key_is_refused_not_last_one_wins(
    api: httpx.Client, buyer: tuple[str, str], product: str, db: psycopg.Connection[Any]
) -> None:
    user_id, token = buyer
    before = orders_of(db, user_id)
    # GIVEN a body that names quantity twice
    raw = f'{{"productId": "{product}", "quantity": 1, "quantity": 2}}'.encode()
    # WHEN it is sent
    reply = api.post(
        "/orders", content=raw, headers=bearer(token) | {"Content-Type": "application/json"}
    )
    # THEN 422 naming the field, and no order
    assert reply.status_code == 422, reply.text
    assert reply.json()["data"]["errors"][0]["field"] == "quantity"
    assert orders_of(db, user_id) == before


def test_a_chunked_body_over_the_cap_is_a_413_as_with_a_length(
    api: httpx.Client, buyer: tuple[str, str], db: psycopg.Connection[Any]
) -> None:
    user_id, token = buyer
    before = orders_of(db, user_id)

    # GIVEN a 20 KB body sent chunked, with no Content-Length
    def chunks() -> Any:
        yield b'{"productId": "'
        for _ in range(20):
            yield b"x" * 1024
        yield b'", "quantity": 1}'

    # WHEN it is sent
    reply = api.post(
        "/orders", content=chunks(), headers=bearer(token) | {"Content-Type": "application/json"}
    )
    # THEN 413, and nothing was parsed into an order
    assert reply.status_code == 413, reply.text
    assert orders_of(db, user_id) == before


def test_a_sale_window_outside_what_the_database_can_return_is_a_422(
    api: httpx.Client, admin_token: str
) -> None:
    # GIVEN a start in year 1 at +05:00 (1 BC in UTC)
    body = {"name": "x", "stock": 1, "starts_at": "0001-01-01T00:00:00+05:00"}
    # WHEN it is posted, THEN 422 naming the field
    reply = api.post("/products", json=body, headers=bearer(admin_token))
    assert reply.status_code == 422, reply.text
    assert "starts_at" in reply.json()["message"]
