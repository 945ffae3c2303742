"""The FastAPI application every service builds on: envelope errors, body limit, no 500s for
client input.

Routes are `async def` on purpose: an instance serves one request at a time on its own event
loop, so blocking database calls inside them cost nothing, while `def` routes would add a
thread hop to every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from vendyz.core.envelope import envelope
from vendyz.core.errors import AppError
from vendyz.core.identity import RevocationList

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 16 * 1024

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


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error")


class BodyLimit:
    """Answer 413 before parsing a body larger than MAX_BODY_BYTES."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
                    response = error_response(
                        413, f"body: larger than {MAX_BODY_BYTES} bytes", {"field": "body"}
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(title: str, routers: Sequence[APIRouter], *, revocations: RevocationList) -> FastAPI:
    """A service's app; its OpenAPI is merged into the one API spec served at /docs.
    `revocations`: what CurrentUser checks each caller's token against."""
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
        app.include_router(router, prefix=API_PREFIX)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(BodyLimit)
    app.state.revocations = revocations
    return app
