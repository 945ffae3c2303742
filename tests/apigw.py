"""API Gateway's `@connections` API in tests: moto, taught what moto leaves out.

moto keeps every connection id it is asked about and never answers 410. Here a connection
deleted through the API (as API Gateway closes one) is gone: posting to it answers 410
GoneException, as AWS does. A recorder around the real boto3 poster keeps what reached
which connection, in the order the posts completed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.core.exceptions import JsonRESTError

from bridge.pusher import Poster

# moto answers for any API id on an execute-api host; the path is the stage.
ENDPOINT_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/ws"
REGION = "us-east-1"


class _Gone(JsonRESTError):
    code = 410


@contextmanager
def mocked_connections_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's @connections API (with gone connections) for every boto3 client meanwhile."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    _teach_moto_gone_connections(monkeypatch)
    with mock_aws():
        yield


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


def close_connection(connection_id: str) -> None:
    """Close a connection as API Gateway would (DELETE @connections/{id})."""
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT_URL, region_name=REGION)
    client.delete_connection(ConnectionId=connection_id)


class RecordingPoster:
    """Posts through `inner` (the real boto3 client) and records what was delivered."""

    def __init__(self, inner: Poster) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.delivered: list[tuple[str, dict[str, Any]]] = []

    def post(self, connection_id: str, data: bytes) -> bool:
        delivered = self._inner.post(connection_id, data)
        if delivered:
            with self._lock:
                self.delivered.append((connection_id, json.loads(data)))
        return delivered

    def messages(self, connection_id: str, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for c, m in self.delivered if c == connection_id and m["type"] == kind]
