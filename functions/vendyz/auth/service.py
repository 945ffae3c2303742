"""Auth: accounts, sessions (access tokens), logout and login throttling. No FastAPI, no Lambda
types.

Logout revokes the token's id (jti) twice: a row in auth.revoked_tokens (the durable record)
and the Redis key `revoked:<jti>` that the authorizer checks on every request. The scheduled
`maintain_revocations` copies live rows back into Redis (healing a Redis that lost its data)
and forgets rows whose tokens have expired anyway.

Login throttling uses Redis fixed windows of failed attempts, per email and per client
address. Only failures count against an address: a flash sale brings many honest shoppers
through one NAT (and every test through 127.0.0.1), and failures are what credential stuffing
and password spraying produce. While Redis is unreachable, throttling is skipped (logged)
rather than blocking every login.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from aws_lambda_powertools import Logger
from psycopg_pool import ConnectionPool

from vendyz.auth import store
from vendyz.core.db import Connection, Row
from vendyz.core.errors import Conflict, ServiceUnavailable, TooManyRequests, Unauthorized
from vendyz.core.markers import revoked_key
from vendyz.core.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    verify_password,
)
from vendyz.core.tokens import IssuedToken, Role, Tokens

logger = Logger(service="auth", child=True)

BAD_CREDENTIALS = "Invalid email or password"
_RESYNC_LIMIT = 10_000


@dataclass(frozen=True)
class LoginLimits:
    email_failures: int = 10  # failed logins per email ...
    email_window_seconds: int = 300  # ... per 5 minutes
    address_failures: int = 50  # failed logins per client address ...
    address_window_seconds: int = 60  # ... per minute


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    first_name: str
    last_name: str
    role: Role


@dataclass(frozen=True)
class Session:
    user: User
    token: IssuedToken


def _user(row: Row) -> User:
    return User(
        user_id=row["user_id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role=row["role"],
    )


def _email_key(email: str) -> str:
    # Hashed: no addresses in Redis, and a fixed-length key whatever the input.
    return "login:fail:email:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _address_key(address: str) -> str:
    return f"login:fail:addr:{address[:64]}"


class AuthService:
    def __init__(
        self,
        pool: ConnectionPool[Connection],
        cache: redis.Redis,
        tokens: Tokens,
        *,
        token_ttl_seconds: int,
        limits: LoginLimits | None = None,
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._tokens = tokens
        self._ttl = token_ttl_seconds
        self._limits = limits or LoginLimits()

    # -- accounts ------------------------------------------------------------------------------
    def register(self, *, email: str, password: str, first_name: str, last_name: str) -> User:
        """A new USER; Conflict when the email already has an account."""
        password_hash = hash_password(password)
        with self._pool.connection() as conn:
            row = store.insert_user(
                conn,
                email=email,
                password_hash=password_hash,
                first_name=first_name,
                last_name=last_name,
            )
        if row is None:
            raise Conflict("email: an account with this email already exists")
        return _user(row)

    def ensure_admin(self, *, email: str, password: str) -> dict[str, str]:
        """The seed admin: created once; an existing account of that email is left as it is
        (its password may have been changed since)."""
        email = email.strip().lower()
        if not email or not password:
            raise ValueError("the seed admin needs an email and a password")
        with self._pool.connection() as conn:
            row = store.insert_user(
                conn,
                email=email,
                password_hash=hash_password(password),
                first_name="Lead",
                last_name="Admin",
                role="ADMIN",
            )
        return {"admin": email, "created": str(row is not None).lower()}

    def get_user(self, user_id: str) -> User:
        try:
            uuid.UUID(user_id)
        except ValueError:
            raise Unauthorized("Account no longer exists") from None
        with self._pool.connection() as conn:
            row = store.get_user(conn, user_id)
        if row is None:
            raise Unauthorized("Account no longer exists")
        return _user(row)

    # -- sessions ------------------------------------------------------------------------------
    def login(self, *, email: str, password: str, client_address: str) -> Session:
        """A token for the right password; Unauthorized (the same message whether or not the
        email has an account) or TooManyRequests otherwise."""
        self._refuse_if_throttled(email, client_address)
        with self._pool.connection() as conn:
            row = store.find_by_email(conn, email)
        if row is None:
            burn_verification_time(password)
            self._count_failure(email, client_address)
            raise Unauthorized(BAD_CREDENTIALS)
        if not verify_password(row["password_hash"], password):
            self._count_failure(email, client_address)
            raise Unauthorized(BAD_CREDENTIALS)
        if needs_rehash(row["password_hash"]):
            # Hashes made with other parameters (the seed's) move to the current ones.
            with self._pool.connection() as conn:
                store.set_password_hash(conn, row["user_id"], hash_password(password))
        self._forget_failures(email)
        user = _user(row)
        token = self._tokens.issue(
            user_id=user.user_id, role=user.role, email=user.email, ttl_seconds=self._ttl
        )
        return Session(user=user, token=token)

    def logout(self, *, user_id: str, jti: str, exp: int) -> None:
        """Revoke the token `jti` (expiring at `exp`) at once, for every instance.

        Written to PostgreSQL first (durable), then to Redis (what the authorizer reads). If
        Redis refuses, the client gets 503 and may retry: the PostgreSQL write is idempotent.
        """
        expires_at = datetime.fromtimestamp(exp, UTC)
        with self._pool.connection() as conn:
            store.revoke(conn, jti=jti, user_id=user_id, expires_at=expires_at)
        seconds_left = exp - int(time.time())
        if seconds_left <= 0:
            return  # expired already: the authorizer refuses it without the denylist
        try:
            self._cache.set(revoked_key(jti), b"1", ex=seconds_left)
        except redis.RedisError as exc:
            logger.warning("logout: Redis refused the revocation", extra={"error": str(exc)})
            raise ServiceUnavailable("Logout could not be completed; try again") from exc

    # -- scheduled -----------------------------------------------------------------------------
    def maintain_revocations(self) -> dict[str, int]:
        """Copy live revocations into Redis and purge expired ones; returns the counts."""
        with self._pool.connection() as conn:
            purged = store.purge_expired_revocations(conn)
            rows = store.live_revocations(conn, limit=_RESYNC_LIMIT)
        now = time.time()
        pipe = self._cache.pipeline(transaction=False)
        for row in rows:
            seconds_left = int(row["expires_at"].timestamp() - now)
            if seconds_left > 0:
                pipe.set(revoked_key(row["jti"]), b"1", ex=seconds_left)
        pipe.execute()
        return {"revocationsSynced": len(rows), "revocationsPurged": purged}

    # -- throttling ----------------------------------------------------------------------------
    def _refuse_if_throttled(self, email: str, address: str) -> None:
        limits = self._limits
        pipe = self._cache.pipeline(transaction=False)
        pipe.get(_email_key(email))
        pipe.ttl(_email_key(email))
        pipe.get(_address_key(address))
        pipe.ttl(_address_key(address))
        try:
            email_count, email_ttl, address_count, address_ttl = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("login throttling skipped: Redis failed", extra={"error": str(exc)})
            return
        if int(email_count or 0) >= limits.email_failures:
            raise TooManyRequests(
                "Too many failed logins for this account; try again later",
                retry_after=_retry_after(email_ttl, limits.email_window_seconds),
            )
        if int(address_count or 0) >= limits.address_failures:
            raise TooManyRequests(
                "Too many failed logins from this address; try again later",
                retry_after=_retry_after(address_ttl, limits.address_window_seconds),
            )

    def _count_failure(self, email: str, address: str) -> None:
        limits = self._limits
        pipe = self._cache.pipeline(transaction=False)
        pipe.incr(_email_key(email))
        pipe.expire(_email_key(email), limits.email_window_seconds, nx=True)
        pipe.incr(_address_key(address))
        pipe.expire(_address_key(address), limits.address_window_seconds, nx=True)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("login failure not counted: Redis failed", extra={"error": str(exc)})

    def _forget_failures(self, email: str) -> None:
        try:
            self._cache.delete(_email_key(email))
        except redis.RedisError as exc:
            logger.warning("login failures not reset: Redis failed", extra={"error": str(exc)})


def _retry_after(ttl: int | None, window: int) -> int:
    # TTL is -1 (no expiry) or -2 (gone) in races; the whole window is the safe answer then.
    return int(ttl) if ttl is not None and int(ttl) > 0 else window
