"""Auth: accounts, sessions (access tokens), logout and login throttling. No FastAPI, no Lambda
types.

Logout revokes the token's id (jti) twice: a row in auth.revoked_tokens (the record) and the
Redis key `revoked:<jti>` (its cache, which the authorizer and services read first). The
scheduled `maintain_revocations` copies live rows back into Redis and then marks Redis as
holding them all; a Redis that lost its data lacks the mark, and readers ask PostgreSQL.

Throttles are fixed windows in PostgreSQL (auth.throttle), so a Redis outage or flush cannot
switch them off. Failed logins count per account+address and per address: failures from one
address never lock an account for everyone else, and the per-address limit is loose, so one
address's spraying locks its neighbours behind a NAT out for a minute at most. Only failures
count: a flash sale brings many honest shoppers through one NAT. Registrations count per
address.
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
from vendyz.core.markers import REVOCATIONS_LOADED_KEY, revoked_key
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
class Limit:
    hits: int
    window_seconds: int


@dataclass(frozen=True)
class LoginLimits:
    account_address: Limit = Limit(10, 300)  # failed logins per account from one address
    address: Limit = Limit(50, 60)  # failed logins from one address, whatever the account
    registrations: Limit = Limit(30, 3600)  # registrations from one address


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


def _account_address_key(email: str, address: str) -> str:
    # Hashed: no email addresses in the table, and a fixed-length key whatever the input.
    return "login:" + hashlib.sha256(f"{email}\x00{address}".encode()).hexdigest()[:32]


def _address_key(address: str) -> str:
    return f"login-address:{address[:64]}"


def _registration_key(address: str) -> str:
    return f"register:{address[:64]}"


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
    def register(
        self, *, email: str, password: str, first_name: str, last_name: str, client_address: str
    ) -> User:
        """A new USER; Conflict when the email already has an account, TooManyRequests when
        this address registered too often."""
        limit = self._limits.registrations
        with self._pool.connection() as conn:
            hits, retry_after = store.add_hit(
                conn, _registration_key(client_address), limit.window_seconds
            )
        if hits > limit.hits:
            raise TooManyRequests(
                "Too many registrations from this address; try again later",
                retry_after=retry_after,
            )
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
        if row is None or not row["active"]:
            raise Unauthorized("Account no longer exists")
        return _user(row)

    # -- sessions ------------------------------------------------------------------------------
    def login(self, *, email: str, password: str, client_address: str) -> Session:
        """A token for the right password; Unauthorized (the same message whether or not the
        email has an account) or TooManyRequests otherwise."""
        self._refuse_if_throttled(email, client_address)
        with self._pool.connection() as conn:
            row = store.find_by_email(conn, email)
        if row is None or not row["active"]:
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
        self._forget_failures(email, client_address)
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
            store.purge_expired_hits(conn)
            rows = store.live_revocations(conn, limit=_RESYNC_LIMIT)
        now = time.time()
        pipe = self._cache.pipeline(transaction=False)
        for row in rows:
            seconds_left = int(row["expires_at"].timestamp() - now)
            if seconds_left > 0:
                pipe.set(revoked_key(row["jti"]), b"1", ex=seconds_left)
        if len(rows) < _RESYNC_LIMIT:  # all of them: readers may trust Redis alone again
            pipe.set(REVOCATIONS_LOADED_KEY, b"1")
        pipe.execute()
        return {"revocationsSynced": len(rows), "revocationsPurged": purged}

    # -- throttling ----------------------------------------------------------------------------
    def _refuse_if_throttled(self, email: str, address: str) -> None:
        limits = self._limits
        checks = [
            (_account_address_key(email, address), limits.account_address, "this account"),
            (_address_key(address), limits.address, "this address"),
        ]
        with self._pool.connection() as conn:
            counts = store.current_hits(conn, [key for key, _, _ in checks])
        for key, limit, whose in checks:
            hits, retry_after = counts.get(key, (0, 0))
            if hits >= limit.hits:
                raise TooManyRequests(
                    f"Too many failed logins for {whose}; try again later",
                    retry_after=retry_after,
                )

    def _count_failure(self, email: str, address: str) -> None:
        limits = self._limits
        windows = {
            _account_address_key(email, address): limits.account_address.window_seconds,
            _address_key(address): limits.address.window_seconds,
        }
        with self._pool.connection() as conn:
            store.add_hits(conn, windows)

    def _forget_failures(self, email: str, address: str) -> None:
        with self._pool.connection() as conn:
            store.forget_hits(conn, _account_address_key(email, address))
