"""Reads template.yaml: the functions, their routes, schedules and environment.

This is the only place the local cloud learns about functions, so a route or schedule added to
the template is served locally without touching this package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localcloud.websocket_template import WebSocketApiSpec, read_websocket_api

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into long forms."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _short_tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # e.g. /api/v1/products/{id}
    function: str
    authorized: bool
    route_key: str


@dataclass(frozen=True)
class Schedule:
    name: str
    function: str
    rate_seconds: float
    input: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    environment: dict[str, str]
    concurrency: int
    timeout_seconds: float
    memory_mb: int = 512


@dataclass(frozen=True)
class CustomResource:
    """A custom resource backed by one of the template's functions (its ServiceToken)."""

    name: str
    type: str
    function: str
    properties: dict[str, Any]
    depends_on: list[str]


@dataclass(frozen=True)
class Cors:
    allow_origins: list[str]
    allow_methods: list[str]
    allow_headers: list[str]
    expose_headers: list[str]
    max_age: int


@dataclass
class AppTemplate:
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    custom_resources: list[CustomResource] = field(default_factory=list)
    authorizer_function: str | None = None
    # How long the gateway reuses an authorizer's allow per Authorization header (SAM's
    # Identity.ReauthorizeEvery); 0: the authorizer runs on every request.
    authorizer_ttl_seconds: float = 0.0
    cors: Cors | None = None
    websocket: WebSocketApiSpec | None = None


_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate_seconds(expression: str) -> float:
    match = _RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"unsupported schedule expression {expression!r}; use rate(...)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


class _Resolver:
    """Evaluates the intrinsic functions the template uses, with local values."""

    def __init__(self, doc: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.resources: Mapping[str, Any] = doc.get("Resources", {})
        self.values: dict[str, Any] = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::StackName": "vendyz-local",
            "AWS::URLSuffix": "localhost",
            "AWS::Partition": "aws",
            "AWS::NoValue": None,
        }
        for name, spec in doc.get("Parameters", {}).items():
            default = spec.get("Default", "")
            self.values[name] = parameters.get(name, default)
        self.conditions: dict[str, bool] = {}
        for name, expr in doc.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expr))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self._arn(arg[0])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.resolve(v)) for v in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.conditions[arg]
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.values:
            value = self.values[name]
            return ",".join(value) if isinstance(value, list) else value
        if name in self.resources:
            return name  # a function's physical name is its logical id locally
        raise KeyError(f"!Ref to unknown name {name!r}")

    def _arn(self, resource: str) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{resource}"

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        extra = {k: self.resolve(v) for k, v in extra.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if name.endswith(".Arn"):
                return self._arn(name[: -len(".Arn")])
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def load_template(path: Path, parameters: Mapping[str, str]) -> AppTemplate:
    doc = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    resolver = _Resolver(doc, parameters)
    function_globals = doc.get("Globals", {}).get("Function", {})
    global_env = resolver.resolve(function_globals.get("Environment", {}).get("Variables", {}))
    app = AppTemplate()

    for name, resource in doc.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if "Condition" in resource and not resolver.conditions[resource["Condition"]]:
            continue
        if resource["Type"].startswith("Custom::"):
            app.custom_resources.append(_custom_resource(name, resource, resolver.resolve(props)))
        if resource["Type"] == "AWS::Serverless::HttpApi":
            _read_http_api(app, resolver.resolve(props))
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        env = {**global_env, **resolver.resolve(props.get("Environment", {}).get("Variables", {}))}
        app.functions[name] = FunctionSpec(
            name=name,
            handler=props.get("Handler", function_globals.get("Handler", "")),
            environment={k: "" if v is None else str(v) for k, v in env.items()},
            concurrency=int(props.get("ReservedConcurrentExecutions", 16)),
            timeout_seconds=float(props.get("Timeout", function_globals.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", function_globals.get("MemorySize", 128))),
        )
        for event_name, event in props.get("Events", {}).items():
            event_props = resolver.resolve(event.get("Properties", {}))
            if event["Type"] == "HttpApi":
                authorizer = event_props.get("Auth", {}).get("Authorizer")
                method = event_props["Method"].upper()
                app.routes.append(
                    Route(
                        method=method,
                        path=event_props["Path"],
                        function=name,
                        authorized=bool(authorizer) and authorizer != "NONE",
                        route_key=f"{method} {event_props['Path']}",
                    )
                )
            elif event["Type"] == "Schedule":
                app.schedules.append(
                    Schedule(
                        name=f"{name}.{event_name}",
                        function=name,
                        rate_seconds=_rate_seconds(event_props["Schedule"]),
                        input=json.loads(event_props.get("Input", "{}")),
                    )
                )
    app.websocket = read_websocket_api(doc.get("Resources", {}), resolver.resolve)
    return app


def _custom_resource(
    name: str, resource: Mapping[str, Any], props: dict[str, Any]
) -> CustomResource:
    depends_on = resource.get("DependsOn", [])
    return CustomResource(
        name=name,
        type=resource["Type"],
        function=str(props["ServiceToken"]).rsplit(":", 1)[-1],
        properties=props,
        depends_on=[depends_on] if isinstance(depends_on, str) else list(depends_on),
    )


def _read_http_api(app: AppTemplate, props: Mapping[str, Any]) -> None:
    for authorizer in props.get("Auth", {}).get("Authorizers", {}).values():
        arn = str(authorizer.get("FunctionArn", ""))
        app.authorizer_function = arn.rsplit(":", 1)[-1]
        identity = authorizer.get("Identity") or {}
        app.authorizer_ttl_seconds = float(identity.get("ReauthorizeEvery") or 0)
    cors = props.get("CorsConfiguration")
    if isinstance(cors, dict):

        def as_list(value: Any) -> list[str]:
            return value.split(",") if isinstance(value, str) else [str(v) for v in value or []]

        app.cors = Cors(
            allow_origins=as_list(cors.get("AllowOrigins", [])),
            allow_methods=[m.upper() for m in as_list(cors.get("AllowMethods", []))],
            allow_headers=[h.lower() for h in as_list(cors.get("AllowHeaders", []))],
            expose_headers=as_list(cors.get("ExposeHeaders", [])),
            max_age=int(cors.get("MaxAge", 0)),
        )
