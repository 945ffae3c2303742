"""The API Gateway Lambda REQUEST authorizer of both APIs: the HTTP API's (payload 2.0,
simple responses) and the WebSocket API's on `$connect` (an IAM policy; without a token an
anonymous watcher is allowed, see service.py).

Two files only: this entry and service.py. There is no api.py because the event is not an
HTTP request to route (API Gateway asks "may this request pass?") and no store.py because its
one query, the revocation fallback, is the auth schema's own (vendyz.auth.store). It does not
use core.entry.lambda_entry, whose events are HTTP, RPC or schedules, but keeps the same
Powertools Logger, Metrics and Tracer decorators.

Allowed: `{"isAuthorized": true, "context": {userId, role, email, jti, exp}}` (HTTP) or an
Allow policy with the same context (WebSocket); services read the context through
vendyz.core.identity, logout reads jti and exp from it. Not allowed (a malformed, forged,
expired or revoked token; on HTTP also none): the function fails with exactly
`Exception("Unauthorized")`, which API Gateway answers with 401 (returning
`isAuthorized: false` or a Deny policy would be a 403). Anything else that goes wrong fails
with another error, which API Gateway answers with 500: the authorizer never allows what it
could not check.

Everything below runs once per instance; the PostgreSQL pool opens (and psycopg is imported)
on the first Redis failure.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz.authorizer.service import Authorizer, Denied
from vendyz.core.cache import create_redis
from vendyz.core.lazy import lazy_pool
from vendyz.core.observability import observability
from vendyz.core.settings import get_settings
from vendyz.core.tokens import Tokens

SERVICE = "authorizer"

settings = get_settings()
obs = observability(SERVICE)


authorizer = Authorizer(
    Tokens.from_settings(settings), create_redis(settings.redis_url), lazy_pool(settings, SERVICE)
)


def authorize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        if (event.get("requestContext") or {}).get("eventType") == "CONNECT":
            return authorizer.authorize_connection(event)
        return authorizer.authorize(event)
    except Denied as denied:
        obs.logger.info("request denied", extra={"reason": str(denied)})
        raise Exception("Unauthorized") from None  # exactly this: API Gateway's 401


handler = obs.instrument(authorize)
