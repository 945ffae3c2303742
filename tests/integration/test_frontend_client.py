"""The shop's generated API client is the one the live spec gives (regenerate it with
`cd frontend && npm run generate-api` after changing a route)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
GENERATOR = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
COMMITTED = FRONTEND / "src" / "api" / "schema.d.ts"


def test_the_committed_client_is_what_the_live_spec_generates(
    api: httpx.Client, tmp_path: Path
) -> None:
    # GIVEN the spec the running API serves
    assert GENERATOR.is_file(), "no frontend packages: run `make setup`"
    reply = api.get("/openapi.json")
    assert reply.status_code == 200
    spec = tmp_path / "openapi.json"
    spec.write_bytes(reply.content)
    # WHEN the client's types are generated from it
    generated = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(GENERATOR), str(spec), "-o", str(generated)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=120,
    )
    # THEN they are exactly the committed ones
    assert generated.read_text() == COMMITTED.read_text(), (
        "frontend/src/api/schema.d.ts is stale: run `cd frontend && npm run generate-api`"
    )
