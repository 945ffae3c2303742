"""Inventory's Lambda entry. Everything here runs once per instance, at import."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz.core.contracts.inventory_pb2 import ReserveStockRequest, ReserveStockResponse
from vendyz.core.entry import lambda_entry
from vendyz.core.identity import RevocationList
from vendyz.core.instance import open_instance
from vendyz.core.rpc import rpc_handler
from vendyz.inventory.api import create_inventory_app, reserve_stock_rpc
from vendyz.inventory.service import InventoryService

SERVICE = "inventory"

instance = open_instance(SERVICE)
service = InventoryService(instance.pool, instance.cache, instance.publisher)


def on_demo_products_resource(_: dict[str, Any], __: LambdaContext) -> dict[str, str]:
    return service.seed_demo_products()


handler = lambda_entry(
    instance.obs,
    app=create_inventory_app(service, RevocationList(instance.cache)),
    rpc={
        "ReserveStock": rpc_handler(
            ReserveStockRequest, ReserveStockResponse, partial(reserve_stock_rpc, service)
        )
    },
    tasks={
        "heartbeat": instance.heartbeat,
        "reconcile": lambda: {"relayed": service.relay_outbox()},
    },
    custom_resource=on_demo_products_resource,
)
