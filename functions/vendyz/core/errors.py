"""Errors a client can cause or meet, each with its HTTP status and envelope message."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An expected failure, answered with `status` and the envelope; never a 500."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.headers = headers or {}


class Unauthorized(AppError):
    status = 401

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409


class Unprocessable(AppError):
    status = 422


class TooManyRequests(AppError):
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(AppError):
    status = 503

    def __init__(self, message: str, *, retry_after: int = 1, data: Any = None) -> None:
        super().__init__(message, data=data, headers={"Retry-After": str(max(1, retry_after))})
