"""The local cloud tells the shop where it is: /config.json, as the deploy writes it in AWS."""

from __future__ import annotations

import json
from pathlib import Path

from localcloud.static_files import StaticFiles, request_host


def test_config_json_describes_the_cloud_at_the_host_the_browser_used(tmp_path: Path) -> None:
    # GIVEN a frontend build served by the local cloud
    (tmp_path / "index.html").write_text("<!doctype html>")
    static = StaticFiles(tmp_path)
    scope = {"headers": [(b"Host", b"127.0.0.1:4321")]}
    # WHEN the shop asks for /config.json on the host it was loaded from
    response = static.get("/config.json", request_host(scope))
    # THEN it gets the API and WebSocket URLs of that host, never cached
    assert response.status == 200
    assert json.loads(response.body) == {
        "apiUrl": "http://127.0.0.1:4321/api/v1",
        "wsUrl": "ws://127.0.0.1:4321/ws",
    }
    assert (b"cache-control", b"no-store") in response.headers


def test_without_a_host_header_the_config_names_localhost(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    response = StaticFiles(tmp_path).get("/config.json", request_host({"headers": []}))
    assert json.loads(response.body)["apiUrl"] == "http://localhost/api/v1"
