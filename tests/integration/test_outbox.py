"""The outbox and JetStream: a committed change's event is in the stream, once, and marked sent
before `publish` returns; what JetStream did not ack is relayed later; nothing uncommitted
is ever published.

The outbox here is a table of its own (schema events_test), so the local cloud's scheduled
relay never touches these rows.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator

import nats
import pytest
from psycopg_pool import ConnectionPool

from localcloud.cloud import LocalCloud
from localcloud.services import DataServices
from tests.stream import fresh_subject, stored_ids
from vendyz.core.db import Connection, UnitOfWork, create_pool
from vendyz.core.events import Event, EventPublisher, new_event
from vendyz.core.jetstream import STREAM, ensure_stream
from vendyz.core.outbox import Outbox

SCHEMA = "events_test"
Publishers = Callable[[str], EventPublisher]


@pytest.fixture
def pool(local_cloud: LocalCloud) -> Iterator[ConnectionPool[Connection]]:
    assert local_cloud.urls is not None
    pool = create_pool(local_cloud.urls.database_url, max_size=4, name="outbox-test")
    with pool.connection() as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.outbox (LIKE inventory.outbox INCLUDING ALL)"
        )
    yield pool
    pool.close()


@pytest.fixture
def nats_url(local_cloud: LocalCloud) -> str:
    assert local_cloud.urls is not None
    return local_cloud.urls.nats_url


@pytest.fixture
def publishers() -> Iterator[Publishers]:
    """Publishers to a NATS URL, closed after the test."""
    made: list[EventPublisher] = []

    def publisher(url: str) -> EventPublisher:
        made.append(EventPublisher(url))
        return made[-1]

    yield publisher
    for publisher in made:
        publisher.close()


def commit_events(
    pool: ConnectionPool[Connection], outbox: Outbox, subject: str, n: int
) -> list[Event]:
    events = []
    for i in range(n):
        with UnitOfWork(pool) as uow:
            events.append(outbox.add(uow.conn, subject, {"productId": f"p-{i}"}))
            uow.commit()
    return events


def unsent(pool: ConnectionPool[Connection], events: list[Event]) -> set[str]:
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT event_id::text FROM {SCHEMA}.outbox"
            " WHERE published_at IS NULL AND event_id = ANY(%s)",
            ([e.event_id for e in events],),
        ).fetchall()
    return {r["event_id"] for r in rows}


def ids(events: list[Event]) -> set[str]:
    return {e.event_id for e in events}


def assert_each_sent_once(
    pool: ConnectionPool[Connection], nats_url: str, subject: str, events: list[Event]
) -> None:
    """Every event's row is marked sent, and the stream holds each event exactly once."""
    assert unsent(pool, events) == set()
    assert stored_ids(nats_url, subject) == dict.fromkeys(ids(events), 1)


def test_publish_returns_with_the_event_in_the_stream_and_its_row_marked_sent(
    pool: ConnectionPool[Connection], nats_url: str, publishers: Publishers
) -> None:
    # GIVEN two committed changes on a subject of the stream
    publisher = publishers(nats_url)
    outbox = Outbox(SCHEMA, pool, publisher)
    subject = fresh_subject()
    events = commit_events(pool, outbox, subject, 2)
    # WHEN they are published (as a request does before it answers)
    sent = outbox.publish(events)
    # THEN, with nothing left running, both are acked, in the stream once and marked sent
    assert set(sent) == ids(events)
    assert_each_sent_once(pool, nats_url, subject, events)


def test_a_consumer_that_was_down_catches_up(nats_url: str, publishers: Publishers) -> None:
    publisher = publishers(nats_url)
    subject = fresh_subject()
    durable = f"catch-up-{subject.rsplit('-', 1)[1]}"

    async def consume(count: int) -> list[str]:
        client = await nats.connect(nats_url)
        js = client.jetstream()
        subscription = await js.pull_subscribe(subject, durable=durable, stream=STREAM)
        messages = await subscription.fetch(count, timeout=5)
        for message in messages:
            await message.ack()
        await client.close()  # the consumer goes down; its durable state stays on the server
        return [json.loads(m.data)["eventId"] for m in messages]

    # GIVEN an event published while no consumer exists at all
    first = new_event(subject, {"n": 1})
    assert publisher.publish([first]) == [first.event_id]
    # WHEN a durable consumer starts later, reads it, then goes down, and more is published
    assert asyncio.run(consume(1)) == [first.event_id]
    later = [new_event(subject, {"n": 2}), new_event(subject, {"n": 3})]
    assert publisher.publish(later) == [e.event_id for e in later]
    # THEN, back up, the consumer gets exactly what it missed, in order
    assert asyncio.run(consume(2)) == [e.event_id for e in later]


def test_a_republish_inside_the_duplicate_window_is_stored_once(
    pool: ConnectionPool[Connection], nats_url: str, publishers: Publishers
) -> None:
    publisher = publishers(nats_url)
    outbox = Outbox(SCHEMA, pool, publisher)
    subject = fresh_subject()
    # GIVEN an event published and marked sent, and then its mark lost (a crash after the ack)
    (event,) = commit_events(pool, outbox, subject, 1)
    assert outbox.publish([event]) == [event.event_id]
    with pool.connection() as conn:
        conn.execute(
            f"UPDATE {SCHEMA}.outbox SET published_at = NULL WHERE event_id = %s",
            (event.event_id,),
        )
    # WHEN the relay publishes it again, and a publisher sends it once more
    assert outbox.relay(older_than_seconds=0) >= 1
    assert publisher.publish([event]) == [event.event_id]  # acked: JetStream holds it
    # THEN the stream holds it once, and the row is marked sent
    assert_each_sent_once(pool, nats_url, subject, [event])


def test_a_rolled_back_change_leaves_no_event(pool: ConnectionPool[Connection]) -> None:
    outbox = Outbox(SCHEMA, pool, EventPublisher("nats://127.0.0.1:9", timeout_seconds=0.5))
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
            f"SELECT count(*) AS n FROM {SCHEMA}.outbox WHERE event_id = ANY(%s)",
            ([*written, forgotten.event_id],),
        ).fetchone()
    assert rows == {"n": 0}


def test_without_the_stream_rows_stay_unsent_and_the_relay_sends_them_once_it_exists(
    pool: ConnectionPool[Connection],
    own_nats: tuple[DataServices, str],
    publishers: Publishers,
) -> None:
    _, url = own_nats
    publisher = publishers(url)
    outbox = Outbox(SCHEMA, pool, publisher)
    subject = fresh_subject()
    # GIVEN a NATS server that is up but has no stream yet
    events = commit_events(pool, outbox, subject, 3)
    # WHEN the committed events are published
    sent = outbox.publish(events)
    # THEN nothing acked them, so nothing is marked sent
    assert sent == []
    assert unsent(pool, events) == ids(events)
    # AND once the stream exists, the relay sends each of them, once
    ensure_stream(url)
    assert outbox.relay(older_than_seconds=0) >= 3
    assert_each_sent_once(pool, url, subject, events)


def test_killing_nats_loses_no_committed_event(
    pool: ConnectionPool[Connection],
    own_nats: tuple[DataServices, str],
    publishers: Publishers,
) -> None:
    services, url = own_nats
    ensure_stream(url)
    publisher = publishers(url)
    outbox = Outbox(SCHEMA, pool, publisher)
    subject = fresh_subject()
    # GIVEN events published while NATS is up
    before = commit_events(pool, outbox, subject, 5)
    assert set(outbox.publish(before)) == ids(before)
    # WHEN NATS is killed, more changes commit meanwhile, and it comes back
    services.kill("nats")
    during = commit_events(pool, outbox, subject, 5)
    assert outbox.publish(during) == []
    services.revive("nats")
    after = commit_events(pool, outbox, subject, 5)
    assert set(outbox.publish(after)) == ids(after)  # the publisher reconnects by itself
    # AND the relay runs
    relayed = 0
    while unsent(pool, before + during + after) and relayed < 10:
        outbox.relay(older_than_seconds=0)
        relayed += 1
    # THEN every committed event is marked sent and in the stream exactly once
    assert_each_sent_once(pool, url, subject, before + during + after)


def test_many_threads_sharing_a_publisher_each_get_their_acks(
    nats_url: str, publishers: Publishers
) -> None:
    publisher = publishers(nats_url)
    subject = fresh_subject()
    acked: list[str] = []
    published: list[str] = []

    def instance(name: str) -> None:
        for n in range(25):
            event = new_event(subject, {"productId": f"{name}-{n}"})
            published.append(event.event_id)
            acked.extend(publisher.publish([event]))

    # GIVEN 8 instances (threads, as the local cloud runs them) sharing one publisher
    threads = [threading.Thread(target=instance, args=(f"i{i}",)) for i in range(8)]
    # WHEN they publish 25 events each, all at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN each publish got its own event's ack, and the stream holds every event once
    assert sorted(acked) == sorted(published)
    assert stored_ids(nats_url, subject) == dict.fromkeys(published, 1)


def test_a_subject_outside_the_stream_is_not_counted_as_published(
    nats_url: str, publishers: Publishers
) -> None:
    publisher = publishers(nats_url)
    # GIVEN an event on a subject no stream captures
    stray = new_event("nowhere.test", {"productId": "x"})
    # WHEN it is published  THEN no PubAck comes (NATS answers "no responders"), so it is unsent
    assert publisher.publish([stray]) == []
