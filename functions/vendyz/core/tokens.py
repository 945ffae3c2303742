"""Access tokens: HS256 JWTs with the claims sub (user id), role, email, jti, iat and exp.

Only HS256 is ever accepted: `verify` pins the algorithm list, so `alg: none`, an asymmetric
algorithm (the RS256/HS256 confusion attack) or another HMAC size is refused before the
signature is looked at. Every way a token can be wrong raises the one `InvalidToken` error.

The signing key is the Secrets Manager secret named by `jwt_secret_name` (in AWS and in the
local cloud alike; `Settings.jwt_secret` serves tools without one), fetched on first use (not
at import; vendyz.core.secrets_manager) and kept for KEY_MAX_AGE_SECONDS, so a rotated key is
picked up within five minutes without a fetch on every request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import jwt

from vendyz.core.secrets_manager import SecretUnavailable, get_secret_string
from vendyz.core.settings import Settings

ALGORITHM = "HS256"
KEY_MAX_AGE_SECONDS = 300
MIN_KEY_LENGTH = 32  # bytes: RFC 7518 3.2 wants a key at least as long as the hash
MAX_TOKEN_LENGTH = 4096  # far above any token issued here; longer input is refused unread
CLOCK_SKEW_SECONDS = 5  # issuer and verifier run on different hosts
REQUIRED_CLAIMS = ("sub", "role", "email", "jti", "iat", "exp")
# No token lives longer than this, whatever its exp says: a leaked token's harm is bounded.
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600
MAX_EMAIL_LENGTH = 254

# The same as vendyz.core.identity.Role, declared here so the authorizer never imports FastAPI.
Role = Literal["ADMIN", "USER"]
_ROLES: frozenset[str] = frozenset(("ADMIN", "USER"))

# One PyJWT instance: refuses HMAC keys shorter than the hash instead of only warning.
_JWT = jwt.PyJWT(options={"enforce_minimum_key_length": True})


class InvalidToken(Exception):
    """The token is missing, malformed, forged, of another algorithm, incomplete or expired."""


class SigningKeyUnavailable(RuntimeError):
    """The signing key could not be loaded (Secrets Manager failed, or the key is too short)."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    exp: int  # seconds since the epoch


@dataclass(frozen=True)
class Claims:
    user_id: str
    role: Role
    email: str
    jti: str
    iat: int
    exp: int


def _checked(key: str | bytes) -> bytes:
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) < MIN_KEY_LENGTH:
        raise SigningKeyUnavailable(f"the JWT key must be at least {MIN_KEY_LENGTH} bytes")
    return raw


class _SecretKey:
    """The key in the secret `name`, fetched when first asked and again once older than
    KEY_MAX_AGE_SECONDS."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._key = b""
        self._fetched_at = 0.0

    def __call__(self) -> bytes:
        if self._key and time.monotonic() - self._fetched_at < KEY_MAX_AGE_SECONDS:
            return self._key
        try:
            value = get_secret_string(self._name)
        except SecretUnavailable as exc:
            message = f"cannot read the JWT key secret {self._name!r}: {exc}"
            raise SigningKeyUnavailable(message) from exc
        self._key = _checked(value)
        self._fetched_at = time.monotonic()
        return self._key


def key_source(settings: Settings) -> Callable[[], bytes]:
    """Where the signing key comes from; calling it never happens at import."""
    name = settings.jwt_secret_name
    if name:
        return _SecretKey(name)
    if settings.jwt_secret is None:  # Settings refuses this; a built Settings may not
        raise SigningKeyUnavailable("neither JWT_SECRET_NAME nor JWT_SECRET is set")
    fixed = _checked(settings.jwt_secret.get_secret_value())
    return lambda: fixed


class Tokens:
    """Issues and verifies access tokens with one key source. Build one per instance."""

    def __init__(self, key: str | bytes | Callable[[], bytes]) -> None:
        if callable(key):
            self._key = key
        else:
            fixed = _checked(key)
            self._key = lambda: fixed

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        return cls(key_source(settings))

    def issue(
        self,
        *,
        user_id: str,
        role: Role,
        email: str,
        ttl_seconds: int,
        now: float | None = None,
    ) -> IssuedToken:
        """A signed token for this principal, valid for `ttl_seconds` from `now` (default: the
        current time; tests pass an earlier `now` to make an expired token)."""
        if not 0 < ttl_seconds <= MAX_TOKEN_LIFETIME_SECONDS:
            raise ValueError(f"ttl_seconds must be in 1..{MAX_TOKEN_LIFETIME_SECONDS}")
        if role not in _ROLES:
            raise ValueError(f"unknown role {role!r}")
        issued_at = int(time.time() if now is None else now)
        jti = str(uuid.uuid4())
        exp = issued_at + ttl_seconds
        claims = {
            "sub": user_id,
            "role": role,
            "email": email,
            "jti": jti,
            "iat": issued_at,
            "exp": exp,
        }
        token = _JWT.encode(claims, self._key(), algorithm=ALGORITHM)
        return IssuedToken(token=token, jti=jti, exp=exp)

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; InvalidToken for anything else.

        SigningKeyUnavailable is not an InvalidToken: the caller cannot tell whether the
        token was good, so it must fail as a server error rather than deny as a client error.
        """
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token missing or too long")
        key = self._key()
        try:
            payload = _JWT.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={"require": list(REQUIRED_CLAIMS)},
                leeway=CLOCK_SKEW_SECONDS,
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from exc
        return _claims(payload)


def _is_uuid(value: Any) -> bool:
    """A UUID in its canonical lowercase form, as issued (the databases key users by uuid)."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_seconds(value: Any) -> bool:
    # bool is an int in Python; a float or a bool in iat/exp is not what we issue.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**40


def _claims(payload: dict[str, Any]) -> Claims:
    """The claims, each exactly of the type and form `issue` writes; InvalidToken otherwise,
    so a correctly signed but odd token (an old format, a key leaked to a forger) is refused
    here rather than failing deeper in a service."""
    sub, role, email = payload["sub"], payload["role"], payload["email"]
    jti, iat, exp = payload["jti"], payload["iat"], payload["exp"]
    if not (_is_uuid(sub) and _is_uuid(jti)):
        raise InvalidToken("sub and jti must be UUIDs")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidToken("unknown role")
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH or "\x00" in email:
        raise InvalidToken("email must be a short string")
    if not (_is_seconds(iat) and _is_seconds(exp)):
        raise InvalidToken("iat and exp must be integer seconds")
    if exp - iat > MAX_TOKEN_LIFETIME_SECONDS or exp <= iat:
        raise InvalidToken("token lifetime out of bounds")
    if iat > time.time() + CLOCK_SKEW_SECONDS:
        raise InvalidToken("token issued in the future")
    return Claims(
        user_id=sub,
        role=cast(Role, role),
        email=email,
        jti=jti,
        iat=iat,
        exp=exp,
    )
