"""Orders' HTTP routes: parse, authorise, call the service, shape the reply."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from vendyz.core.envelope import WHOLE, Envelope, envelope
from vendyz.core.identity import CallerToCheckInService, CurrentUser, Sessions
from vendyz.core.web import create_app
from vendyz.orders.service import OrdersService

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes retries safe: one order per (you, key); a replay gets the same answer",
    ),
]


Quantity = Annotated[int, Field(strict=True, ge=1, le=100), WHOLE]


class PlaceOrder(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"productId": "product-2", "quantity": 1}]},
    )

    productId: str = Field(min_length=1, max_length=64)
    quantity: Quantity


class OrderPlaced(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "orderId": "6f1c2a8e-4f57-4f4b-9d2c-6d9a3c0b1e21",
                    "status": "CONFIRMED",
                    "message": "Order confirmed",
                }
            ]
        }
    )

    orderId: str | None
    status: str
    message: str
    reason: str | None = None


class Order(BaseModel):
    order_id: str
    status: str
    product_id: str
    product_name: str | None
    quantity: int
    user_id: str
    reason: str | None
    created_at: datetime


class OrderPage(BaseModel):
    items: list[Order]
    page: int
    limit: int
    total: int


def create_orders_app(service: OrdersService, sessions: Sessions) -> FastAPI:
    router = APIRouter(tags=["orders"])

    @router.post(
        "/orders",
        operation_id="placeOrder",
        status_code=201,
        response_model=Envelope[OrderPlaced],
        responses={
            409: {
                "model": Envelope[OrderPlaced],
                "description": "Out of stock, sale not "
                "active, limit reached, or the same key still in progress",
            },
            404: {"model": Envelope[None], "description": "No such product"},
            422: {"model": Envelope[Any], "description": "Invalid body, or key reused"},
            429: {"model": Envelope[None], "description": "Too many orders; see Retry-After"},
            503: {"model": Envelope[OrderPlaced], "description": "Retry with the same key"},
        },
    )
    async def place_order(
        body: PlaceOrder,
        user: CallerToCheckInService,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Buy `quantity` of a product. Send an Idempotency-Key to make retries safe."""
        reply = service.place_order(
            user.user_id, user.token_id, idempotency_key, body.productId, body.quantity
        )
        headers = {"Idempotent-Replayed": "true"} if reply.replayed else None
        return JSONResponse(
            envelope(reply.data, reply.message, success=reply.status_code == 201),
            status_code=reply.status_code,
            headers=headers,
        )

    @router.get("/orders", operation_id="listOrders", response_model=Envelope[OrderPage])
    async def list_orders(
        user: CurrentUser,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        status: Annotated[
            Literal["PENDING", "CONFIRMED", "FAILED"] | None,
            Query(description="only orders of this status (default: all but FAILED)"),
        ] = None,
    ) -> dict[str, Any]:
        """Your orders, newest first; the failed ones only when asked for by `status`."""
        items, total = service.list_orders(user.user_id, page=page, limit=limit, status=status)
        return envelope({"items": items, "page": page, "limit": limit, "total": total})

    @router.get(
        "/orders/{id}",
        operation_id="getOrder",
        response_model=Envelope[Order],
        responses={404: {"model": Envelope[None], "description": "No such order of yours"}},
    )
    async def get_order(
        id: Annotated[uuid.UUID, Path(description="Order id")],
        user: CurrentUser,
    ) -> dict[str, Any]:
        """One of your orders (an admin may read any)."""
        return envelope(service.get_order(user, str(id)))

    return create_app("Vendyz orders", [router], sessions=sessions)
