"""The transactional outbox of one service schema.

An event is written in the transaction that makes the change, published after commit, then
marked sent. A crash between commit and publish leaves the row unsent and the scheduled relay
publishes it later: every committed change yields its event at least once, and a rolled-back
change yields none.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from vendyz.core.db import Connection
from vendyz.core.events import Event, EventPublisher, new_event


class Outbox:
    def __init__(self, schema: str) -> None:
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

    def mark_published(self, conn: Connection, events: list[Event]) -> None:
        conn.execute(self._mark, ([e.event_id for e in events],))

    def relay(
        self, conn: Connection, publisher: EventPublisher, *, older_than_seconds: float
    ) -> int:
        """Publish rows left unsent for a while (crash, NATS outage); returns how many."""
        with conn.transaction():
            rows = conn.execute(self._unsent, (older_than_seconds, 500)).fetchall()
            events = [Event(r["event_id"], r["subject"], r["payload"]) for r in rows]
            if not events or not publisher.publish(events):
                return 0
            self.mark_published(conn, events)
        return len(events)
