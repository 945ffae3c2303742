"""The WebSocket API of template.yaml, as the local cloud serves it: its stage, how a message
selects its route, and per route the function behind it, the authorizer and whether the
function's reply goes back to the client (a two-way route, one with a route response)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_FUNCTION_IN_URI = re.compile(r":function:([^/:]+)")
_BODY_SELECTION = re.compile(r"\$request\.body\.([A-Za-z0-9_.]+)")


@dataclass(frozen=True)
class WebSocketRoute:
    route_key: str
    function: str | None  # the AWS_PROXY integration's function; None: no integration
    authorizer_function: str | None = None  # only $connect may have one
    two_way: bool = False


@dataclass(frozen=True)
class WebSocketApiSpec:
    stage: str
    # The JSON path in the message body that names the route ($request.body.action: action).
    selection_path: tuple[str, ...]
    routes: dict[str, WebSocketRoute] = field(default_factory=dict)


def _function_of(uri: Any, what: str) -> str:
    match = _FUNCTION_IN_URI.search(str(uri))
    if not match:
        raise ValueError(f"{what}: {uri!r} is not a Lambda function URI")
    return match.group(1)


def read_websocket_api(
    resources: Mapping[str, Any], resolve: Callable[[Any], Any]
) -> WebSocketApiSpec | None:
    """The template's one WebSocket API, or None when it has none."""

    def of_type(type_: str) -> dict[str, dict[str, Any]]:
        return {
            name: resolve(r.get("Properties", {}))
            for name, r in resources.items()
            if r.get("Type") == type_
        }

    apis = {
        name: props
        for name, props in of_type("AWS::ApiGatewayV2::Api").items()
        if props.get("ProtocolType") == "WEBSOCKET"
    }
    if not apis:
        return None
    if len(apis) > 1:
        raise ValueError(
            f"the local cloud serves one WebSocket API; the template has {sorted(apis)}"
        )
    ((api_name, api),) = apis.items()
    expression = str(api.get("RouteSelectionExpression", ""))
    selection = _BODY_SELECTION.fullmatch(expression)
    if not selection:
        raise ValueError(f"unsupported RouteSelectionExpression {expression!r}")

    integrations = {
        name: _function_of(props.get("IntegrationUri"), name)
        for name, props in of_type("AWS::ApiGatewayV2::Integration").items()
        if props.get("ApiId") == api_name and props.get("IntegrationType") == "AWS_PROXY"
    }
    authorizers = {
        name: _function_of(props.get("AuthorizerUri"), name)
        for name, props in of_type("AWS::ApiGatewayV2::Authorizer").items()
        if props.get("ApiId") == api_name
    }
    answered = {
        props.get("RouteId")
        for props in of_type("AWS::ApiGatewayV2::RouteResponse").values()
        if props.get("ApiId") == api_name and props.get("RouteResponseKey") == "$default"
    }
    stages = [
        str(props["StageName"])
        for props in of_type("AWS::ApiGatewayV2::Stage").values()
        if props.get("ApiId") == api_name
    ]
    if len(stages) != 1:
        raise ValueError(f"{api_name}: the local cloud serves exactly one stage; found {stages}")

    routes: dict[str, WebSocketRoute] = {}
    for name, props in of_type("AWS::ApiGatewayV2::Route").items():
        if props.get("ApiId") != api_name:
            continue
        target = str(props.get("Target", ""))
        integration = target.removeprefix("integrations/") if target else None
        authorizer = (
            props.get("AuthorizerId") if props.get("AuthorizationType") == "CUSTOM" else None
        )
        key = str(props["RouteKey"])
        routes[key] = WebSocketRoute(
            route_key=key,
            function=integrations.get(integration) if integration else None,
            authorizer_function=authorizers[authorizer] if authorizer else None,
            two_way=name in answered and bool(props.get("RouteResponseSelectionExpression")),
        )
    return WebSocketApiSpec(
        stage=stages[0], selection_path=tuple(selection.group(1).split(".")), routes=routes
    )
