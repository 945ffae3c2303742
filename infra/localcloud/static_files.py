"""The frontend build, served at `/` as CloudFront serves it from its bucket."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from localcloud.responses import HttpResponse, gateway_answer


class StaticFiles:
    def __init__(self, static_dir: Path | None) -> None:
        self.root = static_dir.resolve() if static_dir else None

    def get(self, path: str) -> HttpResponse:
        if self.root is None:
            return gateway_answer(404)
        candidate = (self.root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            candidate = self.root / "index.html"  # single-page app: the client routes
        if not candidate.is_file():
            return gateway_answer(404)
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        return HttpResponse(200, [(b"content-type", content_type.encode())], candidate.read_bytes())
