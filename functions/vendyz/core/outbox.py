"""The transactional outbox of one service schema.

An event is written in the transaction that makes the change, published after commit, then
marked sent. A crash between commit and publish leaves the row unsent and the scheduled relay
publishes it later: every committed change yields its event at least once, and a rolled-back
change yields none.

Publishing does not wait for NATS: the handler writes the events and answers. A background
thread then confirms them with NATS (vendyz.core.events) and marks the confirmed ones sent, in
batches: one UPDATE for many orders instead of a commit per event. An instance that dies
before its batch is written only means the relay publishes those events again (at least once;
each carries its event id, also as the Nats-Msg-Id header, for consumers to de-duplicate).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from vendyz.core.db import Connection
from vendyz.core.events import Event, EventPublisher, Receipt, new_event

RELAY_BATCH = 500
# Rows younger than this are left alone: their publisher is still at work on them.
RELAY_AFTER_SECONDS = 5.0
MARK_BATCH_SECONDS = 0.05  # how long published events gather before their confirm + UPDATE

log = logging.getLogger(__name__)


class _SentMarker:
    """Confirms published events with NATS and marks them sent, in batches, from a thread of
    its own."""

    def __init__(
        self, pool: ConnectionPool[Connection], publisher: EventPublisher, mark_sql: str
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._mark = mark_sql
        self._pending: list[Receipt] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, receipt: Receipt) -> None:
        with self._lock:
            self._pending.append(receipt)
            if self._thread is None:  # started on first use: importing starts no thread
                self._thread = threading.Thread(target=self._run, name="outbox-marker", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(MARK_BATCH_SECONDS)  # let the batch gather
            with self._lock:
                batch, self._pending = self._pending, []
                self._wake.clear()
            try:
                confirmed = [i for r in self._publisher.confirm(batch) for i in r.event_ids]
                if confirmed:
                    with self._pool.connection() as conn:
                        conn.execute(self._mark, (confirmed,))
            except Exception:  # the rows stay unsent and the relay publishes them again
                log.warning("could not mark %d outbox events sent", len(batch), exc_info=True)


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
        self._marker = _SentMarker(pool, publisher, self._mark)
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
        """After commit: publish, then (in the background) confirm and mark sent. Whatever
        NATS did not take stays unsent for the relay."""
        if not events:
            return
        receipt = self._publisher.publish(events)
        if receipt is not None:
            self._marker.add(receipt)

    def relay(self, *, older_than_seconds: float = RELAY_AFTER_SECONDS) -> int:
        """Publish rows left unsent for a while (crash, NATS outage); returns how many."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._unsent, (older_than_seconds, RELAY_BATCH)).fetchall()
            events = [Event(r["event_id"], r["subject"], r["payload"]) for r in rows]
            if not events or not self._publisher.publish_confirmed(events):
                return 0
            conn.execute(self._mark, ([e.event_id for e in events],))
        return len(events)
