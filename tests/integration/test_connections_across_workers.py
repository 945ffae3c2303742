"""`vendyz up` runs several worker processes on one port: a WebSocket connection lives in the
worker that accepted it, while a @connections call reaches whichever worker the kernel hands
it to. Every call must still reach its connection (relayed through Valkey)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import websockets
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection

from localcloud.cloud import CloudOptions, LocalCloud
from tests.integration.test_realtime import management_client, open_watcher, wait_until_gone

MAX_CONNECTIONS = 40
WORKER_TAG_CHARS = 4  # the connection id's first 3 bytes name its worker


@pytest.fixture(scope="module")
def two_worker_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    data_dir: Path = tmp_path_factory.mktemp("vendyz-workers")
    cloud = LocalCloud(
        CloudOptions(port=0, data_dir=data_dir, static_dir=None, schedule_seconds=0, workers=2),
        log=lambda _: None,
    )
    cloud.start()
    yield cloud
    cloud.stop()


def test_every_call_reaches_its_connection_whichever_worker_holds_it(
    two_worker_cloud: LocalCloud,
) -> None:
    assert two_worker_cloud.urls is not None
    cache = redis.Redis.from_url(two_worker_cloud.urls.redis_url, decode_responses=True)
    # One client, so its calls come through a kept-alive connection to one worker mostly.
    connections = management_client(two_worker_cloud)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int | None, str]:
        # GIVEN watchers connected to both workers
        watchers: dict[str, ClientConnection] = {}
        while len({i[:WORKER_TAG_CHARS] for i in watchers}) < 2:
            assert len(watchers) < MAX_CONNECTIONS, "every connection went to one worker"
            ws, connection_id = await open_watcher(two_worker_cloud, cache)
            watchers[connection_id] = ws
        # WHEN the bridge posts to each, asks about each, and deletes one
        for connection_id in watchers:
            await asyncio.to_thread(
                connections.post_to_connection,
                ConnectionId=connection_id,
                Data=json.dumps({"to": connection_id}),
            )
        received = {
            i: json.loads(await asyncio.wait_for(ws.recv(), 10)) for i, ws in watchers.items()
        }
        described = {
            i: await asyncio.to_thread(connections.get_connection, ConnectionId=i) for i in watchers
        }
        deleted = next(iter(watchers))
        await asyncio.to_thread(connections.delete_connection, ConnectionId=deleted)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(watchers[deleted].recv(), 10)
        for ws in watchers.values():
            await ws.close()
        return received, described, watchers[deleted].close_code, deleted

    received, described, close_code, deleted = asyncio.run(asyncio.wait_for(scenario(), 60))

    # THEN every watcher got exactly its own message, and every one was described
    assert all(message == {"to": i} for i, message in received.items())
    assert all(info["Identity"]["SourceIp"] == "127.0.0.1" for info in described.values())
    # AND the deleted one was closed, unregistered, and is gone for every worker
    assert close_code == 1000
    wait_until_gone(cache, deleted)
    for _ in range(4):
        with pytest.raises(ClientError) as gone:
            connections.post_to_connection(ConnectionId=deleted, Data=b"late")
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    cache.close()
