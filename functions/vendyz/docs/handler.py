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
SwaggerUIBundle({url: "SPEC_URL", dom_id: "#swagger-ui", persistAuthorization: true});
</script>
</body>
</html>
"""


# The page's spec, relative to the page: /api/v1/docs reads /api/v1/openapi.json; /docs, where
# the original served it, reads /docs-json as the original's did.
PAGES = {
    "/docs": SWAGGER_UI.replace("SPEC_URL", "docs-json"),
    "/api/v1/docs": SWAGGER_UI.replace("SPEC_URL", "openapi.json"),
}
SPECS = ("/api/v1/openapi.json", "/docs-json")


def serve_docs(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    path = event.get("rawPath", "")
    if path in SPECS:
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": SPEC}
    page = PAGES.get(path, PAGES["/api/v1/docs"])
    return {"statusCode": 200, "headers": {"content-type": "text/html"}, "body": page}


handler = obs.instrument(serve_docs)
