"""The shop in a real browser: Debian's chromium driven by Playwright (never a browser that
Playwright downloads), against `vendyz up` serving the frontend build, started here.

Everything here lives for this package only: Playwright's sync API keeps an event loop
running in the main thread while its browser is open, which the tests after it (asyncio.run)
must not see."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Request as BrowserRequest
from playwright.sync_api import Response as BrowserResponse

ROOT = Path(__file__).resolve().parents[3]
DIST = ROOT / "frontend" / "dist"
VENDYZ = ROOT / ".venv" / "bin" / "vendyz"
CHROMIUM = Path(os.environ.get("VENDYZ_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "docs" / "screenshots"
READY_MARK = "local cloud ready"
READY_TIMEOUT_S = 90.0
# A push comes within a second or two where pushes work at all.
# This machine's network is closed: without these Chromium keeps trying Google's hosts.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's waits: generous for a loaded 2-core machine, and still bounded.
DEFAULT_TIMEOUT_MS = 15_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="package")
def shop_url() -> Iterator[str]:
    """`vendyz up` as a user starts it (its own data services, the build at `/`)."""
    assert (DIST / "index.html").is_file(), "no frontend build: run `make setup`"
    own_services = ("DATABASE_URL", "REDIS_URL", "NATS_URL")  # unset: it starts its own
    env = {k: v for k, v in os.environ.items() if k not in own_services}
    port = _free_port()
    command = [str(VENDYZ), "up", "--port", str(port), "--workers", "1", "--schedule-seconds", "2"]
    # Not under pytest's own temp root: a pytest starting meanwhile makes that 0700 again,
    # and PostgreSQL's own user (the local cloud runs it as one when root) must get in.
    data_dir = Path(tempfile.mkdtemp(prefix="vendyz-shop-"))
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # drains to EOF, so the pipe never fills up
            lines.append(line)
            if READY_MARK in line:
                ready.set()

    threading.Thread(target=read, name="shop-stdout", daemon=True).start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("vendyz up did not get ready:\n" + "".join(lines[-40:]))
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()  # a clean stop: its data services go with it
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="package")
def shop_api(shop_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{shop_url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.is_file(), f"no {CHROMIUM}: `make setup` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What went wrong in a page that the test did not provoke: console errors, failed requests."""

    has_websocket_api: bool
    has_health_api: bool
    provoked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def provoke(self, url_part: str) -> None:
        """The test itself makes requests to URLs containing `url_part` fail."""
        self.provoked.append(url_part)

    def _expected(self, url: str) -> bool:
        if any(part in url for part in self.provoked):
            return True
        # Until those branches are merged, the shop's fallbacks are what is under test.
        if not self.has_websocket_api and "/ws" in url:
            return True
        return not self.has_health_api and url.endswith("/api/v1/health")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if "WebSocket connection" in message.text and not self.has_websocket_api:
            return
        if not self._expected(url):
            self.problems.append(f"console error: {message.text} ({url})")

    def on_request_failed(self, request: BrowserRequest) -> None:
        if not self._expected(request.url):
            failure = f"{request.method} {request.url} {request.failure}"
            self.problems.append(f"request failed: {failure}")

    def on_response(self, response: BrowserResponse) -> None:
        if response.status >= 400 and not self._expected(response.url):
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")


@pytest.fixture
def watch() -> Watch:
    # The WebSocket and health APIs are merged: a failure of either is a problem now.
    return Watch(has_websocket_api=True, has_health_api=True)


def open_context(browser: Browser, watch: Watch, **options: Any) -> BrowserContext:
    context = browser.new_context(**options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.on("console", watch.on_console)
    context.on("requestfailed", watch.on_request_failed)
    context.on("response", watch.on_response)
    return context


@pytest.fixture
def contexts(browser: Browser, watch: Watch) -> Iterator[list[BrowserContext]]:
    """Each test's browser contexts (separate shoppers); every page checked for problems."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(
    browser: Browser, watch: Watch, contexts: list[BrowserContext], shop_url: str
) -> NewPage:
    """new_page(**context options) -> a page in a fresh context (a new shopper) at the shop."""

    def _new_page(**options: Any) -> Page:
        context = open_context(browser, watch, base_url=shop_url, **options)
        contexts.append(context)
        return context.new_page()

    return _new_page


@pytest.fixture
def page(new_page: NewPage) -> Page:
    return new_page(viewport={"width": 1280, "height": 900})
