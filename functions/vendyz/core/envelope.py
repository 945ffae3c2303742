"""The response envelope every route answers with: {success, message, data}, the shapes of its
errors, and the one integer type request fields use."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool
    message: str
    data: T | None = None


def envelope(data: Any = None, message: str = "OK", *, success: bool = True) -> dict[str, Any]:
    return {"success": success, "message": message, "data": data}


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class FieldErrors(BaseModel):
    """`data` of a 400, 413 or 422 answer: what was wrong, field by field."""

    errors: list[FieldError]


class GatewayError(BaseModel):
    """What API Gateway answers itself (no route, no or a refused token, too large, throttled):
    a body with a `message`. Our functions' envelope has one too."""

    message: str


def _whole(value: Any) -> Any:
    # JSON Schema counts 1.0 as an integer; "1", true and 1.5 stay refused by strict mode.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# After the Field, before strict int validation: `Annotated[int, Field(strict=True, ...), WHOLE]`
# (placed before the Field, it hides the Field's bounds from the JSON schema).
WHOLE = BeforeValidator(_whole)
