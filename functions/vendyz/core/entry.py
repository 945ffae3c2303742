"""The thin Lambda entry each service's handler.py builds: one function, three kinds of event.

- HTTP API (payload 2.0) events go to the service's FastAPI app through Mangum;
- RPC events `{"rpc": "<Method>", "message": {...proto JSON...}}` go to the named method;
- schedule events `{"task": "<name>"}` (EventBridge input) go to the named task;
- CloudFormation custom resource events go to `custom_resource`, which always answers them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import FastAPI
from mangum import Mangum

from vendyz.core.custom_resource import (
    ResourceAction,
    answer_custom_resource,
    is_custom_resource_event,
)
from vendyz.core.observability import Observability

Event = dict[str, Any]
RpcMethod = Callable[[dict[str, Any]], dict[str, Any]]
ScheduledTask = Callable[[], dict[str, Any]]
LambdaHandler = Callable[[Event, LambdaContext], Any]


class UnknownEvent(ValueError):
    """The function was invoked with an event it does not serve."""


def lambda_entry(
    obs: Observability,
    *,
    app: FastAPI | None = None,
    rpc: Mapping[str, RpcMethod] | None = None,
    tasks: Mapping[str, ScheduledTask] | None = None,
    custom_resource: ResourceAction | None = None,
) -> LambdaHandler:
    # Lifespan off: connections are opened at import (once per instance), not per request.
    http = Mangum(app, lifespan="off") if app is not None else None
    rpc_methods = dict(rpc or {})
    scheduled = dict(tasks or {})

    def handler(event: Event, context: LambdaContext) -> Any:
        if http is not None and "requestContext" in event:
            return http(event, context)  # type: ignore[arg-type]  # same object, other stub
        if "rpc" in event:
            method = rpc_methods.get(event["rpc"])
            if method is None:
                raise UnknownEvent(f"unknown RPC method {event['rpc']!r}")
            return method(event.get("message") or {})
        if "task" in event:
            task = scheduled.get(event["task"])
            if task is None:
                raise UnknownEvent(f"unknown scheduled task {event['task']!r}")
            return task()
        if custom_resource is not None and is_custom_resource_event(event):
            return answer_custom_resource(event, context, custom_resource)
        raise UnknownEvent("event is neither HTTP, RPC nor a scheduled task")

    return obs.instrument(handler)
