"""Inventory's Lambda entry. Everything here runs once per instance, at import."""

from __future__ import annotations

from functools import partial

from vendyz.core.cache import create_redis
from vendyz.core.contracts.inventory_pb2 import ReserveStockRequest, ReserveStockResponse
from vendyz.core.db import create_pool
from vendyz.core.entry import lambda_entry
from vendyz.core.events import EventPublisher
from vendyz.core.health import beat
from vendyz.core.observability import observability
from vendyz.core.rpc import rpc_handler
from vendyz.core.settings import get_settings
from vendyz.inventory.api import create_inventory_app, reserve_stock_rpc
from vendyz.inventory.service import InventoryService

SERVICE = "inventory"

settings = get_settings()
obs = observability(SERVICE)
cache = create_redis(settings.redis_url)
publisher = EventPublisher(settings.nats_url)
service = InventoryService(
    create_pool(settings.database_url, max_size=settings.db_pool_max_size, name=SERVICE),
    cache,
    publisher,
)

handler = lambda_entry(
    obs,
    app=create_inventory_app(service),
    rpc={
        "ReserveStock": rpc_handler(
            ReserveStockRequest, ReserveStockResponse, partial(reserve_stock_rpc, service)
        )
    },
    tasks={
        "heartbeat": partial(beat, SERVICE, cache, publisher),
        "reconcile": lambda: {"relayed": service.relay_outbox()},
    },
)
