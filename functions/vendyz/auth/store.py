"""SQL for the auth schema, and nothing else (the authorizer's revocation fallback uses it too:
the authorizer is auth's second function, on auth's own schema)."""

from __future__ import annotations

from datetime import datetime

from vendyz.core.db import Connection, Row

_USER = "user_id::text AS user_id, email, first_name, last_name, role"


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


def is_revoked(conn: Connection, jti: str) -> bool:
    row = conn.execute("SELECT 1 AS hit FROM auth.revoked_tokens WHERE jti = %s", (jti,)).fetchone()
    return row is not None


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
