"""What the browser tests do as a shopper or an admin, in the page and through the API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, bearer, login

PASSWORD = "correct-horse-battery"


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def server_now(api: httpx.Client) -> datetime:
    """The server's clock, as the shop reads it."""
    server_time = api.get("/products", params={"limit": 1}).json()["data"]["serverTime"]
    return datetime.fromtimestamp(server_time / 1000, UTC)


def create_product(api: httpx.Client, name: str, stock: int, **fields: Any) -> str:
    """A product through the admin API (the admin UI has a test of its own)."""
    token = login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    for key in ("starts_at", "ends_at"):
        if isinstance(fields.get(key), datetime):
            fields[key] = fields[key].isoformat()
    body = {"name": name, "stock": stock, "price": 49.0, **fields}
    reply = api.post("/products", json=body, headers=bearer(token))
    assert reply.status_code == 201, reply.text
    product_id: str = reply.json()["data"]["productId"]
    return product_id


def in_hours(api: httpx.Client, hours: float) -> datetime:
    return server_now(api) + timedelta(hours=hours)


def register(page: Page, first_name: str = "Ada") -> str:
    """Registers a new shopper through the form (which logs them in); returns the email."""
    email = f"shopper-{uuid.uuid4().hex[:10]}@example.com"
    page.goto("/#/register")
    form = page.get_by_role("form", name="Create an account")
    form.get_by_label("First name").fill(first_name)
    form.get_by_label("Last name").fill("Lovelace")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return email


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/#/login")
    form = page.get_by_role("form", name="Log in")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def card(page: Page, product_name: str) -> Locator:
    return page.get_by_role("article", name=product_name)


def token_of(page: Page) -> str:
    """The signed-in shopper's token, as the app keeps it."""
    stored = page.evaluate("localStorage.getItem('vendyz.session')")
    assert stored, "nobody is signed in"
    token: str = json.loads(stored)["token"]
    return token


def orders_of(api: httpx.Client, token: str, product_id: str) -> list[dict[str, Any]]:
    """Every order of the shopper for the product, the FAILED ones too (which GET /orders
    lists only when asked for, as the original did)."""
    orders: list[dict[str, Any]] = []
    for status in ("PENDING", "CONFIRMED", "FAILED"):
        params = {"limit": 50, "status": status}
        reply = api.get("/orders", params=params, headers=bearer(token))
        assert reply.status_code == 200, reply.text
        orders += [o for o in reply.json()["data"]["items"] if o["product_id"] == product_id]
    return orders
