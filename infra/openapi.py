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
                if (method, path) in secured:
                    operation["security"] = [{"bearerAuth": []}]
            spec["paths"].setdefault(path, {}).update(operations)
        spec["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
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
