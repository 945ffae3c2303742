"""The admin's journey over HTTP: put a product on sale, restock it, and what a shopper may
not do."""

from __future__ import annotations

import httpx

from tests.acceptance.journey import PASSWORD, Shopper, data, log_in, new_product


def test_the_admin_puts_a_product_on_sale_and_restocks_it(
    client: httpx.Client, admin: Shopper
) -> None:
    # GIVEN the admin, logged in
    assert admin.role == "ADMIN"
    # WHEN they create a product with 3 units
    product = new_product(client, admin, stock=3)
    # THEN shoppers see it with those units
    assert product["stock"] == 3
    assert data(client.get(f"/products/{product['productId']}"), 200)["stock"] == 3
    # WHEN they set its stock to 40
    path = f"/products/{product['productId']}/stock"
    restocked = data(client.post(path, json={"stock": 40}, headers=admin.headers), 200)
    # THEN the reply and what shoppers read both say 40
    assert (restocked["productId"], restocked["stock"]) == (product["productId"], 40)
    assert data(client.get(f"/products/{product['productId']}"), 200)["stock"] == 40


def test_a_shopper_cannot_do_what_the_admin_does(
    client: httpx.Client, admin: Shopper, shopper_email: str
) -> None:
    # GIVEN a product and a shopper (role USER)
    product = new_product(client, admin, stock=5)
    shopper = log_in(client, shopper_email, PASSWORD)
    # WHEN the shopper tries to create a product or change its stock
    created = client.post(
        "/products", json={"name": "Not mine", "stock": 1}, headers=shopper.headers
    )
    restocked = client.post(
        f"/products/{product['productId']}/stock", json={"stock": 0}, headers=shopper.headers
    )
    # THEN both are forbidden, and the stock is untouched
    assert created.status_code == 403, created.text
    assert restocked.status_code == 403, restocked.text
    assert data(client.get(f"/products/{product['productId']}"), 200)["stock"] == 5


def test_bad_input_names_the_field_and_writes_nothing(client: httpx.Client, admin: Shopper) -> None:
    # GIVEN the admin
    # WHEN they create a product with a negative stock
    reply = client.post("/products", json={"name": "Broken", "stock": -1}, headers=admin.headers)
    # THEN it is refused as invalid input, naming the field, in the envelope
    assert reply.status_code in (400, 422), reply.text
    body = reply.json()
    assert body["success"] is False
    assert "stock" in reply.text
