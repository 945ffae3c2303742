"""The transactional outbox of one service schema.

An event is written in the transaction that makes the change, published after commit, then
marked sent. A crash between commit and publish leaves the row unsent and the scheduled relay
publishes it later: every committed change yields its event at least once, and a rolled-back
change yields none.

Publishing does not hold up the handler: it queues the committed events and answers. A
thread of the instance's own then publishes what gathered in PUBLISH_BATCH_SECONDS in one
write, confirms it with NATS (vendyz.core.events) and marks it sent in one UPDATE. A write per
event woke nats-server twice an order: ~5% of the order path's CPU on the local cloud.
An instance that stops or is frozen before its batch is out only means the relay publishes
those events later (at least once; each carries its event id, also as the Nats-Msg-Id
header, for consumers to de-duplicate).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from vendyz.core.db import Connection
from vendyz.core.events import Event, EventPublisher, new_event

RELAY_BATCH = 500
# Rows younger than this are left alone: their publisher is still at work on them.
RELAY_AFTER_SECONDS = 5.0
PUBLISH_BATCH_SECONDS = 0.05  # how long committed events gather before they go out together

log = logging.getLogger(__name__)


class _BatchPublisher:
    """Publishes queued events, confirms them with NATS and marks them sent, in batches,
    from a thread of its own."""

    def __init__(
        self, pool: ConnectionPool[Connection], publisher: EventPublisher, mark_sql: str
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._mark = mark_sql
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, events: list[Event]) -> None:
        with self._lock:
            self._pending.extend(events)
            if self._thread is None:  # started on first use: importing starts no thread
                self._thread = threading.Thread(
                    target=self._run, name="outbox-publisher", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(PUBLISH_BATCH_SECONDS)  # let the batch gather
            with self._lock:
                batch, self._pending = self._pending, []
                self._wake.clear()
            try:
                if self._publisher.publish_confirmed(batch):
                    with self._pool.connection() as conn:
                        conn.execute(self._mark, ([e.event_id for e in batch],))
            except Exception:  # the rows stay unsent and the relay publishes them again
                log.warning("could not publish %d outbox events", len(batch), exc_info=True)


class Outbox:
    def __init__(
        self, schema: str, pool: ConnectionPool[Connection], publisher: EventPublisher
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        # Schema names come from code, never from a request.
        self._insert = (
            f"INSERT INTO {schema}.outbox (event_id, subject, payload) VALUES (%s, %s, %s)"
        )
        self._mark = f"UPDATE {schema}.outbox SET published_at = now() WHERE event_id = ANY(%s)"
        self._batches = _BatchPublisher(pool, publisher, self._mark)
        self._unsent = (
            f"SELECT event_id::text, subject, payload FROM {schema}.outbox"
            " WHERE published_at IS NULL AND created_at < now() - make_interval(secs => %s)"
            " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED"
        )

    def add(self, conn: Connection, subject: str, payload: dict[str, Any]) -> Event:
        """Write an event in the caller's transaction."""
        event = new_event(subject, payload)
        conn.execute(self._insert, (event.event_id, subject, Jsonb(event.payload)))
        return event

    def publish(self, events: list[Event]) -> None:
        """After commit: queue the events for the next batch (publish, confirm, mark sent).
        Whatever NATS does not take stays unsent for the relay."""
        if events:
            self._batches.add(events)

    def relay(self, *, older_than_seconds: float = RELAY_AFTER_SECONDS) -> int:
        """Publish rows left unsent for a while (crash, NATS outage); returns how many."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._unsent, (older_than_seconds, RELAY_BATCH)).fetchall()
            events = [Event(r["event_id"], r["subject"], r["payload"]) for r in rows]
            if not events or not self._publisher.publish_confirmed(events):
                return 0
            conn.execute(self._mark, ([e.event_id for e in events],))
        return len(events)
