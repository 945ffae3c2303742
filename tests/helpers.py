"""Small HTTP helpers the API tests share."""

from __future__ import annotations

import uuid

import httpx

ADMIN_EMAIL = "lead@vendyz.dev"
ADMIN_PASSWORD = "flashsale"


def login(api: httpx.Client, email: str, password: str) -> str:
    reply = api.post("/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["data"]["token"]
    return token


def register_and_login(api: httpx.Client, *, prefix: str = "buyer") -> tuple[str, str]:
    """A fresh user; returns (user_id, token)."""
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    reply = api.post(
        "/auth/register",
        json={
            "email": email,
            "password": "correct-horse",
            "firstName": "Test",
            "lastName": "Buyer",
        },
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]["userId"], login(api, email, "correct-horse")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_product(api: httpx.Client, admin_token: str, **fields: object) -> str:
    """A fresh product through the admin API; returns its id."""
    body = {"name": f"Test item {uuid.uuid4().hex[:6]}", "stock": 10, **fields}
    reply = api.post("/products", json=body, headers=bearer(admin_token))
    assert reply.status_code == 201, reply.text
    product_id: str = reply.json()["data"]["productId"]
    return product_id


def stock_of(api: httpx.Client, product_id: str) -> int:
    reply = api.get(f"/products/{product_id}")
    assert reply.status_code == 200, reply.text
    stock: int = reply.json()["data"]["stock"]
    return stock
