"""The docs function: Swagger UI and the one OpenAPI spec of the whole API.

Only a handler: it serves a file built from every service's routes (infra/openapi.py), so it
has no logic, no store and no FastAPI app of its own, and starts in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz.core.observability import observability

obs = observability("docs")
SPEC = (Path(__file__).parent / "openapi.json").read_text()

SWAGGER_UI = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><title>Vendyz Flash Sale API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});
</script>
</body>
</html>
"""


def serve_docs(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("rawPath", "").endswith("/openapi.json"):
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": SPEC}
    return {"statusCode": 200, "headers": {"content-type": "text/html"}, "body": SWAGGER_UI}


handler = obs.instrument(serve_docs)
