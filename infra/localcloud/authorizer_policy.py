"""What a REST-style Lambda authorizer (the WebSocket API's) answers: an IAM policy, read as
API Gateway reads it for one request."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any


def allows_invoke(verdict: Any, arn: str) -> bool:
    """An IAM policy allowing execute-api:Invoke on `arn`, with no statement denying it."""
    if not isinstance(verdict, dict):
        return False
    statements = (verdict.get("policyDocument") or {}).get("Statement") or []
    effects = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatchcase("execute-api:Invoke", a) for a in actions) and any(
            fnmatchcase(arn, r) for r in resources
        ):
            effects.add(statement.get("Effect"))
    return "Allow" in effects and "Deny" not in effects
