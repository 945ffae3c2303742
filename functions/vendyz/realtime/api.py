"""API Gateway WebSocket events in, the function's replies out: reads the connection from the
event, parses and validates client messages, and shapes what the client receives.

A reply's body reaches the client as one text frame (the routes are two-way in template.yaml).
Every bad message gets `{"type": "error", "message": ...}` naming what was wrong; the
connection stays open.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vendyz.realtime.service import Peer, RealtimeService, UnknownProduct

Event = Mapping[str, Any]
ACTIONS = ("ping", "subscribe")
MAX_PRODUCTS = 100
MAX_PRODUCT_ID_LENGTH = 64


class BadMessage(ValueError):
    """A client message the service cannot act on; the text is what the client is told."""


def peer(event: Event) -> Peer:
    """The connection an event is about; the user is the one the authorizer bound on
    `$connect` (API Gateway repeats its context on every later event of the connection)."""
    context = event["requestContext"]
    authorizer = context.get("authorizer") or {}
    return Peer(
        connection_id=str(context["connectionId"]),
        user_id=str(authorizer.get("userId") or ""),
        connected_at_ms=int(context.get("connectedAt") or context.get("requestTimeEpoch") or 0),
    )


def on_connect(service: RealtimeService, event: Event) -> dict[str, Any]:
    service.connect(peer(event))
    return {"statusCode": 200}


def on_disconnect(service: RealtimeService, event: Event) -> dict[str, Any]:
    service.disconnect(str(event["requestContext"]["connectionId"]))
    return {"statusCode": 200}


def on_message(service: RealtimeService, event: Event) -> dict[str, Any]:
    """One client message, by the route API Gateway selected from its `action`."""
    sender = peer(event)
    route = event["requestContext"].get("routeKey")
    try:
        message = parse_message(event.get("body"))
        if route == "subscribe":
            products = service.subscribe(sender, subscription(message))
            return reply({"type": "subscribed", "products": products})
        if route == "ping":
            service.touch(sender)
            return reply({"type": "pong"})
        raise BadMessage(unknown_action(message))
    except (BadMessage, UnknownProduct) as exc:
        service.touch(sender)  # a bad message still shows the connection is alive
        return reply({"type": "error", "message": str(exc)})


def reply(message: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(message)}


def parse_message(body: Any) -> dict[str, Any]:
    try:
        message = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise BadMessage('body: expected a JSON object such as {"action": "ping"}')
    return message


def unknown_action(message: Mapping[str, Any]) -> str:
    expected = ", ".join(ACTIONS)
    if "action" not in message:
        return f"action: missing; expected one of {expected}"
    return f"action: unknown action {json.dumps(message['action'])}; expected one of {expected}"


def subscription(message: Mapping[str, Any]) -> list[str]:
    """The product ids to watch, in order, each once; [] (also when omitted or null) means every
    product."""
    products = message.get("products")
    if products is None:
        return []
    if not isinstance(products, list):
        raise BadMessage("products: expected a list of product ids")
    if len(products) > MAX_PRODUCTS:
        raise BadMessage(f"products: at most {MAX_PRODUCTS} product ids")
    for index, product_id in enumerate(products):
        if not isinstance(product_id, str) or not product_id.strip():
            raise BadMessage(f"products[{index}]: expected a product id (a non-empty string)")
        if len(product_id) > MAX_PRODUCT_ID_LENGTH:
            raise BadMessage(f"products[{index}]: longer than {MAX_PRODUCT_ID_LENGTH} characters")
    return list(dict.fromkeys(products))
