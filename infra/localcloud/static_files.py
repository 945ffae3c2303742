"""The frontend build, served at `/` as CloudFront serves it from its bucket, and the shop's
`/config.json` (where its API and WebSocket API are), which `make deploy-frontend` writes
to the bucket in AWS."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

from localcloud.responses import HttpResponse, Scope, gateway_answer

CONFIG_PATH = "/config.json"


def site_config(host: str) -> dict[str, str]:
    """This local cloud as the shop sees it: everything on the one port the browser used."""
    return {"apiUrl": f"http://{host}/api/v1", "wsUrl": f"ws://{host}/ws"}


def request_host(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"host":
            return str(value.decode("latin-1"))
    return "localhost"


class StaticFiles:
    def __init__(self, static_dir: Path | None) -> None:
        self.root = static_dir.resolve() if static_dir else None

    def get(self, path: str, host: str = "localhost") -> HttpResponse:
        if self.root is None:
            return gateway_answer(404)
        if path == CONFIG_PATH:
            headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
            return HttpResponse(200, headers, json.dumps(site_config(host)).encode())
        candidate = (self.root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            candidate = self.root / "index.html"  # single-page app: the client routes
        if not candidate.is_file():
            return gateway_answer(404)
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        return HttpResponse(200, [(b"content-type", content_type.encode())], candidate.read_bytes())
