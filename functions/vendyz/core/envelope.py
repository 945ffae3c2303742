"""The response envelope every route answers with: {success, message, data}."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool
    message: str
    data: T | None = None


def envelope(data: Any = None, message: str = "OK", *, success: bool = True) -> dict[str, Any]:
    return {"success": success, "message": message, "data": data}
