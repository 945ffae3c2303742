"""SQL for the auth schema, and nothing else. (Every service's check of its caller's account
and token lives in vendyz.core.accounts.)"""

from __future__ import annotations

from datetime import datetime

from vendyz.core.db import Connection, Row

_USER = "user_id::text AS user_id, email, first_name, last_name, role, active"


def insert_user(
    conn: Connection,
    *,
    email: str,
    password_hash: str,
    first_name: str,
    last_name: str,
    role: str = "USER",
) -> Row | None:
    """The new user, or None when the email is taken (one statement, no race)."""
    return conn.execute(
        "INSERT INTO auth.users (email, password_hash, first_name, last_name, role)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (email) DO NOTHING"
        f" RETURNING {_USER}",
        (email, password_hash, first_name, last_name, role),
    ).fetchone()


def find_by_email(conn: Connection, email: str) -> Row | None:
    """The user with its password hash, for login."""
    return conn.execute(
        f"SELECT {_USER}, password_hash FROM auth.users WHERE email = %s", (email,)
    ).fetchone()


def get_user(conn: Connection, user_id: str) -> Row | None:
    return conn.execute(
        f"SELECT {_USER} FROM auth.users WHERE user_id = %s::uuid", (user_id,)
    ).fetchone()


def set_password_hash(conn: Connection, user_id: str, password_hash: str) -> None:
    conn.execute(
        "UPDATE auth.users SET password_hash = %s WHERE user_id = %s::uuid",
        (password_hash, user_id),
    )


def revoke(conn: Connection, *, jti: str, user_id: str, expires_at: datetime) -> None:
    """Idempotent: revoking a revoked token changes nothing."""
    conn.execute(
        "INSERT INTO auth.revoked_tokens (jti, user_id, expires_at) VALUES (%s, %s::uuid, %s)"
        " ON CONFLICT (jti) DO NOTHING",
        (jti, user_id, expires_at),
    )


def live_revocations(conn: Connection, *, limit: int) -> list[Row]:
    """Revoked tokens that have not expired yet, soonest-expiring last."""
    return conn.execute(
        "SELECT jti, expires_at FROM auth.revoked_tokens WHERE expires_at > now()"
        " ORDER BY expires_at DESC LIMIT %s",
        (limit,),
    ).fetchall()


def purge_expired_revocations(conn: Connection) -> int:
    """Forget revocations of tokens that have expired anyway; returns how many."""
    return conn.execute("DELETE FROM auth.revoked_tokens WHERE expires_at <= now()").rowcount


# -- throttle windows ----------------------------------------------------------------------------
_HIT = (
    "INSERT INTO auth.throttle AS t (key, hits, window_ends)"
    " SELECT key, 1, now() + make_interval(secs => secs)"
    " FROM unnest(%s::text[], %s::int[]) AS w(key, secs)"
    " ON CONFLICT (key) DO UPDATE SET"
    " hits = CASE WHEN t.window_ends > now() THEN t.hits + 1 ELSE 1 END,"
    " window_ends = CASE WHEN t.window_ends > now() THEN t.window_ends"
    " ELSE excluded.window_ends END"
    " RETURNING key, hits, ceil(extract(epoch FROM window_ends - now()))::int AS seconds_left"
)


def add_hits(conn: Connection, windows: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Count one hit on each key (a window of that many seconds starts when none is open);
    returns {key: (hits in the window, seconds left in it)}. One statement, no race."""
    rows = conn.execute(_HIT, (list(windows), list(windows.values()))).fetchall()
    return {r["key"]: (r["hits"], r["seconds_left"]) for r in rows}


def add_hit(conn: Connection, key: str, window_seconds: int) -> tuple[int, int]:
    return add_hits(conn, {key: window_seconds})[key]


def current_hits(conn: Connection, keys: list[str]) -> dict[str, tuple[int, int]]:
    """{key: (hits, seconds left)} for the keys whose window is still open."""
    rows = conn.execute(
        "SELECT key, hits, ceil(extract(epoch FROM window_ends - now()))::int AS seconds_left"
        " FROM auth.throttle WHERE key = ANY(%s) AND window_ends > now()",
        (keys,),
    ).fetchall()
    return {r["key"]: (r["hits"], r["seconds_left"]) for r in rows}


def forget_hits(conn: Connection, key: str) -> None:
    conn.execute("DELETE FROM auth.throttle WHERE key = %s", (key,))


def purge_expired_hits(conn: Connection) -> int:
    return conn.execute("DELETE FROM auth.throttle WHERE window_ends <= now()").rowcount
