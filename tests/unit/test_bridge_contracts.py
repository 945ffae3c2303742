"""The bridge is deployed on its own (its own image), so it repeats a few strings of the
functions instead of importing them; these checks keep the copies in step."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from bridge import health, registry, stock
from vendyz.core import markers
from vendyz.inventory import service as inventory

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "infra" / "bridge"


def test_the_bridge_reads_and_drops_the_keys_the_functions_write() -> None:
    # GIVEN the functions' Redis keys
    # WHEN the bridge names the same things
    # THEN it names them alike: heartbeats, the connection registry, a product's cached view,
    # the list pages' version
    assert health.heartbeat_key("orders") == markers.heartbeat_key("orders")
    assert registry.CONNECTIONS_KEY == markers.CONNECTIONS_KEY
    assert registry.connection_key("Zx9_aQ=") == markers.connection_key("Zx9_aQ=")
    assert stock.product_key("product-1") == inventory._product_key("product-1")
    assert stock.PRODUCT_LIST_VERSION_KEY == inventory._LIST_VERSION_KEY


def test_the_bridge_never_imports_the_functions() -> None:
    # GIVEN every module of the bridge package
    imported: set[str] = set()
    for path in BRIDGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    # WHEN their imports are listed
    # THEN none is of vendyz or the local cloud: the image ships the bridge alone
    assert not imported & {"vendyz", "localcloud"}


def test_the_image_installs_what_the_project_declares_for_the_bridge() -> None:
    # GIVEN the bridge image's requirements
    lines = (BRIDGE / "requirements.txt").read_text().splitlines()
    image = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    # WHEN compared with what `pip install .[local]` (vendyz up runs the bridge) brings
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["local"])
    # THEN each is declared there, at the same bound
    assert image <= declared
