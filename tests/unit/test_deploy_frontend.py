"""`make deploy-frontend`: the build on the shop bucket, cached right, with its config."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "vendyz-shop-test"


@pytest.fixture(scope="module")
def deploy() -> ModuleType:
    path = ROOT / "infra" / "deploy_frontend.py"
    spec = importlib.util.spec_from_file_location("deploy_frontend", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_the_build_and_its_config_reach_the_bucket_with_their_caching(
    deploy: ModuleType, s3: Any, tmp_path: Path
) -> None:
    # GIVEN a build with an index and a hashed asset
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    config = deploy.shop_config(
        {
            "ApiUrl": "https://x/api/v1",
            "WebSocketConnectionsUrl": "https://ws.example/prod",
            "WebSocketUrl": "wss://ws.example/prod",
        }
    )
    # WHEN it is uploaded
    keys = deploy.upload(s3, BUCKET, tmp_path, config)
    # THEN the asset is cached for good, the index and config revalidated, index.html last
    assert keys == ["assets/index-abc123.js", "index.html", "config.json"]
    asset = s3.head_object(Bucket=BUCKET, Key="assets/index-abc123.js")
    assert asset["CacheControl"] == "public, max-age=31536000, immutable"
    assert "javascript" in asset["ContentType"]
    assert s3.head_object(Bucket=BUCKET, Key="index.html")["CacheControl"] == "no-cache"
    # AND the shop calls its API on its own origin and the WebSocket API the stack names
    body = s3.get_object(Bucket=BUCKET, Key="config.json")["Body"].read()
    assert json.loads(body) == {"apiUrl": "/api/v1", "wsUrl": "wss://ws.example/prod"}


def test_a_stack_without_a_websocket_api_gives_the_shop_none(deploy: ModuleType) -> None:
    assert deploy.shop_config({"ApiUrl": "https://x/api/v1"}) == {"apiUrl": "/api/v1", "wsUrl": ""}


def test_no_build_is_refused_before_anything_is_written(
    deploy: ModuleType, s3: Any, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="no build"):
        deploy.upload(s3, BUCKET, tmp_path, {})
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
