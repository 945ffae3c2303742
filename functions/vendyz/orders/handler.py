"""Orders' Lambda entry. Everything here runs once per instance, at import."""

from __future__ import annotations

from functools import partial

from vendyz.core.cache import create_redis
from vendyz.core.contracts.inventory_pb2 import ReserveStockRequest, ReserveStockResponse
from vendyz.core.db import create_pool
from vendyz.core.entry import lambda_entry
from vendyz.core.events import EventPublisher
from vendyz.core.health import beat
from vendyz.core.observability import observability
from vendyz.core.rpc import LambdaRpc
from vendyz.core.settings import get_settings
from vendyz.orders.api import create_orders_app
from vendyz.orders.service import OrdersService

SERVICE = "orders"

settings = get_settings()
obs = observability(SERVICE)
cache = create_redis(settings.redis_url)
publisher = EventPublisher(settings.nats_url)
inventory = LambdaRpc(
    settings.inventory_function_name,
    endpoint_url=settings.lambda_endpoint_url or None,
    timeout_seconds=settings.rpc_timeout_seconds,
    sign=not settings.is_local,
)


def reserve_stock(request: ReserveStockRequest) -> ReserveStockResponse:
    return inventory.call("ReserveStock", request, ReserveStockResponse)


service = OrdersService(
    create_pool(settings.database_url, max_size=settings.db_pool_max_size, name=SERVICE),
    cache,
    publisher,
    reserve_stock,
    # The lease outlives one ReserveStock attempt, so nobody takes over a live request.
    lease_seconds=settings.rpc_timeout_seconds + 2,
)

handler = lambda_entry(
    obs,
    app=create_orders_app(service),
    tasks={
        "heartbeat": partial(beat, SERVICE, cache, publisher),
        "reconcile": service.reconcile,
    },
)
