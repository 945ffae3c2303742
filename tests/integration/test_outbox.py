"""The outbox: committed changes always reach NATS (at least once), rolled-back ones never."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from psycopg_pool import ConnectionPool

from localcloud.cloud import LocalCloud
from vendyz.core.db import Connection, UnitOfWork, create_pool
from vendyz.core.events import EventPublisher, Receipt, new_event
from vendyz.core.outbox import Outbox


@pytest.fixture
def pool(local_cloud: LocalCloud) -> Iterator[ConnectionPool[Connection]]:
    assert local_cloud.urls is not None
    pool = create_pool(local_cloud.urls.database_url, max_size=2, name="outbox-test")
    yield pool
    pool.close()


def unsent(pool: ConnectionPool[Connection], event_id: str) -> bool:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT published_at IS NULL AS unsent FROM inventory.outbox WHERE event_id = %s",
            (event_id,),
        ).fetchone()
    assert row is not None
    return bool(row["unsent"])


async def watch_event_ids(nats_url: str, received: list[str]) -> Any:
    """A subscriber to inventory.updated that appends each event's id to `received`; it sees
    everything published after this returns."""
    client = await nats.connect(nats_url)

    async def record(msg: Any) -> None:
        received.append(json.loads(msg.data)["eventId"])

    await client.subscribe("inventory.updated", cb=record)
    await client.flush()
    return client


def test_an_event_nats_did_not_take_is_relayed_later(
    local_cloud: LocalCloud, pool: ConnectionPool[Connection]
) -> None:
    assert local_cloud.urls is not None
    # GIVEN a committed change whose publish failed (NATS unreachable from this instance)
    unreachable = Outbox(
        "inventory", pool, EventPublisher("nats://127.0.0.1:9", timeout_seconds=0.5)
    )
    with UnitOfWork(pool) as uow:
        event = unreachable.add(uow.conn, "inventory.updated", {"productId": "relay-me"})
        uow.commit()
    unreachable.publish([event])
    assert unsent(pool, event.event_id)
    # WHEN the relay runs with NATS back
    received: list[dict[str, Any]] = []

    async def relay_and_watch() -> None:
        client = await nats.connect(local_cloud.urls.nats_url)  # type: ignore[union-attr]

        async def record(msg: Any) -> None:
            received.append(json.loads(msg.data))

        await client.subscribe("inventory.updated", cb=record)
        await client.flush()
        healthy = Outbox("inventory", pool, EventPublisher(local_cloud.urls.nats_url))  # type: ignore[union-attr]
        relayed = await asyncio.to_thread(healthy.relay, older_than_seconds=0)
        again = await asyncio.to_thread(healthy.relay, older_than_seconds=0)
        await asyncio.sleep(0.3)
        await client.drain()
        assert relayed >= 1
        assert again == 0

    asyncio.run(relay_and_watch())
    # THEN the event arrived, with its id, and is marked sent
    assert [e for e in received if e["eventId"] == event.event_id]
    assert not unsent(pool, event.event_id)


def test_a_rolled_back_change_leaves_no_event(pool: ConnectionPool[Connection]) -> None:
    outbox = Outbox("inventory", pool, EventPublisher("nats://127.0.0.1:9", timeout_seconds=0.5))
    written: list[str] = []

    def failing_change() -> None:
        with UnitOfWork(pool) as uow:
            written.append(
                outbox.add(uow.conn, "inventory.updated", {"productId": "never"}).event_id
            )
            raise RuntimeError("the change failed")

    # GIVEN a change that fails after writing its event
    with pytest.raises(RuntimeError):
        failing_change()
    # THEN nothing of it is in the outbox, and a unit of work without commit keeps nothing too
    with UnitOfWork(pool) as uow:
        forgotten = outbox.add(uow.conn, "inventory.updated", {"productId": "never"})
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT count(*) AS n FROM inventory.outbox WHERE event_id = ANY(%s)",
            ([*written, forgotten.event_id],),
        ).fetchone()
    assert rows == {"n": 0}


def test_a_published_event_is_marked_sent_soon_after(
    local_cloud: LocalCloud, pool: ConnectionPool[Connection]
) -> None:
    assert local_cloud.urls is not None
    outbox = Outbox("inventory", pool, EventPublisher(local_cloud.urls.nats_url))
    # GIVEN a committed change
    with UnitOfWork(pool) as uow:
        event = outbox.add(uow.conn, "inventory.updated", {"productId": "mark-me"})
        uow.commit()
    # WHEN it is published
    outbox.publish([event])
    # THEN its row is marked sent within moments (in a batch, off the request path), so the
    # relay will not publish it again
    deadline = time.monotonic() + 5
    while unsent(pool, event.event_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not unsent(pool, event.event_id)


def test_publishing_does_not_wait_and_confirm_reports_what_nats_holds(
    local_cloud: LocalCloud,
) -> None:
    assert local_cloud.urls is not None
    nats_url = local_cloud.urls.nats_url
    publisher = EventPublisher(nats_url)
    received: list[str] = []

    async def publish_and_watch() -> tuple[list[Receipt], list[Receipt]]:
        client = await watch_event_ids(nats_url, received)
        # GIVEN two events written to NATS without waiting for it
        first = publisher.publish([new_event("inventory.updated", {"productId": "a"})])
        second = publisher.publish([new_event("inventory.updated", {"productId": "b"})])
        assert first is not None
        assert second is not None
        # WHEN their receipts are confirmed
        confirmed = await asyncio.to_thread(publisher.confirm, [first, second])
        await asyncio.sleep(0.3)
        await client.drain()
        return [first, second], confirmed

    receipts, confirmed = asyncio.run(publish_and_watch())
    publisher.close()
    # THEN both are confirmed and a subscriber got both
    assert confirmed == receipts
    assert sorted(received) == sorted(i for r in receipts for i in r.event_ids)


def test_events_on_a_broken_connection_are_not_confirmed(local_cloud: LocalCloud) -> None:
    assert local_cloud.urls is not None
    publisher = EventPublisher(local_cloud.urls.nats_url)
    # GIVEN an event written on a connection that then breaks before the server's answer
    lost = publisher.publish([new_event("inventory.updated", {"productId": "lost"})])
    assert lost is not None
    lost.connection.close()
    # WHEN it is confirmed  THEN it is not (its outbox row stays for the relay)
    assert publisher.confirm([lost]) == []
    # AND the next publish opens a fresh connection and is confirmed
    fresh = publisher.publish([new_event("inventory.updated", {"productId": "fresh"})])
    assert fresh is not None
    assert fresh.connection is not lost.connection
    assert publisher.confirm([fresh]) == [fresh]
    publisher.close()


def test_publishes_from_many_instances_at_once_all_reach_nats(local_cloud: LocalCloud) -> None:
    assert local_cloud.urls is not None
    nats_url = local_cloud.urls.nats_url
    publisher = EventPublisher(nats_url)
    received: list[str] = []

    def instance(name: str, receipts: list[Receipt | None]) -> None:
        for n in range(25):
            event = new_event("inventory.updated", {"productId": f"{name}-{n}"})
            receipts.append(publisher.publish([event]))

    async def publish_and_watch() -> list[Receipt | None]:
        client = await watch_event_ids(nats_url, received)
        # GIVEN 8 instances (threads, as the local cloud runs them) sharing one publisher
        receipts: list[Receipt | None] = []
        threads = [threading.Thread(target=instance, args=(f"i{i}", receipts)) for i in range(8)]
        # WHEN they publish 25 events each, all at once
        for thread in threads:
            thread.start()
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        await asyncio.sleep(0.3)
        await client.drain()
        return receipts

    receipts = asyncio.run(publish_and_watch())
    published = [r for r in receipts if r is not None]
    # THEN every publish was taken and confirmed, and a subscriber got every event once
    assert len(published) == 200
    assert publisher.confirm(published) == published
    assert sorted(received) == sorted(i for r in published for i in r.event_ids)
    publisher.close()


def test_a_burst_of_committed_changes_reaches_nats_and_is_marked_sent(
    local_cloud: LocalCloud, pool: ConnectionPool[Connection]
) -> None:
    assert local_cloud.urls is not None
    nats_url = local_cloud.urls.nats_url
    outbox = Outbox("inventory", pool, EventPublisher(nats_url))
    received: list[str] = []
    written: list[str] = []

    def instance(name: str) -> None:
        for n in range(10):
            with UnitOfWork(pool) as uow:
                event = outbox.add(uow.conn, "inventory.updated", {"productId": f"{name}-{n}"})
                uow.commit()
            written.append(event.event_id)
            outbox.publish([event])

    async def publish_and_watch() -> None:
        client = await watch_event_ids(nats_url, received)
        # GIVEN 4 instances (threads) sharing one outbox
        threads = [threading.Thread(target=instance, args=(f"b{i}",)) for i in range(4)]
        # WHEN each commits and publishes 10 changes as fast as it can
        for thread in threads:
            thread.start()
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        deadline = time.monotonic() + 5
        while not set(written) <= set(received) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await client.drain()

    asyncio.run(publish_and_watch())
    # THEN a subscriber got every event, and each row is marked sent within moments
    assert len(written) == 40
    assert set(written) <= set(received)
    deadline = time.monotonic() + 5
    while any(unsent(pool, e) for e in written) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [e for e in written if unsent(pool, e)]


def test_a_lone_event_is_written_before_publish_returns(
    local_cloud: LocalCloud, pool: ConnectionPool[Connection]
) -> None:
    assert local_cloud.urls is not None
    nats_url = local_cloud.urls.nats_url
    publisher = EventPublisher(nats_url)
    outbox = Outbox("inventory", pool, publisher)
    received: list[str] = []

    async def publish_and_watch() -> str:
        client = await watch_event_ids(nats_url, received)
        # GIVEN an outbox that has published nothing yet (a quiet spell, as in a deployed
        # instance that Lambda freezes once it answers)
        with UnitOfWork(pool) as uow:
            event = outbox.add(uow.conn, "inventory.updated", {"productId": "lone"})
            uow.commit()
        # WHEN it publishes one event
        outbox.publish([event])
        # THEN the event is on the wire already: a round trip on the same connection, right
        # after, finds NATS holding it (it did not wait for the next batch)
        assert await asyncio.to_thread(publisher.publish_confirmed, [])
        await client.flush()
        await asyncio.sleep(0.01)
        await client.drain()
        return event.event_id

    event_id = asyncio.run(publish_and_watch())
    assert event_id in received
