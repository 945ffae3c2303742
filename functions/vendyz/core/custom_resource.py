"""Answering a CloudFormation custom resource: whatever happens, CloudFormation hears back.

CloudFormation waits for a PUT to the event's pre-signed ResponseURL; a function that fails
without one leaves the stack waiting (the template's ServiceTimeout bounds that wait). So the
work runs inside a catch-all, and the answer is SUCCESS with the work's data or FAILED with
the reason, sent before the handler returns. Delete does nothing: what these resources make
(the schema, accounts, products) belongs to the database, which outlives the stack.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

log = logging.getLogger(__name__)

# CloudFormation refuses a response body over 4 KB; the reason is most of it.
MAX_REASON_CHARS = 2000
RESPONSE_TIMEOUT_SECONDS = 10.0

Event = dict[str, Any]
# The resource's work for a Create or Update event; returns the resource's Data.
ResourceAction = Callable[[Event, LambdaContext], dict[str, str]]


def is_custom_resource_event(event: Event) -> bool:
    return "RequestType" in event and "ResponseURL" in event


def answer_custom_resource(event: Event, context: LambdaContext, action: ResourceAction) -> Event:
    """Run `action` and send CloudFormation its outcome; returns the response sent."""
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] != "Delete":
            data = action(event, context)
    except Exception as exc:
        log.exception("custom resource %s failed", event.get("LogicalResourceId"))
        status = "FAILED"
        reason = f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]
    response = {
        "Status": status,
        "Reason": reason or f"See log stream {getattr(context, 'log_stream_name', '?')}",
        # Stable across updates: a new id would make CloudFormation replace the resource.
        "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    body = json.dumps(response).encode()
    # The URL is pre-signed for an empty Content-Type.
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's own https URL
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS):  # noqa: S310
        pass
    return response
