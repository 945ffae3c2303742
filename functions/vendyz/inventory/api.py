"""Inventory's HTTP routes and RPC entry: parse, authorise, call the service, shape the reply."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from vendyz.core.contracts.inventory_pb2 import Outcome, ReserveStockRequest, ReserveStockResponse
from vendyz.core.envelope import WHOLE, Envelope, envelope
from vendyz.core.identity import AdminUser, Sessions
from vendyz.core.web import create_app
from vendyz.inventory.service import InventoryService, NewProduct

ProductId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$", description="Product id")
]
# Years 1970-9998 as written: whatever the offset, the instant survives the trip to PostgreSQL
# and back into Python (year 1 at +05:00 is 1 BC in UTC, which Python cannot hold).
_YEAR_PATTERN = r"^(19[7-9][0-9]|[2-9][0-9]{3})-"


def _in_range(value: datetime) -> datetime:
    if not 1970 <= value.year <= 9998:
        raise ValueError("the year must be between 1970 and 9998")
    return value


SaleInstant = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _YEAR_PATTERN}),
]
StrictCount = Annotated[int, Field(strict=True, ge=0, le=1_000_000), WHOLE]
PerUserLimit = Annotated[int, Field(strict=True, ge=1, le=10_000), WHOLE]

_PRODUCT_EXAMPLE: dict[str, Any] = {
    "product_id": "product-1",
    "name": "Limited Sneaker Drop",
    "stock": 1,
    "price": 129.0,
    "starts_at": None,
    "ends_at": None,
    "max_per_user": None,
}


class Product(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PRODUCT_EXAMPLE]})

    product_id: str
    name: str
    stock: int
    price: float
    starts_at: datetime | None
    ends_at: datetime | None
    max_per_user: int | None


class ProductPage(BaseModel):
    items: list[Product]
    page: int
    limit: int
    total: int
    serverTime: int = Field(
        description="The server's clock when it answered, ms since the epoch: clients time "
        "sale windows by it, not by their own clock"
    )


class ProductChanged(BaseModel):
    """Reply to the admin routes, with the original system's field names."""

    productId: str
    name: str
    stock: int
    price: float
    starts_at: datetime | None
    ends_at: datetime | None
    max_per_user: int | None


class CreateProduct(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Midnight Drop Jacket",
                    "stock": 100,
                    "price": 89.5,
                    "starts_at": "2026-11-27T00:00:00Z",
                    "ends_at": "2026-11-28T00:00:00Z",
                    "max_per_user": 2,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    stock: StrictCount
    price: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        le=Decimal("9999999999.99"),
        decimal_places=2,
        json_schema_extra={"multipleOf": 0.01},
    )
    starts_at: SaleInstant | None = None
    ends_at: SaleInstant | None = None
    max_per_user: PerUserLimit | None = None

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class SetStock(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"stock": 50}]})

    stock: StrictCount


def _changed(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "productId": product["product_id"],
        **{k: v for k, v in product.items() if k != "product_id"},
    }


ProductSort = Literal["name", "-name", "created", "-created"]


def create_inventory_app(service: InventoryService, sessions: Sessions) -> FastAPI:
    router = APIRouter(tags=["products"])

    @router.get("/products", operation_id="listProducts", response_model=Envelope[ProductPage])
    async def list_products(
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        sort: Annotated[
            ProductSort, Query(description="name (default), created; a leading - reverses")
        ] = "name",
    ) -> dict[str, Any]:
        """The sale's products, by name unless `sort` says otherwise, `limit` per page (at
        most 50)."""
        items, total = service.list_products(page=page, limit=limit, sort=sort)
        return envelope(
            {
                "items": items,
                "page": page,
                "limit": limit,
                "total": total,
                "serverTime": int(time.time() * 1000),
            }
        )

    @router.get(
        "/products/{id}",
        operation_id="getProduct",
        response_model=Envelope[Product],
        responses={404: {"model": Envelope[None], "description": "No such product"}},
    )
    async def get_product(id: ProductId) -> dict[str, Any]:
        """One product with its current stock."""
        return envelope(service.get_product(id))

    @router.post(
        "/products",
        operation_id="createProduct",
        status_code=201,
        response_model=Envelope[ProductChanged],
        responses={403: {"model": Envelope[None], "description": "Not an admin"}},
    )
    async def create_product(body: CreateProduct, _: AdminUser) -> dict[str, Any]:
        """Create a product (admin), optionally with a sale window and a per-user limit."""
        product = service.create_product(
            NewProduct(
                name=body.name,
                stock=body.stock,
                price=body.price,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                max_per_user=body.max_per_user,
            )
        )
        return envelope(_changed(product), "Product created")

    @router.post(
        "/products/{id}/stock",
        operation_id="setProductStock",
        response_model=Envelope[ProductChanged],
        responses={404: {"model": Envelope[None], "description": "No such product"}},
    )
    async def set_stock(id: ProductId, body: SetStock, _: AdminUser) -> dict[str, Any]:
        """Set a product's stock (admin); clears the sold-out marker when stock returns."""
        return envelope(_changed(service.set_stock(id, body.stock)), "Stock updated")

    return create_app("Vendyz inventory", [router], sessions=sessions)


def reserve_stock_rpc(
    service: InventoryService, request: ReserveStockRequest
) -> ReserveStockResponse:
    reservation = service.reserve_stock(
        order_id=request.order_id,
        product_id=request.product_id,
        quantity=request.quantity,
        user_id=request.user_id,
    )
    return ReserveStockResponse(
        outcome=Outcome.Value(reservation.outcome),
        reason=reservation.reason,
        remaining_stock=reservation.remaining_stock,
        product_name=reservation.product_name,
        replayed=reservation.replayed,
    )
