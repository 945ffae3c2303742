"""Configuration from the environment, validated once per Lambda instance.

A plain pydantic model over `os.environ`: every field names its variable, so pydantic-settings
would add nothing but ~13 ms of imports to every cold start.

There is no default signing key, locally either (the local cloud serves the key it generated
for its data dir from its Secrets Manager): without JWT_SECRET_NAME or a JWT_SECRET of at least
32 characters an instance fails at start instead of signing tokens with a guessable key.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    environment: Literal["local", "aws"] = Field(default="aws", alias="VENDYZ_ENV")
    database_url: str = Field(alias="DATABASE_URL")
    redis_url: str = Field(alias="REDIS_URL")
    nats_url: str = Field(alias="NATS_URL")
    # Server-side prepared statements: on for a direct connection, off behind RDS Proxy.
    db_prepared_statements: bool = Field(default=False, alias="DB_PREPARED_STATEMENTS")
    # The name of the Secrets Manager secret holding the key (or, for tools, the key itself).
    jwt_secret: SecretStr | None = Field(default=None, alias="JWT_SECRET")
    jwt_secret_name: str = Field(default="", alias="JWT_SECRET_NAME")
    # At most MAX_TOKEN_LIFETIME_SECONDS (24 h), which the verifier enforces as well.
    jwt_ttl_seconds: int = Field(default=3600, alias="JWT_TTL_SECONDS", gt=0, le=24 * 3600)
    # Where RPC Invoke calls go; empty means the real AWS endpoint.
    lambda_endpoint_url: str = Field(default="", alias="LAMBDA_ENDPOINT_URL")
    inventory_function_name: str = Field(
        default="InventoryFunction", alias="INVENTORY_FUNCTION_NAME"
    )
    rpc_timeout_seconds: float = Field(default=3.0, alias="RPC_TIMEOUT_SECONDS", gt=0)
    # How often each service's heartbeat runs (its schedule); a service is up when seen
    # within 2.5 of these.
    heartbeat_interval_seconds: float = Field(
        default=60.0, alias="HEARTBEAT_INTERVAL_SECONDS", gt=0
    )
    db_pool_max_size: int = Field(default=8, alias="DB_POOL_MAX_SIZE", gt=0)
    # Registrations one client address may make an hour (a bot signing up en masse).
    registrations_per_address_per_hour: int = Field(
        default=30, alias="REGISTRATIONS_PER_ADDRESS_PER_HOUR", gt=0
    )
    auth_seed_email: str = Field(default="lead@vendyz.dev", alias="AUTH_SEED_EMAIL")
    auth_seed_password: SecretStr = Field(
        default=SecretStr("flashsale"), alias="AUTH_SEED_PASSWORD"
    )
    # The seed admin comes from this Secrets Manager secret ({"email", "password"}) when set;
    # AUTH_SEED_EMAIL / AUTH_SEED_PASSWORD serve only locally.
    auth_seed_secret_name: str = Field(default="", alias="AUTH_SEED_SECRET_NAME")

    @model_validator(mode="after")
    def _require_a_signing_key(self) -> Settings:
        if self.jwt_secret_name:
            return self
        if self.jwt_secret is None:
            raise ValueError("no JWT signing key: set JWT_SECRET_NAME (or JWT_SECRET)")
        if len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters")
        return self

    @property
    def is_local(self) -> bool:
        return self.environment == "local"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
