"""Realtime's Lambda entry: the WebSocket API's routes. A plain handler (Mangum serves HTTP,
not WebSockets), routed by the event type API Gateway sets. Everything here runs once per
instance, at import; the PostgreSQL pool opens (and psycopg is imported) on the first
subscription that names products."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz.core.cache import create_redis
from vendyz.core.lazy import lazy_pool
from vendyz.core.observability import observability
from vendyz.core.settings import get_settings
from vendyz.realtime import api
from vendyz.realtime.service import RealtimeService

SERVICE = "realtime"

settings = get_settings()
obs = observability(SERVICE)
service = RealtimeService(create_redis(settings.redis_url), lazy_pool(settings, SERVICE))

ROUTES = {
    "CONNECT": api.on_connect,
    "DISCONNECT": api.on_disconnect,
    "MESSAGE": api.on_message,
}


def route(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event_type = (event.get("requestContext") or {}).get("eventType")
    serve = ROUTES.get(str(event_type))
    if serve is None:
        raise ValueError(f"not a WebSocket event (eventType {event_type!r})")
    return serve(service, event)


handler = obs.instrument(route)
