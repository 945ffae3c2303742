"""The steps of a journey over the public API, as any client takes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct-horse-battery"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Shopper:
    email: str
    user_id: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def data(reply: httpx.Response, status: int) -> Any:
    """The envelope's data, once the reply is the expected status and a success."""
    assert reply.status_code == status, f"{reply.status_code}: {reply.text[:500]}"
    body = reply.json()
    assert body["success"] is True, body
    return body["data"]


def log_in(client: httpx.Client, email: str, password: str) -> Shopper:
    found = data(client.post("/auth/login", json={"email": email, "password": password}), 200)
    return Shopper(found["email"], found["userId"], found["role"], found["token"])


def register(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    """A new account with a unique email; returns (email, the registration's data)."""
    email = f"{unique('shopper')}@example.com"
    body = {"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"}
    return email, data(client.post("/auth/register", json=body), 201)


def new_product(client: httpx.Client, admin: Shopper, stock: int) -> dict[str, Any]:
    body = {"name": unique("Acceptance item"), "stock": stock, "price": 9.5}
    created: dict[str, Any] = data(client.post("/products", json=body, headers=admin.headers), 201)
    return created


def order(client: httpx.Client, shopper: Shopper, key: str, **body: Any) -> httpx.Response:
    return client.post("/orders", json=body, headers={**shopper.headers, "Idempotency-Key": key})
