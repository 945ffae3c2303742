"""What only pushes can promise: a watcher sees a change within seconds, not at the next poll.
They go through the WebSocket API and the NATS bridge."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.e2e.browser.conftest import NewPage
from tests.e2e.browser.shop import card, create_product, register, unique

PUSH_WITHIN_MS = 2_000


def test_a_watcher_sees_sold_out_within_2_s_of_the_last_unit_selling(
    new_page: NewPage, shop_api: httpx.Client
) -> None:
    # GIVEN a product with one unit, a buyer and a second shopper watching it, both live
    name = unique("Final Unit Vinyl")
    create_product(shop_api, name, stock=1)
    buyer = new_page(viewport={"width": 1280, "height": 900})
    register(buyer)
    watcher = new_page(viewport={"width": 1280, "height": 900})
    # (live: pushes reach the page, so the bridge knows its connection)
    for page in (buyer, watcher):
        page.goto("/")
        expect(page.get_by_text("Live updates on")).to_be_visible()
    expect(card(watcher, name)).to_contain_text("1 left")
    # WHEN the buyer buys the last unit
    card(buyer, name).get_by_role("button", name=f"Buy {name}").click()
    expect(card(buyer, name).get_by_role("status")).to_contain_text("Confirmed")
    # THEN the watcher sees it sold out without reloading, within 2 s
    expect(card(watcher, name)).to_contain_text("Sold out", timeout=PUSH_WITHIN_MS)
    expect(watcher.get_by_test_id("announcer")).to_contain_text(f"{name}: sold out")
