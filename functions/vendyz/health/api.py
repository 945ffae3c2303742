"""Health's HTTP routes: parse, authorise, call the service, shape the reply."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict

from vendyz.core.envelope import Envelope, envelope
from vendyz.core.identity import AdminUser, RevocationList
from vendyz.core.web import create_app
from vendyz.health.service import HealthService

ServiceName = Literal["auth", "inventory", "orders", "bridge"]


class ServiceHealth(BaseModel):
    """The original system's shape: lastSeen in ms since the epoch (0 = never)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"service": "orders", "lastSeen": 1764547200000, "isUp": True}]
        }
    )

    service: str
    lastSeen: int
    isUp: bool


class HealthPing(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"service": "auth"}]})

    service: ServiceName


def create_health_app(service: HealthService, revocations: RevocationList) -> FastAPI:
    router = APIRouter(tags=["health"])

    @router.get("/health", operation_id="getHealth", response_model=Envelope[list[ServiceHealth]])
    async def get_health() -> dict[str, Any]:
        """Each service's last heartbeat; up when seen within 2.5 heartbeat intervals."""
        return envelope(service.statuses())

    @router.post(
        "/health/ping",
        operation_id="pingHealth",
        response_model=Envelope[ServiceHealth],
        responses={403: {"model": Envelope[None], "description": "Not an admin"}},
    )
    async def ping(body: HealthPing, _: AdminUser) -> dict[str, Any]:
        """Record a heartbeat for a service now (admin), as its schedule would."""
        return envelope(service.ping(body.service), "Heartbeat recorded")

    return create_app("Vendyz health", [router], revocations=revocations)
