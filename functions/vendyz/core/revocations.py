"""The durable list of logged-out tokens, auth.revoked_tokens, as the authorizer reads it while
Redis fails. Auth writes it (vendyz.auth.store); this one read lives in core so that the
authorizer, a function of its own, imports no service's modules."""

from __future__ import annotations

from vendyz.core.db import Connection


def is_revoked(conn: Connection, jti: str) -> bool:
    row = conn.execute("SELECT 1 AS hit FROM auth.revoked_tokens WHERE jti = %s", (jti,)).fetchone()
    return row is not None
