"""The Realtime function's message handling (api.py) with the service faked at its seam: how
each API Gateway event becomes a call, and what the client is told, for good and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vendyz.realtime import api
from vendyz.realtime.service import Peer, UnknownProduct

KNOWN = {"product-1", "product-2"}


class FakeService:
    """Records what api.py asked; knows two products."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def connect(self, peer: Peer) -> None:
        self.calls.append(("connect", peer))

    def disconnect(self, connection_id: str) -> None:
        self.calls.append(("disconnect", connection_id))

    def touch(self, peer: Peer) -> None:
        self.calls.append(("touch", peer))

    def subscribe(self, peer: Peer, product_ids: list[str]) -> list[str]:
        for product_id in product_ids:
            if product_id not in KNOWN:
                raise UnknownProduct(product_id)
        self.calls.append(("subscribe", (peer, product_ids)))
        return list(product_ids)


def event(route: str, body: Any = None, *, user: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
        "connectionId": "Abc123Def456gh0=",
        "connectedAt": 1_764_000_000_000,
    }
    if user is not None:
        context["authorizer"] = {"principalId": user or "anonymous", "userId": user}
    built: dict[str, Any] = {"requestContext": context}
    if body is not None:
        built["body"] = body if isinstance(body, str) else json.dumps(body)
    return built


def client_sees(reply: dict[str, Any]) -> Any:
    assert reply["statusCode"] == 200
    return json.loads(reply["body"])


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.mark.parametrize(("user", "expected"), [("user-7", "user-7"), ("", ""), (None, "")])
def test_connect_registers_the_user_the_authorizer_bound(
    service: FakeService, user: str | None, expected: str
) -> None:
    # GIVEN a $connect whose authorizer bound a user, an anonymous watcher, or no authorizer
    # WHEN the function handles it
    reply = api.on_connect(service, event("$connect", user=user))  # type: ignore[arg-type]
    # THEN the connection is accepted and registered for that user ("" = anonymous)
    assert reply == {"statusCode": 200}
    assert service.calls == [("connect", Peer("Abc123Def456gh0=", expected, 1_764_000_000_000))]


def test_disconnect_unregisters_the_connection(service: FakeService) -> None:
    reply = api.on_disconnect(service, event("$disconnect"))  # type: ignore[arg-type]
    assert reply == {"statusCode": 200}
    assert service.calls == [("disconnect", "Abc123Def456gh0=")]


def test_ping_is_answered_with_pong_and_keeps_the_entry_alive(service: FakeService) -> None:
    reply = api.on_message(service, event("ping", {"action": "ping"}, user="u-1"))  # type: ignore[arg-type]
    assert client_sees(reply) == {"type": "pong"}
    assert [name for name, _ in service.calls] == ["touch"]


@pytest.mark.parametrize(
    ("products", "watched"),
    [
        (["product-2", "product-1", "product-2"], ["product-2", "product-1"]),  # once, in order
        ([], []),  # every product
        (None, []),  # omitted: every product
    ],
)
def test_subscribe_answers_the_products_watched(
    service: FakeService, products: list[str] | None, watched: list[str]
) -> None:
    # GIVEN a subscribe message from a signed-in user
    body: dict[str, Any] = {"action": "subscribe"}
    if products is not None:
        body["products"] = products
    # WHEN the function handles it
    reply = api.on_message(service, event("subscribe", body, user="u-1"))  # type: ignore[arg-type]
    # THEN the client is told what it now watches, and the service was asked for exactly that
    assert client_sees(reply) == {"type": "subscribed", "products": watched}
    ((name, (peer, asked)),) = service.calls
    assert (name, peer.user_id, asked) == ("subscribe", "u-1", watched)


@pytest.mark.parametrize(
    ("products", "message"),
    [
        (["product-1", "product-9"], "unknown product: product-9"),
        ("product-1", "products: expected a list of product ids"),
        ({"id": "product-1"}, "products: expected a list of product ids"),
        (["product-1", 5], "products[1]: expected a product id (a non-empty string)"),
        (["  "], "products[0]: expected a product id (a non-empty string)"),
        (["p" * 65], "products[0]: longer than 64 characters"),
        ([f"p-{i}" for i in range(101)], "products: at most 100 product ids"),
    ],
)
def test_bad_subscription_gets_an_error_and_subscribes_nothing(
    service: FakeService, products: Any, message: str
) -> None:
    # GIVEN a subscribe message naming an unknown product or malformed ids
    body = {"action": "subscribe", "products": products}
    # WHEN the function handles it
    reply = api.on_message(service, event("subscribe", body, user=""))  # type: ignore[arg-type]
    # THEN the client gets an error naming the field, and no subscription was made (only the
    # connection's entry refreshed)
    assert client_sees(reply) == {"type": "error", "message": message}
    assert [name for name, _ in service.calls] == ["touch"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("hello", 'body: expected a JSON object such as {"action": "ping"}'),
        ("[1, 2]", 'body: expected a JSON object such as {"action": "ping"}'),
        ('"ping"', 'body: expected a JSON object such as {"action": "ping"}'),
        ("", 'body: expected a JSON object such as {"action": "ping"}'),
        ('{"products": []}', "action: missing; expected one of ping, subscribe"),
        ('{"action": "dance"}', 'action: unknown action "dance"; expected one of ping, subscribe'),
        ('{"action": 3}', "action: unknown action 3; expected one of ping, subscribe"),
    ],
)
def test_anything_else_gets_an_error_and_keeps_the_entry_alive(
    service: FakeService, body: str, message: str
) -> None:
    # GIVEN a message API Gateway routed to $default (no route for its action, or not JSON)
    # WHEN the function handles it
    reply = api.on_message(service, event("$default", body))  # type: ignore[arg-type]
    # THEN the client is told what was wrong, and the connection's entry is refreshed
    assert client_sees(reply) == {"type": "error", "message": message}
    assert [name for name, _ in service.calls] == ["touch"]


def test_a_message_without_body_is_an_error(service: FakeService) -> None:
    reply = api.on_message(service, event("$default"))  # type: ignore[arg-type]
    assert client_sees(reply)["type"] == "error"
