"""Password hashing: argon2id with parameters a login storm on two cores can afford.

time_cost=2, memory_cost=19 MiB, parallelism=1 is the OWASP Password Storage Cheat Sheet's
minimum argon2id configuration (about 20-40 ms per hash here). argon2 hashes carry their own
parameters, so hashes made with other settings (the seed uses argon2-cffi's defaults) still
verify; `needs_rehash` tells the caller to store a new hash with the current ones.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; False for a mismatch or a hash that is not argon2."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("not-a-password-anyone-has")


def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs, for an unknown email, so response time does not
    tell which emails have accounts."""
    verify_password(_dummy_hash(), password)
