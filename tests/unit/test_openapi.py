"""The one OpenAPI spec of the whole API: fresh, complete, and described."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from localcloud.template import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    path = ROOT / "infra" / "openapi.py"
    spec = importlib.util.spec_from_file_location("openapi_generator", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((ROOT / "functions/vendyz/docs/openapi.json").read_text())
    return spec


def test_the_served_spec_is_what_the_code_declares(generator: ModuleType) -> None:
    # GIVEN the committed spec the docs function serves
    # WHEN the spec is built again from every service's routes
    # THEN they are the same (run `python infra/openapi.py` after changing a route)
    assert generator.render() == generator.SPEC_PATH.read_text()


def test_every_template_route_is_documented_with_a_stable_operation_id(
    served: dict[str, Any],
) -> None:
    template = load_template(ROOT / "template.yaml", {})
    operation_ids = []
    for route in template.routes:
        if route.function == "DocsFunction":
            continue
        operation = served["paths"].get(route.path, {}).get(route.method.lower())
        assert operation is not None, f"{route.route_key} is missing from the spec"
        assert operation.get("operationId"), route.route_key
        operation_ids.append(operation["operationId"])
        # Routes behind the authorizer say so.
        assert ("security" in operation) == route.authorized, route.route_key
    assert len(operation_ids) == len(set(operation_ids))


def test_every_request_body_has_an_example(served: dict[str, Any]) -> None:
    schemas = served["components"]["schemas"]
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[ref].get("examples"), f"{method.upper()} {path}: no example"
