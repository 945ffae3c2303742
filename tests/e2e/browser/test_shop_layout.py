"""The shop at desktop and phone width, by keyboard alone; the screenshots the README shows."""

from __future__ import annotations

from datetime import timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import SCREENSHOTS, NewPage
from tests.e2e.browser.shop import PASSWORD, card, create_product, register, server_now, unique


def test_the_sale_grid_shows_price_stock_and_each_sale_state(
    page: Page, shop_api: httpx.Client
) -> None:
    # GIVEN products live, upcoming, sold out and over
    now = server_now(shop_api)
    live, upcoming = unique("Aurora Sneaker"), unique("Midnight Jacket")
    sold_out, over = unique("Neon Cap"), unique("Last Week's Tee")
    create_product(shop_api, live, stock=40, price=129.0, max_per_user=2)
    create_product(shop_api, upcoming, stock=25, price=89.5, starts_at=now + timedelta(hours=2))
    create_product(shop_api, sold_out, stock=0, price=25.0)
    create_product(
        shop_api,
        over,
        stock=5,
        price=15.0,
        starts_at=now - timedelta(days=8),
        ends_at=now - timedelta(days=1),
    )
    # WHEN a shopper opens the shop
    page.goto("/")
    # THEN each card says its price, stock and state
    expect(card(page, live)).to_contain_text("$129.00")
    expect(card(page, live)).to_contain_text("40 left")
    expect(card(page, live)).to_contain_text("Live")
    expect(card(page, upcoming)).to_contain_text("Starts in 01:59:")
    expect(card(page, sold_out)).to_contain_text("Sold out")
    expect(card(page, over)).to_contain_text("Ended")
    expect(card(page, live).get_by_role("meter", name=f"Stock of {live}")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "sale-grid-desktop.png", animations="disabled")


def test_a_signed_out_shopper_is_told_to_log_in_and_can_buy_by_keyboard_at_360_px(
    new_page: NewPage, shop_api: httpx.Client
) -> None:
    # GIVEN a phone-sized window and an account made earlier
    name = unique("Pocket Speaker")
    create_product(shop_api, name, stock=4, price=59.0)
    setup = new_page(viewport={"width": 1280, "height": 900})
    email = register(setup)
    page = new_page(viewport={"width": 360, "height": 780}, is_mobile=True, has_touch=True)
    page.goto("/")
    buy = card(page, name).get_by_role("button", name=f"Buy {name}")
    # THEN nothing is wider than the screen
    expect(buy).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=SCREENSHOTS / "sale-grid-360.png", animations="disabled")
    # WHEN a signed-out shopper presses Buy, THEN they are told to log in
    buy.focus()
    page.keyboard.press("Enter")
    expect(card(page, name).get_by_role("status")).to_contain_text("Signed out: log in to buy")
    # WHEN they log in and buy with the keyboard alone
    page.get_by_role("link", name="Log in").first.focus()
    page.keyboard.press("Enter")
    page.get_by_label("Email").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    quantity = card(page, name).get_by_label("Quantity")
    quantity.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Tab")
    expect(buy).to_be_focused()
    page.keyboard.press("Enter")
    # THEN the purchase of two is confirmed
    expect(card(page, name).get_by_role("status")).to_contain_text("Confirmed: 2 of")
    expect(card(page, name)).to_contain_text("2 left")
