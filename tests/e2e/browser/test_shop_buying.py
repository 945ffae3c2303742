"""Buying in the shop: one order per purchase attempt however it is clicked or retried, every
refusal shown as a state, and the sale window timed by the server's clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import httpx
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser.conftest import SCREENSHOTS, NewPage, Watch
from tests.e2e.browser.shop import (
    card,
    create_product,
    orders_of,
    register,
    server_now,
    token_of,
    unique,
)

# Moves the page's clock an hour ahead: Date.now() and new Date() alike.
CLOCK_AN_HOUR_AHEAD = """
(() => {
  const RealDate = Date;
  const offset = 3600 * 1000;
  class ShiftedDate extends RealDate {
    constructor(...args) { args.length ? super(...args) : super(RealDate.now() + offset); }
    static now() { return RealDate.now() + offset; }
  }
  window.Date = ShiftedDate;
})();
"""


def test_a_shopper_registers_buys_the_last_unit_and_sees_it_confirmed(
    page: Page, shop_api: httpx.Client
) -> None:
    # GIVEN a product with one unit left, and a new shopper who registers (and is logged in)
    name = unique("Last Sneaker")
    product_id = create_product(shop_api, name, stock=1)
    register(page)
    # WHEN they buy it
    page.goto("/")
    product = card(page, name)
    expect(product).to_contain_text("1 left")
    product.get_by_role("button", name=f"Buy {name}").click()
    # THEN they see it confirmed, the card sold out, and the order in My orders
    expect(product.get_by_role("status")).to_contain_text("Confirmed")
    expect(product).to_contain_text("Sold out")
    expect(product.get_by_role("button", name=f"Buy {name}")).to_be_disabled()
    page.screenshot(path=SCREENSHOTS / "purchase-confirmed.png", animations="disabled")
    assert [o["status"] for o in orders_of(shop_api, token_of(page), product_id)] == ["CONFIRMED"]
    page.get_by_role("link", name="My orders").first.click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Confirmed")
    page.screenshot(path=SCREENSHOTS / "my-orders.png", animations="disabled")
    # AND logging out signs them out
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_a_double_click_on_buy_places_one_order_and_the_limit_is_then_shown(
    page: Page, shop_api: httpx.Client, watch: Watch
) -> None:
    # GIVEN a product limited to one per customer
    name = unique("Limited Cap")
    product_id = create_product(shop_api, name, stock=5, max_per_user=1)
    register(page)
    page.goto("/")
    buy = card(page, name).get_by_role("button", name=f"Buy {name}")
    # WHEN the shopper double-clicks Buy
    buy.dblclick()
    # THEN exactly one order is placed
    expect(card(page, name).get_by_role("status")).to_contain_text("Confirmed")
    assert len(orders_of(shop_api, token_of(page), product_id)) == 1
    # AND buying again (a new attempt) is refused (409) as over the limit
    watch.provoke("/api/v1/orders")
    buy.click()
    expect(card(page, name).get_by_role("status")).to_contain_text("Limit reached")
    statuses = sorted(o["status"] for o in orders_of(shop_api, token_of(page), product_id))
    assert statuses == ["CONFIRMED", "FAILED"]


def intercept_first_order(page: Page, first: Callable[[Route], None]) -> list[str | None]:
    """The page's first POST /orders goes to `first`, the rest to the API; returns the
    Idempotency-Key each of them carried."""
    keys: list[str | None] = []

    def handle(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            first(route)
        else:
            route.continue_()

    page.route("**/api/v1/orders", handle)
    return keys


def test_a_buy_whose_reply_is_lost_is_retried_with_the_same_key_and_places_one_order(
    page: Page, shop_api: httpx.Client, watch: Watch
) -> None:
    # GIVEN the network drops the reply to the first order request (after the server got it)
    name = unique("Lost Reply Hoodie")
    product_id = create_product(shop_api, name, stock=3)
    register(page)

    def reply_lost(route: Route) -> None:
        route.fetch()  # the order reaches the API
        route.abort("connectionreset")  # and its reply never reaches the page

    watch.provoke("/api/v1/orders")
    keys = intercept_first_order(page, reply_lost)
    page.goto("/")
    # WHEN the shopper clicks Buy once
    card(page, name).get_by_role("button", name=f"Buy {name}").click()
    # THEN the app retries by itself with the same key and shows the one order confirmed
    expect(card(page, name).get_by_role("status")).to_contain_text("Confirmed")
    assert len(keys) == 2
    assert keys[0]
    assert keys[0] == keys[1]
    assert [o["status"] for o in orders_of(shop_api, token_of(page), product_id)] == ["CONFIRMED"]


def test_a_503_is_retried_after_its_retry_after_and_a_429_is_shown_as_throttled(
    page: Page, shop_api: httpx.Client, watch: Watch
) -> None:
    # GIVEN the API answers the first order request 503 (Retry-After: 1), as when Inventory is slow
    name = unique("Busy Jacket")
    product_id = create_product(shop_api, name, stock=3)
    register(page)
    busy = {"success": False, "message": "Retry", "data": {"orderId": None, "status": "PENDING"}}
    watch.provoke("/api/v1/orders")
    keys = intercept_first_order(
        page, lambda route: route.fulfill(status=503, headers={"Retry-After": "1"}, json=busy)
    )
    page.goto("/")
    status = card(page, name).get_by_role("status")
    # WHEN the shopper clicks Buy
    card(page, name).get_by_role("button", name=f"Buy {name}").click()
    # THEN they are told it is busy, then it is confirmed, with one order (the same key twice)
    expect(status).to_contain_text("Busy, retrying in 1 s")
    expect(status).to_contain_text("Confirmed")
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert len(orders_of(shop_api, token_of(page), product_id)) == 1

    # GIVEN the API now throttles the shopper (429, Retry-After: 7)
    throttled = json.dumps({"success": False, "message": "Too many requests", "data": None})
    page.unroute("**/api/v1/orders")
    page.route(
        "**/api/v1/orders",
        lambda route: route.fulfill(status=429, headers={"Retry-After": "7"}, body=throttled),
    )
    # WHEN they click Buy again, THEN the state says when to try again
    card(page, name).get_by_role("button", name=f"Buy {name}").click()
    expect(status).to_have_text("Too many requests: try again in 7 s.")


def test_a_countdown_follows_the_server_clock_even_when_the_browser_clock_is_an_hour_off(
    new_page: NewPage, shop_api: httpx.Client
) -> None:
    # GIVEN a product whose sale starts in 10 s, one whose sale is over, and a browser whose
    # clock is an hour ahead (its own clock would call the sale live, or over)
    page = new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(CLOCK_AN_HOUR_AHEAD)
    register(page)
    assert page.evaluate("Date.now() - performance.timeOrigin - performance.now()") > 3_000_000
    now = server_now(shop_api)
    soon, over = unique("Countdown Watch"), unique("Yesterday's Drop")
    create_product(shop_api, soon, stock=2, starts_at=now + timedelta(seconds=10))
    create_product(
        shop_api, over, stock=2, starts_at=now - timedelta(days=1), ends_at=now - timedelta(hours=2)
    )
    page.goto("/")
    product = card(page, soon)
    buy = product.get_by_role("button", name=f"Buy {soon}")
    # THEN it counts down and cannot be bought yet; the other one is over
    expect(product).to_contain_text("Starts in 00:")
    expect(buy).to_be_disabled()
    expect(card(page, over)).to_contain_text("Ended")
    expect(card(page, over).get_by_role("button", name=f"Buy {over}")).to_be_disabled()
    # WHEN the countdown ends, THEN it is live and can be bought
    expect(product).to_contain_text("Live", timeout=20_000)
    buy.click()
    expect(product.get_by_role("status")).to_contain_text("Confirmed")
