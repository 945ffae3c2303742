"""The admin's side of the shop: products, stock and health; and none of it for shoppers."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import SCREENSHOTS, NewPage
from tests.e2e.browser.shop import card, log_in, register, token_of, unique
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, bearer

# Without pushes the grid polls every few seconds; with them a new product may wait for the
# grid's slower refresh. Either way it is there within this.
GRID_REFRESH_MS = 15_000


def admin_page(new_page: NewPage) -> Page:
    page = new_page(viewport={"width": 1280, "height": 1000})
    log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin").click()
    return page


def test_an_admin_creates_and_restocks_a_product_and_a_shoppers_grid_follows(
    new_page: NewPage,
) -> None:
    # GIVEN a shopper watching the sale, and an admin on the admin panel
    shopper = new_page(viewport={"width": 1280, "height": 900})
    shopper.goto("/")
    expect(shopper.get_by_role("heading", name="On sale now")).to_be_visible()
    admin = admin_page(new_page)
    # WHEN the admin creates a product with a price, stock, sale window and limit
    name = unique("Admin Drop")
    form = admin.get_by_role("form", name="New product")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Price (USD)").fill("19.99")
    form.get_by_label("Stock").fill("3")
    form.get_by_label("Limit per customer").fill("2")
    form.get_by_label("Sale starts").fill("2020-01-01T00:00")
    form.get_by_label("Sale ends").fill("2099-01-01T00:00")
    form.get_by_role("button", name="Create product").click()
    expect(form.get_by_role("status")).to_contain_text(f"Created {name} with 3 in stock")
    # THEN the shopper's grid shows it without a reload
    product = card(shopper, name)
    expect(product).to_contain_text("3 left", timeout=GRID_REFRESH_MS)
    expect(product).to_contain_text("$19.99")
    expect(product).to_contain_text("At most 2 per customer")
    # WHEN the admin restocks it
    admin.get_by_label(f"New stock for {name}").fill("8")
    admin.get_by_role("button", name=f"Set stock for {name}").click()
    expect(admin.get_by_role("row").filter(has_text=name)).to_contain_text("Saved: 8")
    # THEN the shopper's grid follows, and the change is announced to screen readers
    expect(product).to_contain_text("8 left", timeout=GRID_REFRESH_MS)
    expect(shopper.get_by_test_id("announcer")).to_contain_text(f"{name}: 8 left")
    admin.screenshot(path=SCREENSHOTS / "admin-panel.png", full_page=True, animations="disabled")


def test_a_shopper_sees_no_admin_controls_and_the_api_refuses_them(
    page: Page, shop_api: httpx.Client
) -> None:
    # GIVEN a signed-in shopper
    register(page)
    # THEN there is no Admin link, and the admin page itself refuses them
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Sale", "My orders"]
    )
    page.goto("/#/admin")
    expect(page.get_by_text("Admins only.")).to_be_visible()
    expect(page.get_by_role("button", name="Create product")).to_have_count(0)
    # AND the API refuses them too, whatever the UI shows
    reply = shop_api.post(
        "/products", json={"name": "Sneaky", "stock": 1}, headers=bearer(token_of(page))
    )
    assert reply.status_code == 403


def test_the_health_panel_shows_every_service_up(new_page: NewPage) -> None:
    # GIVEN the local cloud with every service's heartbeat (and the bridge's) running
    # WHEN the admin opens the admin panel
    admin = admin_page(new_page)
    # THEN its health panel shows each of them up
    panel = admin.get_by_role("region", name="System health")
    for service in ("auth", "inventory", "orders", "bridge"):
        expect(panel.get_by_label(f"{service}: up")).to_be_visible(timeout=20_000)
