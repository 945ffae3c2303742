"""Orders' Lambda entry. Everything here runs once per instance, at import."""

from __future__ import annotations

from vendyz.core.contracts.inventory_pb2 import ReserveStockRequest, ReserveStockResponse
from vendyz.core.entry import lambda_entry
from vendyz.core.identity import Sessions
from vendyz.core.instance import open_instance
from vendyz.core.rpc import LambdaRpc
from vendyz.orders.api import create_orders_app
from vendyz.orders.service import OrdersService

SERVICE = "orders"

instance = open_instance(SERVICE)
settings = instance.settings
inventory = LambdaRpc(
    settings.inventory_function_name,
    endpoint_url=settings.lambda_endpoint_url or None,
    timeout_seconds=settings.rpc_timeout_seconds,
)


def reserve_stock(request: ReserveStockRequest) -> ReserveStockResponse:
    return inventory.call("ReserveStock", request, ReserveStockResponse)


service = OrdersService(
    instance.pool,
    instance.cache,
    instance.publisher,
    reserve_stock,
    # The lease outlives one ReserveStock attempt, so nobody takes over a live request.
    lease_seconds=settings.rpc_timeout_seconds + 2,
)

handler = lambda_entry(
    instance.obs,
    app=create_orders_app(service, Sessions(instance.cache, instance.pool)),
    tasks={
        "heartbeat": instance.heartbeat,
        "reconcile": service.reconcile,
    },
)
