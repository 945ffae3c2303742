"""Shared fixtures: one local cloud (real PostgreSQL, Valkey, NATS) per test session.

Set VENDYZ_BASE_URL to point the HTTP tests at a cloud that is already running (LocalStack,
AWS, another `vendyz up`; the Invoke API client then signs with the environment's AWS keys);
tests that reach into the database or the data services need the cloud started here. The
functions themselves run in instance processes of their own: tests reach them through the
HTTP API and the Invoke API only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
import redis
from botocore.config import Config
from psycopg.rows import dict_row

from localcloud.cloud import CloudOptions, LocalCloud
from localcloud.services import DataServices
from tests.apigw import connections_api, moto_server
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, login


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    data_dir: Path = tmp_path_factory.mktemp("vendyz")
    cloud = LocalCloud(
        CloudOptions(port=0, data_dir=data_dir, static_dir=None, schedule_seconds=2.0),
        log=lambda _: None,
    )
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="session")
def base_url(request: pytest.FixtureRequest) -> str:
    external = os.environ.get("VENDYZ_BASE_URL")
    if external:
        return external.rstrip("/")
    cloud: LocalCloud = request.getfixturevalue("local_cloud")
    return cloud.base_url


@pytest.fixture(scope="session")
def api(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client on the API prefix: api.get('/products')."""
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def lambda_client(request: pytest.FixtureRequest, base_url: str) -> Any:
    """A stock boto3 Lambda client on the cloud's Invoke API, with the cloud's credentials
    (those of the environment for a cloud already running elsewhere)."""
    keys: dict[str, str] = {}
    if not os.environ.get("VENDYZ_BASE_URL"):
        cloud: LocalCloud = request.getfixturevalue("local_cloud")
        assert cloud.secrets is not None
        keys = {
            "aws_access_key_id": cloud.secrets.access_key_id,
            "aws_secret_access_key": cloud.secrets.secret_access_key,
        }
    return boto3.client(
        "lambda",
        endpoint_url=base_url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
        **keys,
    )


@pytest.fixture
def db(local_cloud: LocalCloud) -> Iterator[psycopg.Connection[dict[str, object]]]:
    """A direct autocommit connection, for asserting what was (not) written."""
    assert local_cloud.urls is not None
    with psycopg.connect(
        local_cloud.urls.database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        yield conn


@pytest.fixture
def cache(local_cloud: LocalCloud) -> Iterator[redis.Redis]:
    """A client of the cloud's Valkey, for what the functions cached (or lost)."""
    assert local_cloud.urls is not None
    client = redis.Redis.from_url(local_cloud.urls.redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def admin_token(api: httpx.Client) -> str:
    return login(api, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def own_nats(local_cloud: LocalCloud, tmp_path: Path) -> Iterator[tuple[DataServices, str]]:
    """A NATS server of the test's own, with no stream yet, to break and mend freely (the
    cloud's PostgreSQL and Redis are reused, so only NATS starts)."""
    assert local_cloud.urls is not None
    urls = local_cloud.urls
    services = DataServices(
        tmp_path, env={"DATABASE_URL": urls.database_url, "REDIS_URL": urls.redis_url}
    )
    yield services, services.start().nats_url
    services.stop()


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """moto's server mode on loopback (one for the session)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def connections_endpoint(moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh `@connections` API on moto's server, with gone connections (tests/apigw.py);
    its endpoint URL."""
    with connections_api(moto_server_url, monkeypatch):
        yield moto_server_url
