"""The caller's account and token as PostgreSQL has them now: the record behind every write's
identity check, and behind the logout denylist when Redis cannot vouch for it.

These read auth's tables from every service: knowing who calls is the one thing each service
must ask of auth's schema, and a query here costs far less than an RPC to auth.
"""

from __future__ import annotations

from vendyz.core.db import Connection, Row


def caller(conn: Connection, user_id: str, jti: str) -> Row | None:
    """{role, active, revoked} of the account `user_id` and its token `jti`; None when the
    account is gone. Two primary-key lookups in one round trip."""
    return conn.execute(
        "SELECT u.role, u.active,"
        " EXISTS (SELECT 1 FROM auth.revoked_tokens r WHERE r.jti = %s) AS revoked"
        " FROM auth.users u WHERE u.user_id = %s::uuid",
        (jti, user_id),
    ).fetchone()


def is_revoked(conn: Connection, jti: str) -> bool:
    row = conn.execute("SELECT 1 AS hit FROM auth.revoked_tokens WHERE jti = %s", (jti,)).fetchone()
    return row is not None
