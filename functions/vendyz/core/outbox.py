"""The transactional outbox of one service schema.

An event is written in the transaction that makes the change, published after commit, then
marked sent. A crash between commit and publish leaves the row unsent and the scheduled relay
publishes it later: every committed change yields its event at least once, and a rolled-back
change yields none.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from vendyz.core.db import Connection
from vendyz.core.events import Event, EventPublisher, new_event

RELAY_BATCH = 500


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
        """After commit: publish, then mark sent. Whatever fails here stays for the relay."""
        if events and self._publisher.publish(events):
            with self._pool.connection() as conn:
                conn.execute(self._mark, ([e.event_id for e in events],))

    def relay(self, *, older_than_seconds: float) -> int:
        """Publish rows left unsent for a while (crash, NATS outage); returns how many."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._unsent, (older_than_seconds, RELAY_BATCH)).fetchall()
            events = [Event(r["event_id"], r["subject"], r["payload"]) for r in rows]
            if not events or not self._publisher.publish(events):
                return 0
            conn.execute(self._mark, ([e.event_id for e in events],))
        return len(events)
