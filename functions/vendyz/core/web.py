"""The FastAPI application every service builds on: envelope errors, the request guard (body
size, UTF-8, duplicate keys, NUL), unknown query parameters refused, a 503 with Retry-After
when PostgreSQL or Redis is unreachable: no 500s for anything a client can send.

Routes are `async def` on purpose: an instance serves one request at a time on its own event
loop, so blocking database calls inside them cost nothing, while `def` routes would add a
thread hop to every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import redis
from aws_lambda_powertools import Logger
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from vendyz.core.envelope import envelope
from vendyz.core.errors import AppError
from vendyz.core.identity import Sessions
from vendyz.core.request_guard import RequestGuard

API_PREFIX = "/api/v1"
RETRY_AFTER_SECONDS = 1
# What a down or unreachable PostgreSQL or Redis raises (psycopg's OperationalError covers a
# broken connection and a server that went away mid-statement).
DATA_SERVICE_DOWN: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
)

logger = Logger(service="vendyz")


def error_response(
    status: int, message: str, data: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(envelope(data, message, success=False), status_code=status, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "quantity") -> "quantity"; ("query", "limit") -> "limit"; ("body",) -> "body"
    if not loc:
        return "body"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0])


def validation_errors(errors: Iterable[Any]) -> list[dict[str, str]]:
    return [
        {"field": _field_name(e.get("loc", ())), "message": e.get("msg", ""), "type": e["type"]}
        for e in errors
    ]


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(400, "body: malformed JSON", {"errors": errors})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return error_response(422, f"Validation failed: {summary}", {"errors": errors})


async def _on_app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status, exc.message, exc.data, exc.headers)


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))


async def _on_data_service_down(_: Request, exc: Exception) -> JSONResponse:
    # A lost connection or a pool with none free: the request may be retried, and nothing it
    # did is half-written (every change is one statement or one transaction).
    logger.warning("data service unavailable", extra={"error": repr(exc)})
    return error_response(
        503, "Service briefly unavailable; retry", None, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error")


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


_declared_queries: dict[int, frozenset[str]] = {}


async def _refuse_unknown_query(request: Request) -> None:
    """Query parameters a route does not declare are refused, as unknown body fields are: a
    typo (`?limt=5`) must not silently mean the default."""
    if not request.query_params:
        return
    route = request.scope["route"]
    declared = _declared_queries.get(id(route))
    if declared is None:
        declared = _declared_queries[id(route)] = _query_names(route.dependant)
    unknown = [name for name in request.query_params if name not in declared]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": "unknown query parameter",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ]
        )


def create_app(title: str, routers: Sequence[APIRouter], *, sessions: Sessions) -> FastAPI:
    """A service's app; its OpenAPI is merged into the one API spec served at /docs.
    `sessions`: what CurrentUser and AdminUser check each caller against."""
    app = FastAPI(
        title=title,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        separate_input_output_schemas=False,
        # Tracing, metrics and logs are Powertools' (X-Ray, EMF, JSON logs). FastAPI's own
        # OpenTelemetry, left on, asks for providers on every request: ~25 us each.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(_refuse_unknown_query)])
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for unavailable in DATA_SERVICE_DOWN:
        app.add_exception_handler(unavailable, _on_data_service_down)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(RequestGuard)
    app.state.sessions = sessions
    return app
