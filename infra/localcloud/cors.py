"""The HTTP API's CORS, as the template's CorsConfiguration says (API Gateway answers the
preflight itself and adds the headers to every response, its own errors included)."""

from __future__ import annotations

from localcloud.responses import HttpResponse
from localcloud.template import Cors


class CorsPolicy:
    def __init__(self, cors: Cors | None) -> None:
        self.cors = cors

    def is_preflight(self, method: str, headers: dict[str, str]) -> bool:
        asks = method == "OPTIONS" and "access-control-request-method" in headers
        return self.cors is not None and asks

    def preflight(self, headers: dict[str, str]) -> HttpResponse:
        response = HttpResponse(204, [], b"")
        allowed = self._allowed_origin(headers.get("origin", ""))
        if allowed and self.cors is not None:
            response.headers += [
                (b"access-control-allow-origin", allowed.encode()),
                (b"access-control-allow-methods", ",".join(self.cors.allow_methods).encode()),
                (b"access-control-allow-headers", ",".join(self.cors.allow_headers).encode()),
                (b"access-control-max-age", str(self.cors.max_age).encode()),
            ]
        return response

    def apply(self, headers: dict[str, str], response: HttpResponse) -> HttpResponse:
        allowed = self._allowed_origin(headers.get("origin", ""))
        if allowed and self.cors is not None:
            response.headers.append((b"access-control-allow-origin", allowed.encode()))
            if self.cors.expose_headers:
                exposed = ",".join(self.cors.expose_headers).encode()
                response.headers.append((b"access-control-expose-headers", exposed))
        return response

    def _allowed_origin(self, origin: str) -> str | None:
        if self.cors is None or not origin:
            return None
        if "*" in self.cors.allow_origins:
            return "*"
        return origin if origin in self.cors.allow_origins else None
