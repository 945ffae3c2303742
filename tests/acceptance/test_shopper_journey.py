"""A shopper's journey over HTTP: register, log in, browse, buy, retry safely, see the orders,
log out. Asserts only what a client sees in AWS and locally alike (status codes and our
functions' envelopes; not the bodies API Gateway writes itself)."""

from __future__ import annotations

import httpx

from tests.acceptance.journey import (
    PASSWORD,
    Shopper,
    data,
    log_in,
    new_product,
    order,
    register,
    unique,
)


def test_a_new_shopper_registers_logs_in_and_sees_their_profile(client: httpx.Client) -> None:
    # GIVEN a visitor with a fresh email
    # WHEN they register
    email, registered = register(client)
    # THEN they get a USER account under that email
    assert registered["email"] == email
    assert registered["role"] == "USER"
    assert (registered["firstName"], registered["lastName"]) == ("Ada", "Lovelace")
    # WHEN they log in and ask who they are
    shopper = log_in(client, email, PASSWORD)
    me = data(client.get("/auth/me", headers=shopper.headers), 200)
    # THEN it is the account they registered
    assert (me["userId"], me["email"], me["role"]) == (registered["userId"], email, "USER")


def test_an_email_registers_once_and_a_wrong_password_is_refused(
    client: httpx.Client, shopper_email: str
) -> None:
    # GIVEN a registered shopper
    email = shopper_email
    # WHEN the same email registers again, and someone logs in with a wrong password
    again = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "firstName": "A", "lastName": "B"},
    )
    wrong = client.post("/auth/login", json={"email": email, "password": "not-the-password"})
    # THEN the first is a conflict and the second unauthorized, both in the envelope
    assert again.status_code == 409, again.text
    assert again.json()["success"] is False
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["success"] is False


def test_products_are_listed_and_read_one_by_one(client: httpx.Client, admin: Shopper) -> None:
    # GIVEN a product on sale
    product = new_product(client, admin, stock=7)
    # WHEN a visitor (no account) reads it, and pages through the list
    one = data(client.get(f"/products/{product['productId']}"), 200)
    listed = {}
    page = 1
    while product["productId"] not in listed:
        found = data(client.get("/products", params={"page": page, "limit": 50}), 200)
        assert found["items"], f"{product['productId']} not on any of {page - 1} pages"
        listed.update({item["product_id"]: item for item in found["items"]})
        page += 1
    # THEN both show it with its name and stock, in the original's field names
    assert (one["product_id"], one["name"], one["stock"]) == (
        product["productId"],
        product["name"],
        7,
    )
    assert listed[product["productId"]]["stock"] == 7
    # AND an unknown product is a 404
    missing = client.get(f"/products/{unique('no-such-product')}")
    assert missing.status_code == 404, missing.text


def test_an_order_is_confirmed_once_and_a_retry_gets_the_same_answer(
    client: httpx.Client, admin: Shopper
) -> None:
    # GIVEN a shopper and a product with 2 units
    email, _ = register(client)
    shopper = log_in(client, email, PASSWORD)
    product = new_product(client, admin, stock=2)
    key = unique("order")
    # WHEN they order 1 unit with an Idempotency-Key, then retry the same request
    first = order(client, shopper, key, productId=product["productId"], quantity=1)
    retry = order(client, shopper, key, productId=product["productId"], quantity=1)
    # THEN the order is confirmed, and the retry answers the same without buying again
    placed = data(first, 201)
    assert placed["status"] == "CONFIRMED"
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert data(client.get(f"/products/{product['productId']}"), 200)["stock"] == 1
    # AND the same key with another body is refused
    other = order(client, shopper, key, productId=product["productId"], quantity=2)
    assert other.status_code == 422, other.text
    # AND their orders list and the order itself show it
    mine = data(client.get("/orders", headers=shopper.headers), 200)
    assert [o["order_id"] for o in mine["items"]] == [placed["orderId"]]
    assert mine["items"][0]["status"] == "CONFIRMED"
    assert mine["items"][0]["product_id"] == product["productId"]
    got = data(client.get(f"/orders/{placed['orderId']}", headers=shopper.headers), 200)
    assert (got["order_id"], got["quantity"], got["user_id"]) == (
        placed["orderId"],
        1,
        shopper.user_id,
    )


def test_a_sold_out_product_refuses_the_next_order(
    client: httpx.Client, admin: Shopper, shopper_email: str
) -> None:
    # GIVEN a product with one unit, bought by a first buyer (the admin shops too)
    product = new_product(client, admin, stock=1)
    first = order(client, admin, unique("o"), productId=product["productId"], quantity=1)
    assert data(first, 201)["status"] == "CONFIRMED"
    # WHEN a second shopper orders it
    shopper = log_in(client, shopper_email, PASSWORD)
    second = order(client, shopper, unique("o"), productId=product["productId"], quantity=1)
    # THEN it is a conflict, and the stock stays at zero, never below
    assert second.status_code == 409, second.text
    assert second.json()["success"] is False
    assert data(client.get(f"/products/{product['productId']}"), 200)["stock"] == 0


def test_after_logout_the_token_is_refused(client: httpx.Client, shopper_email: str) -> None:
    # GIVEN a logged-in shopper
    shopper = log_in(client, shopper_email, PASSWORD)
    assert data(client.get("/auth/me", headers=shopper.headers), 200)["email"] == shopper.email
    # WHEN they log out
    assert data(client.post("/auth/logout", headers=shopper.headers), 200)["revoked"] is True
    # THEN the same token no longer opens their profile or their orders
    assert client.get("/auth/me", headers=shopper.headers).status_code == 401
    assert client.get("/orders", headers=shopper.headers).status_code == 401


def test_no_token_is_unauthorized(client: httpx.Client) -> None:
    # GIVEN no Authorization header  WHEN a protected route is called
    # THEN 401 (API Gateway's or the function's body: only the status is the same in both)
    assert client.get("/auth/me").status_code == 401
    assert client.get("/orders").status_code == 401
