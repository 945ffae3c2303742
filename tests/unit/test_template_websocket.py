"""template.yaml's WebSocket API, translated offline by the SAM translator, against the design
(ARCHITECTURE.md, "Realtime"), and as the local cloud reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.template import load_template
from localcloud.websocket_template import WebSocketRoute
from tests.unit.test_template import Template, resources, sam_template, translated

__all__ = ["sam_template", "translated"]  # the fixtures, shared with test_template.py

ROOT = Path(__file__).resolve().parents[2]
MESSAGE_ROUTES = {"subscribe", "ping", "$default"}


def websocket(translated: Template, type_: str) -> dict[str, Template]:
    return {
        name: r
        for name, r in resources(translated, type_).items()
        if r["Properties"].get("ApiId") == {"Ref": "WebSocketApi"}
    }


def routes(translated: Template) -> dict[str, Template]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in websocket(translated, "AWS::ApiGatewayV2::Route").values()
    }


def test_the_api_selects_routes_by_the_messages_action(translated: Template) -> None:
    # GIVEN the translated template
    api = translated["Resources"]["WebSocketApi"]
    # THEN WebSocketApi is a WebSocket API whose route selection reads body.action
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"


def test_every_route_of_the_design_goes_to_the_realtime_function(translated: Template) -> None:
    # GIVEN the WebSocket routes and integrations
    served = routes(translated)
    (integration_name, integration), *others = websocket(
        translated, "AWS::ApiGatewayV2::Integration"
    ).items()
    # THEN the routes are exactly the design's, all proxied to the Realtime function
    assert set(served) == {"$connect", "$disconnect"} | MESSAGE_ROUTES
    assert others == []
    assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
    assert "${RealtimeFunction.Arn}" in integration["Properties"]["IntegrationUri"]["Fn::Sub"]
    for props in served.values():
        assert props["Target"] == {"Fn::Sub": f"integrations/${{{integration_name}}}"}


def test_connect_runs_the_authorizer_on_every_handshake(translated: Template) -> None:
    # GIVEN the $connect route and the WebSocket authorizer
    connect = routes(translated)["$connect"]
    ((name, authorizer),) = websocket(translated, "AWS::ApiGatewayV2::Authorizer").items()
    props = authorizer["Properties"]
    # THEN $connect (only) is guarded by the Lambda REQUEST authorizer
    assert connect["AuthorizationType"] == "CUSTOM"
    assert connect["AuthorizerId"] == {"Ref": name}
    assert all("AuthorizerId" not in r for k, r in routes(translated).items() if k != "$connect")
    assert props["AuthorizerType"] == "REQUEST"
    assert "${AuthorizerFunction.Arn}" in props["AuthorizerUri"]["Fn::Sub"]
    # AND it has no identity source: API Gateway would refuse a watcher without ?token= with
    # 401 before the authorizer runs, and anonymous watchers must get in
    assert "IdentitySource" not in props


def test_message_routes_are_two_way_and_connect_disconnect_are_not(translated: Template) -> None:
    # GIVEN the routes and their route responses
    served = routes(translated)
    by_logical_id = websocket(translated, "AWS::ApiGatewayV2::Route")
    answered = {
        by_logical_id[r["Properties"]["RouteId"]["Ref"]]["Properties"]["RouteKey"]
        for r in websocket(translated, "AWS::ApiGatewayV2::RouteResponse").values()
        if r["Properties"]["RouteResponseKey"] == "$default"
    }
    # THEN the function's reply reaches the client on the message routes only
    assert answered == MESSAGE_ROUTES
    for key in MESSAGE_ROUTES:
        assert served[key]["RouteResponseSelectionExpression"] == "$default"
    for key in ("$connect", "$disconnect"):
        assert "RouteResponseSelectionExpression" not in served[key]


def test_stage_ws_deploys_itself_after_the_routes(translated: Template) -> None:
    # GIVEN the WebSocket stage, named for the bridge's policy
    stage = translated["Resources"]["WebSocketStage"]
    # THEN it is `ws`, redeployed on every route change, first deployed with every route
    assert stage["Properties"]["StageName"] == "ws"
    assert stage["Properties"]["AutoDeploy"] is True
    depends = set(stage["DependsOn"])
    responses = {f"{n}RouteResponse" for n in ("Subscribe", "Ping", "Default")}
    assert {"ConnectRoute", "DisconnectRoute"} | responses <= depends


def test_api_gateway_may_invoke_the_realtime_function_and_the_authorizer(
    translated: Template,
) -> None:
    # GIVEN the Lambda permissions naming the WebSocket API
    permissions = {
        p["Properties"]["FunctionName"]["Ref"]: p["Properties"]
        for p in resources(translated, "AWS::Lambda::Permission").values()
        if "${WebSocketApi}" in str(p["Properties"].get("SourceArn"))
    }
    # THEN API Gateway may invoke Realtime on any route and the authorizer as its authorizer
    assert set(permissions) == {"RealtimeFunction", "AuthorizerFunction"}
    for props in permissions.values():
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert props["Action"] == "lambda:InvokeFunction"
    assert permissions["RealtimeFunction"]["SourceArn"]["Fn::Sub"].endswith("${WebSocketApi}/*")
    authorizer_arn = permissions["AuthorizerFunction"]["SourceArn"]["Fn::Sub"]
    assert authorizer_arn.endswith("${WebSocketApi}/authorizers/${WebSocketAuthorizer}")


@pytest.mark.parametrize(
    ("output", "scheme"), [("WebSocketUrl", "wss"), ("WebSocketConnectionsUrl", "https")]
)
def test_outputs_give_the_socket_and_management_urls(
    sam_template: Template, output: str, scheme: str
) -> None:
    # GIVEN the template's outputs
    value = sam_template["Outputs"][output]["Value"]
    # THEN the stage URL is given for browsers (wss) and for @connections (https)
    assert value == {
        "Fn::Sub": f"{scheme}://${{WebSocketApi}}.execute-api.${{AWS::Region}}"
        ".${AWS::URLSuffix}/${WebSocketStage}"
    }


def test_the_local_cloud_reads_the_same_websocket_api() -> None:
    # GIVEN template.yaml as the local cloud loads it
    spec = load_template(ROOT / "template.yaml", {}).websocket
    # THEN it serves stage ws, selects by action, with the template's routes and authorizer
    assert spec is not None
    assert spec.stage == "ws"
    assert spec.selection_path == ("action",)
    realtime = "RealtimeFunction"
    assert spec.routes == {
        "$connect": WebSocketRoute("$connect", realtime, authorizer_function="AuthorizerFunction"),
        "$disconnect": WebSocketRoute("$disconnect", realtime),
        **{key: WebSocketRoute(key, realtime, two_way=True) for key in MESSAGE_ROUTES},
    }
