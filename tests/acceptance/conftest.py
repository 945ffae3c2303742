"""The acceptance suite's own fixtures: a deployment reached over HTTP only, nothing else.

VENDYZ_BASE_URL points the suite at any deployment (AWS, LocalStack, a `vendyz up` started by
hand); without it, it uses the session's local cloud when the whole test tree runs
(`make test`), or starts one of its own (`make acceptance` without a URL). The admin's
credentials come from VENDYZ_ADMIN_EMAIL / VENDYZ_ADMIN_PASSWORD (default: the local cloud's
seed admin). Every run makes its own users and products, with unique names, so it can run
against a deployment others use. It registers three accounts a run: a deployment limits
registrations per client address (30 an hour by default).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.journey import Shopper, log_in, register

TIMEOUT_SECONDS = 30


@pytest.fixture(scope="session")
def deployment_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    external = os.environ.get("VENDYZ_BASE_URL")
    if external:
        yield external.rstrip("/")
        return
    try:  # `make test`: the cloud the rest of the tree shares
        yield request.getfixturevalue("local_cloud").base_url
        return
    except pytest.FixtureLookupError:
        pass
    from localcloud.cloud import CloudOptions, LocalCloud

    data_dir: Path = tmp_path_factory.mktemp("acceptance-cloud")
    cloud = LocalCloud(CloudOptions(port=0, data_dir=data_dir, static_dir=None), log=lambda _: None)
    cloud.start()
    yield cloud.base_url
    cloud.stop()


@pytest.fixture(scope="session")
def client(deployment_url: str) -> Iterator[httpx.Client]:
    """An HTTP client on the API prefix: client.get('/products')."""
    with httpx.Client(base_url=f"{deployment_url}/api/v1", timeout=TIMEOUT_SECONDS) as http:
        yield http


@pytest.fixture(scope="session")
def admin(client: httpx.Client) -> Shopper:
    email = os.environ.get("VENDYZ_ADMIN_EMAIL", "lead@vendyz.dev")
    password = os.environ.get("VENDYZ_ADMIN_PASSWORD", "flashsale")
    return log_in(client, email, password)


@pytest.fixture(scope="session")
def shopper_email(client: httpx.Client) -> str:
    """An account of the run's own that tests log in to (each with a token of its own)."""
    email, _ = register(client)
    return email
