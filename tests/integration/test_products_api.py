"""Products: the catalogue, the admin routes, the cache, and one handler two ways."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx

from tests.helpers import bearer, create_product, invoke, register_and_login, stock_of


def test_products_are_listed_with_the_original_field_names(api: httpx.Client) -> None:
    reply = api.get("/products", params={"page": 1, "limit": 50})
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True
    page = body["data"]
    assert (page["page"], page["limit"]) == (1, 50)
    assert page["total"] >= 3
    first = page["items"][0]
    assert {"product_id", "name", "stock"} <= first.keys()


def _positions(api: httpx.Client, names: list[str], **params: str) -> list[int]:
    """Where the products named `names` stand in the whole catalogue, listed with `params`."""
    listed: list[str] = []
    page = 1
    while True:
        data = api.get("/products", params={"page": page, "limit": 50, **params}).json()["data"]
        listed += [p["name"] for p in data["items"]]
        if page * 50 >= data["total"]:
            return [listed.index(name) for name in names]
        page += 1


def test_products_are_sorted_by_name_unless_asked_otherwise(
    api: httpx.Client, admin_token: str
) -> None:
    # GIVEN two products, the first by name created first
    run = uuid.uuid4().hex[:8]
    first, second = f"Sort {run} A", f"Sort {run} B"
    create_product(api, admin_token, name=first)
    create_product(api, admin_token, name=second)
    # WHEN the catalogue is listed as the original's clients list it, and newest first
    by_name = _positions(api, [first, second])
    newest = _positions(api, [first, second], sort="-created")
    # THEN the default is by name, and sort=-created puts the latest first
    assert by_name[0] < by_name[1]
    assert newest[1] < newest[0]


def test_an_unknown_sort_is_a_422_naming_it(api: httpx.Client) -> None:
    reply = api.get("/products", params={"sort": "price; DROP TABLE"})
    assert reply.status_code == 422
    assert "sort" in reply.json()["message"]


def test_swagger_and_its_spec_are_also_where_the_original_served_them(base_url: str) -> None:
    # WHEN a client of the original asks for /docs and /docs-json
    page = httpx.get(f"{base_url}/docs")
    spec = httpx.get(f"{base_url}/docs-json")
    # THEN it gets Swagger UI reading that spec, and the same spec as /api/v1/openapi.json
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert 'url: "docs-json"' in page.text
    assert spec.json() == httpx.get(f"{base_url}/api/v1/openapi.json").json()


def test_the_product_list_carries_the_servers_clock(api: httpx.Client) -> None:
    # GIVEN a shop that times sale windows by the server's clock, not the browser's
    # WHEN it lists the products
    before = time.time() * 1000
    reply = api.get("/products")
    after = time.time() * 1000
    # THEN the reply says the server's time (ms since the epoch) when it answered; this
    # machine's clock is the server's, so it lies between the two readings
    server_time = reply.json()["data"]["serverTime"]
    assert isinstance(server_time, int)
    assert before - 1 <= server_time <= after + 1


def test_pages_do_not_overlap(api: httpx.Client) -> None:
    first = api.get("/products", params={"page": 1, "limit": 2}).json()["data"]["items"]
    second = api.get("/products", params={"page": 2, "limit": 2}).json()["data"]["items"]
    assert len(first) == 2
    assert not {p["product_id"] for p in first} & {p["product_id"] for p in second}


def test_admin_creates_a_product_and_sets_its_stock(api: httpx.Client, admin_token: str) -> None:
    # GIVEN an admin creates a product with a sale window and a limit
    reply = api.post(
        "/products",
        json={
            "name": "Drop",
            "stock": 3,
            "price": 19.99,
            "starts_at": "2020-01-01T00:00:00Z",
            "max_per_user": 2,
        },
        headers=bearer(admin_token),
    )
    assert reply.status_code == 201
    created = reply.json()["data"]
    assert created["productId"]
    assert (created["name"], created["stock"]) == ("Drop", 3)
    product_id = created["productId"]
    # WHEN it is read (and cached), then the stock is set
    assert stock_of(api, product_id) == 3
    changed = api.post(
        f"/products/{product_id}/stock", json={"stock": 8}, headers=bearer(admin_token)
    )
    # THEN the reply and every later read show the new stock (the cache was invalidated)
    assert changed.status_code == 200
    assert changed.json()["data"] == {**created, "stock": 8}
    assert stock_of(api, product_id) == 8
    listed = api.get("/products", params={"limit": 50, "page": 1}).json()["data"]
    total_pages = -(-listed["total"] // 50)
    items = api.get("/products", params={"limit": 50, "page": total_pages}).json()["data"]["items"]
    assert {"product_id": product_id, "stock": 8}.items() <= next(
        p for p in items if p["product_id"] == product_id
    ).items()


def test_restock_reopens_a_sold_out_product(api: httpx.Client, admin_token: str) -> None:
    # GIVEN a product that sold out
    product_id = create_product(api, admin_token, stock=1)
    _, token = register_and_login(api)
    buy = {"productId": product_id, "quantity": 1}
    assert api.post("/orders", json=buy, headers=bearer(token)).status_code == 201
    assert api.post("/orders", json=buy, headers=bearer(token)).status_code == 409
    # WHEN the admin restocks it
    api.post(f"/products/{product_id}/stock", json={"stock": 2}, headers=bearer(admin_token))
    # THEN it can be bought again at once
    assert api.post("/orders", json=buy, headers=bearer(token)).status_code == 201


def test_a_user_cannot_use_admin_routes(api: httpx.Client) -> None:
    _, token = register_and_login(api)
    reply = api.post("/products", json={"name": "x", "stock": 1}, headers=bearer(token))
    assert reply.status_code == 403
    assert reply.json()["success"] is False


def test_the_same_handler_answers_a_direct_event_and_the_local_cloud_alike(
    lambda_client: Any, api: httpx.Client
) -> None:
    # GIVEN the inventory function, and a payload-2.0 event written by hand
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "GET /api/v1/products/{id}",
        "rawPath": "/api/v1/products/product-3",
        "rawQueryString": "",
        "headers": {"host": "api.example.com", "accept": "application/json"},
        "pathParameters": {"id": "product-3"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "api.example.com",
            "http": {
                "method": "GET",
                "path": "/api/v1/products/product-3",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "test",
            },
            "requestId": "direct-1",
            "routeKey": "GET /api/v1/products/{id}",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    # WHEN it is invoked directly with that event (through the Invoke API, as a test console
    # would), and the same route through the local cloud's HTTP API
    direct = invoke(lambda_client, "InventoryFunction", event)
    through_cloud = api.get("/products/product-3")
    # THEN both give the same status and body
    body = direct["body"]
    if direct.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert direct["statusCode"] == through_cloud.status_code == 200
    assert json.loads(body) == through_cloud.json()
