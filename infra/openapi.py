"""Builds the one OpenAPI spec of the whole API from every service's FastAPI app.

`python infra/openapi.py` writes functions/vendyz/docs/openapi.json (served by the docs
function); `--check` fails when the committed file is stale. Routes that the template puts
behind the Lambda authorizer get the bearer security requirement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, cast

from localcloud.template import load_template

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "functions" / "vendyz" / "docs" / "openapi.json"


def _service_apps() -> list[Any]:
    # Route declarations only: the service objects are never called while building the spec.
    from vendyz.auth.api import create_auth_app
    from vendyz.health.api import create_health_app
    from vendyz.inventory.api import create_inventory_app
    from vendyz.orders.api import create_orders_app

    placeholder = cast(Any, None)
    return [
        create_auth_app(placeholder, placeholder),
        create_health_app(placeholder, placeholder),
        create_inventory_app(placeholder, placeholder),
        create_orders_app(placeholder, placeholder),
    ]


# Statuses every operation may answer besides its own, and why.
_BODY_ERRORS = {
    "400": "Malformed JSON or a body that is not UTF-8",
    "413": "Body larger than the limit",
    "422": "A field is missing, unknown, duplicated or invalid (each one named)",
}
_ALWAYS = {
    "431": "Request headers larger than 10 KiB (answered by the gateway)",
    "503": "A data service is briefly unavailable; retry after Retry-After",
}
_SECURED = {
    "401": "No valid token, or the token was revoked, expired or its account is gone",
    "403": "The token's user may not do this",
}
_TEMPLATED = {"404": "No such resource, or no route for this path"}
_GATEWAY_ANSWERS = {"401", "403", "404", "413", "431"}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}


def _error_body(status: str) -> dict[str, Any]:
    name = "Envelope_Any_" if status in ("429", "503") else "Envelope_FieldErrors_"
    schema: dict[str, Any] = {"$ref": f"#/components/schemas/{name}"}
    if status == "431":  # only API Gateway answers it
        schema = {"$ref": "#/components/schemas/GatewayError"}
    elif status in _GATEWAY_ANSWERS:  # API Gateway's own body, or our envelope from a function
        schema = {"anyOf": [{"$ref": "#/components/schemas/GatewayError"}, schema]}
    return {"application/json": {"schema": schema}}


def _add_error_statuses(
    operation: dict[str, Any], *, secured: bool, has_input: bool, templated: bool
) -> None:
    """Document what any route can answer, and the real 422 body (not FastAPI's default)."""
    extra = dict(_ALWAYS)
    if templated:
        extra |= _TEMPLATED
    if has_input:
        extra |= _BODY_ERRORS
    if secured:
        extra |= _SECURED
    responses = operation.setdefault("responses", {})
    for status, description in extra.items():
        if status == "422" or status in _GATEWAY_ANSWERS or status not in responses:
            known = responses.get(status, {}).get("description", description)
            responses[status] = {"description": known, "content": _error_body(status)}
    for status in ("429", "503"):
        if status in responses:
            responses[status]["headers"] = _RETRY_AFTER


def _error_schemas() -> dict[str, Any]:
    from pydantic import TypeAdapter

    from vendyz.core.envelope import Envelope, FieldErrors, GatewayError

    refs = "#/components/schemas/{model}"
    found: dict[str, Any] = {}
    for model in (Envelope[FieldErrors], Envelope[Any], GatewayError):
        schema = TypeAdapter(model).json_schema(ref_template=refs)
        found.update(schema.pop("$defs", {}))
        found[schema.get("title", "").replace("[", "_").replace("]", "_")] = schema
    return found


def build_spec() -> dict[str, Any]:
    template = load_template(ROOT / "template.yaml", {})
    secured = {(r.method.lower(), r.path) for r in template.routes if r.authorized}
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Vendyz Flash Sale API",
            "version": "1.0.0",
            "description": "Every reply is the envelope {success, message, data}. "
            "Log in at POST /api/v1/auth/login and send `Authorization: Bearer <token>`.",
        },
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
    for app in _service_apps():
        part = app.openapi()
        for path, operations in part.get("paths", {}).items():
            for method, operation in operations.items():
                is_secured = (method, path) in secured
                if is_secured:
                    operation["security"] = [{"bearerAuth": []}]
                _add_error_statuses(
                    operation,
                    secured=is_secured,
                    has_input="requestBody" in operation or bool(operation.get("parameters")),
                    templated="{" in path,
                )
            spec["paths"].setdefault(path, {}).update(operations)
        spec["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    spec["components"]["schemas"].update(_error_schemas())
    for name in ("HTTPValidationError", "ValidationError"):
        spec["components"]["schemas"].pop(name, None)
    spec["paths"] = dict(sorted(spec["paths"].items()))
    spec["components"]["schemas"] = dict(sorted(spec["components"]["schemas"].items()))
    return spec


def render() -> str:
    return json.dumps(build_spec(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed spec is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not SPEC_PATH.exists() or SPEC_PATH.read_text() != text:
            print(f"{SPEC_PATH} is stale: run `python infra/openapi.py`", file=sys.stderr)
            return 1
        return 0
    SPEC_PATH.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
