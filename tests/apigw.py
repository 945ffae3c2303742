"""API Gateway's `@connections` API in tests: moto's server mode, taught what moto leaves out.

moto keeps every connection id it is asked about and never answers 410. Here a connection
deleted through the API (as API Gateway closes one) is gone: posting to it answers 410
GoneException, as AWS does. The bridge's client speaks HTTP to moto's server as it does to API
Gateway, at an endpoint without a stage (moto's server routes only `/@connections/...` paths to
this API). A recorder around the real client keeps what reached which connection, in the order
the posts completed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import httpx
import pytest
from moto.apigatewaymanagementapi.models import (
    ApiGatewayManagementApiBackend,
    apigatewaymanagementapi_backends,
)
from moto.core.exceptions import JsonRESTError
from moto.server import ThreadedMotoServer

from bridge.connections_client import ConnectionsClient
from bridge.pusher import Poster
from bridge.sigv4 import Credentials

REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"  # moto's account for any access key it does not know
CREDENTIALS = Credentials("testing", "testing")


class _Gone(JsonRESTError):
    code = 410


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server mode on loopback; its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def connections_api(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh @connections API on moto's server, with gone connections, meanwhile."""
    _teach_moto_gone_connections(monkeypatch)
    try:
        yield
    finally:
        httpx.post(f"{moto_url}/moto-api/reset")


def client(endpoint_url: str) -> ConnectionsClient:
    return ConnectionsClient(endpoint_url, REGION, lambda: CREDENTIALS)


def received(connection_id: str) -> bytes:
    """The last message moto's @connections API took for the connection."""
    backend = apigatewaymanagementapi_backends[MOTO_ACCOUNT][REGION]
    data: bytes = backend.connections[connection_id].data
    return data


def _teach_moto_gone_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: set[str] = set()
    post = ApiGatewayManagementApiBackend.post_to_connection
    delete = ApiGatewayManagementApiBackend.delete_connection

    def post_unless_closed(
        self: ApiGatewayManagementApiBackend, data: bytes, connection_id: str
    ) -> None:
        if connection_id in closed:
            raise _Gone("GoneException", f"connection {connection_id} is gone")
        post(self, data, connection_id)

    def delete_and_close(self: ApiGatewayManagementApiBackend, connection_id: str) -> None:
        closed.add(connection_id)
        delete(self, connection_id)

    monkeypatch.setattr(ApiGatewayManagementApiBackend, "post_to_connection", post_unless_closed)
    monkeypatch.setattr(ApiGatewayManagementApiBackend, "delete_connection", delete_and_close)


def close_connection(endpoint_url: str, connection_id: str) -> None:
    """Close a connection as API Gateway would (DELETE @connections/{id}, through boto3)."""
    boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key,
    ).delete_connection(ConnectionId=connection_id)


class RecordingPoster:
    """Posts through `inner` (the bridge's real client) and records what was delivered."""

    def __init__(self, inner: Poster) -> None:
        self._inner = inner
        self.delivered: list[tuple[str, dict[str, Any]]] = []

    async def post(self, connection_id: str, data: bytes) -> bool:
        delivered = await self._inner.post(connection_id, data)
        if delivered:
            self.delivered.append((connection_id, json.loads(data)))
        return delivered

    async def aclose(self) -> None:
        await self._inner.aclose()

    def messages(self, connection_id: str, kind: str) -> list[dict[str, Any]]:
        return [m for c, m in list(self.delivered) if c == connection_id and m["type"] == kind]
