"""template.yaml, translated offline by the SAM translator, against the design.

The translator runs with a fixed managed-policy map and a region from the environment, so
nothing here talks to AWS. CodeUri is swapped for an S3 URI, as `sam package` does.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml
from samtranslator.translator.transform import transform

from vendyz.migrate.service import MIGRATIONS_DIR, load_migrations, migrations_hash

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
FUNCTIONS_MAKEFILE = FUNCTIONS_DIR / "Makefile"
AUTHORIZER = "LambdaAuthorizer"
Template = dict[str, Any]

# (method, path, function, behind the authorizer)
ROUTES: list[tuple[str, str, str, bool]] = [
    ("POST", "/api/v1/auth/register", "AuthFunction", False),
    ("POST", "/api/v1/auth/login", "AuthFunction", False),
    ("POST", "/api/v1/auth/logout", "AuthFunction", True),
    ("GET", "/api/v1/auth/me", "AuthFunction", True),
    ("GET", "/api/v1/products", "InventoryFunction", False),
    ("GET", "/api/v1/products/{id}", "InventoryFunction", False),
    ("POST", "/api/v1/products", "InventoryFunction", True),
    ("POST", "/api/v1/products/{id}/stock", "InventoryFunction", True),
    ("POST", "/api/v1/orders", "OrdersFunction", True),
    ("GET", "/api/v1/orders", "OrdersFunction", True),
    ("GET", "/api/v1/orders/{id}", "OrdersFunction", True),
    ("GET", "/api/v1/health", "HealthFunction", False),
    ("POST", "/api/v1/health/ping", "HealthFunction", True),
    ("GET", "/api/v1/docs", "DocsFunction", False),
    ("GET", "/api/v1/openapi.json", "DocsFunction", False),
    ("GET", "/docs", "DocsFunction", False),
    ("GET", "/docs-json", "DocsFunction", False),
]

HANDLERS: dict[str, str] = {
    "MigrateFunction": "vendyz.migrate.handler.handler",
    "AuthorizerFunction": "vendyz.authorizer.handler.handler",
    "AuthFunction": "vendyz.auth.handler.handler",
    "InventoryFunction": "vendyz.inventory.handler.handler",
    "OrdersFunction": "vendyz.orders.handler.handler",
    "HealthFunction": "vendyz.health.handler.handler",
    "DocsFunction": "vendyz.docs.handler.handler",
    "RealtimeFunction": "vendyz.realtime.handler.handler",
}

# The local cloud uses these as its bound on concurrent instances per function.
RESERVED_CONCURRENCY: dict[str, int] = {
    "MigrateFunction": 1,
    "AuthFunction": 16,
    "AuthorizerFunction": 64,
    "InventoryFunction": 80,
    "OrdersFunction": 72,
    "HealthFunction": 4,
    "DocsFunction": 4,
    "RealtimeFunction": 8,
}

# (function, event) -> the Input the handler receives
SCHEDULES: dict[tuple[str, str], dict[str, str]] = {
    ("AuthFunction", "Heartbeat"): {"task": "heartbeat"},
    ("InventoryFunction", "Heartbeat"): {"task": "heartbeat"},
    ("InventoryFunction", "Relay"): {"task": "reconcile"},
    ("OrdersFunction", "Heartbeat"): {"task": "heartbeat"},
    ("OrdersFunction", "Reconcile"): {"task": "reconcile"},
}

JWT_SECRET_READERS = {"AuthFunction", "AuthorizerFunction"}

# What CloudFormation hands the transform; list parameters arrive as lists.
PARAMETER_VALUES: dict[str, Any] = {
    "DatabaseUrl": "postgresql://vendyz:secret@db.example:5432/vendyz",
    "RedisUrl": "redis://cache.example:6379/0",
    "NatsUrl": "nats://nats.example:4222",
    "JwtSecretName": "vendyz/test/jwt",
    "CorsAllowOrigins": ["https://shop.example"],
    "LambdaEndpointUrl": "",
}


class FixedManagedPolicyLoader:
    """Stands in for samtranslator's IAM-backed ManagedPolicyLoader: a fixed map, no AWS call."""

    POLICIES = {
        "AWSLambdaBasicExecutionRole": (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        ),
        "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "AWSLambdaVPCAccessExecutionRole": (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
        ),
    }

    def load(self) -> dict[str, str]:
        return dict(self.POLICIES)


@pytest.fixture(scope="module")
def sam_template() -> Template:
    """template.yaml as written, CloudFormation short tags understood."""
    loaded: Template = json.loads(json.dumps(load_cfn_yaml(str(TEMPLATE))))
    return loaded


@pytest.fixture(scope="module")
def translated(sam_template: Template) -> Iterator[Template]:
    """The CloudFormation the SAM transform produces from template.yaml."""
    template = copy.deepcopy(sam_template)
    template["Globals"]["Function"]["CodeUri"] = "s3://vendyz-artifacts/functions.zip"
    with pytest.MonkeyPatch.context() as mp:
        # The translator asks a boto3 session for the region; make it hermetic.
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(ROOT / "nonexistent-aws-config"))
        yield transform(template, dict(PARAMETER_VALUES), FixedManagedPolicyLoader())


def resources(template: Template, type_: str) -> dict[str, Template]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def api_body(translated: Template) -> Template:
    apis = resources(translated, "AWS::ApiGatewayV2::Api")
    http_apis = [k for k, v in apis.items() if v["Properties"].get("ProtocolType") != "WEBSOCKET"]
    assert http_apis == ["HttpApi"]
    body: Template = apis["HttpApi"]["Properties"]["Body"]
    return body


def role_statements(translated: Template, function: str) -> list[Template]:
    """Every statement the role may have (both branches of a conditional policy)."""
    role = translated["Resources"][f"{function}Role"]["Properties"]
    policies = []
    for policy in role.get("Policies", []):
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        policies += [b for b in branches if "PolicyDocument" in b]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize(
    ("method", "path", "function", "protected"),
    ROUTES,
    ids=[f"{m} {p}" for m, p, _, _ in ROUTES],
)
def test_route_is_served_by_its_function(
    translated: Template, method: str, path: str, function: str, protected: bool
) -> None:
    # GIVEN the HTTP API the transform produced
    body = api_body(translated)

    # WHEN the route of the design is looked up
    operation = body["paths"].get(path, {}).get(method.lower())

    # THEN it exists, proxies to its function with payload 2.0, and is guarded as designed
    assert operation is not None, f"{method} {path} is missing"
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert integration["payloadFormatVersion"] == "2.0"
    assert f"${{{function}.Arn}}" in integration["uri"]["Fn::Sub"]
    if protected:
        assert operation.get("security") == [{AUTHORIZER: []}]
    else:
        assert "security" not in operation


def test_api_has_no_routes_beyond_the_design(translated: Template) -> None:
    # GIVEN the HTTP API the transform produced
    body = api_body(translated)

    # WHEN every (method, path) in it is collected
    served = {(m.upper(), p) for p, ops in body["paths"].items() for m in ops}

    # THEN it is exactly the design's list
    assert served == {(m, p) for m, p, _, _ in ROUTES}


def test_authorizer_results_are_cached_per_token_for_five_minutes(translated: Template) -> None:
    # GIVEN the HTTP API's security schemes
    schemes = api_body(translated)["components"]["securitySchemes"]

    # WHEN the Lambda authorizer is read
    authorizer = schemes[AUTHORIZER]["x-amazon-apigateway-authorizer"]

    # THEN it is a payload-2.0 REQUEST authorizer on the Authorization header, simple
    # responses, results cached 5 minutes per token (the services check logout and expiry
    # themselves, tests/integration/test_auth_api.py), invokable by API GW
    assert authorizer["type"] == "request"
    assert authorizer["authorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["enableSimpleResponses"] is True
    assert authorizer["identitySource"] == ["$request.header.Authorization"]
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {
        "Fn::GetAtt": ["AuthorizerFunction", "Arn"]
    }
    permission = translated["Resources"][f"HttpApi{AUTHORIZER}AuthorizerPermission"]
    assert permission["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}


def test_cors_allows_the_frontend_origin_and_headers(translated: Template) -> None:
    # GIVEN CorsAllowOrigins set to the frontend's origin
    # WHEN the transform writes the API's CORS configuration
    cors = api_body(translated)["x-amazon-apigateway-cors"]

    # THEN the origin, the methods and the headers the frontend needs are allowed
    assert cors["allowOrigins"] == PARAMETER_VALUES["CorsAllowOrigins"]
    assert sorted(cors["allowMethods"]) == ["GET", "OPTIONS", "POST"]
    assert sorted(cors["allowHeaders"]) == ["Authorization", "Content-Type", "Idempotency-Key"]
    assert sorted(cors["exposeHeaders"]) == ["Idempotent-Replayed", "Retry-After"]
    assert cors["maxAge"] == 600


def test_api_is_served_on_the_default_stage(translated: Template, sam_template: Template) -> None:
    # GIVEN the translated stage and the template's outputs
    stages = resources(translated, "AWS::ApiGatewayV2::Stage")

    # WHEN they are read
    (stage,) = [s for s in stages.values() if s["Properties"]["ApiId"] == {"Ref": "HttpApi"}]
    api_url = sam_template["Outputs"]["ApiUrl"]["Value"]

    # THEN the stage is $default, so the URL carries no stage segment before /api/v1
    assert stage["Properties"]["StageName"] == "$default"
    assert api_url == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/v1"
    }


def test_functions_are_exactly_the_designed_ones(translated: Template) -> None:
    # GIVEN the Lambda functions the transform produced
    functions = resources(translated, "AWS::Lambda::Function")

    # WHEN their handlers, runtime and concurrency bound are read
    handlers = {name: f["Properties"]["Handler"] for name, f in functions.items()}
    reserved = {
        name: f["Properties"].get("ReservedConcurrentExecutions") for name, f in functions.items()
    }

    # THEN they match the design, all on python3.12 with tracing on
    assert handlers == HANDLERS
    assert reserved == RESERVED_CONCURRENCY
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Timeout"] == (300 if props["Handler"].startswith("vendyz.migrate") else 10)
        assert props["MemorySize"] == 512


@pytest.mark.parametrize(("function", "handler"), sorted(HANDLERS.items()))
def test_handler_module_file_exists(function: str, handler: str) -> None:
    # GIVEN a handler path vendyz.<svc>.handler.handler
    module, _, attribute = handler.rpartition(".")
    parts = module.split(".")
    assert parts[0] == "vendyz"
    assert parts[-1] == "handler"
    assert attribute == "handler"

    # WHEN it is resolved against the CodeUri (functions/)
    module_file = FUNCTIONS_DIR.joinpath(*parts).with_suffix(".py")

    # THEN the module file is there to be packaged
    assert module_file.is_file(), f"{function}: {module_file.relative_to(ROOT)} is missing"


def _makefile_default(variable: str) -> str:
    found = re.search(rf"^{variable} \?= (\S+)$", FUNCTIONS_MAKEFILE.read_text(), re.MULTILINE)
    assert found, f"functions/Makefile sets no default {variable}"
    return found.group(1)


def test_every_function_is_built_by_the_functions_makefile(sam_template: Template) -> None:
    # GIVEN the template's functions
    functions = resources(sam_template, "AWS::Serverless::Function")
    # WHEN reading how `sam build` builds each
    methods = {name: (r.get("Metadata") or {}).get("BuildMethod") for name, r in functions.items()}
    # THEN every one goes through functions/Makefile (SAM's own build ships no bytecode)
    assert len(methods) == len(HANDLERS)
    assert set(methods.values()) == {"makefile"}, methods


def test_makefile_builds_for_the_templates_runtime_and_architecture(
    sam_template: Template,
) -> None:
    # GIVEN the runtime and architecture the template deploys the functions on
    function_globals = sam_template["Globals"]["Function"]
    runtime, [architecture] = function_globals["Runtime"], function_globals["Architectures"]
    # WHEN reading the Python and CPU functions/Makefile packages for by default
    python, arch = _makefile_default("PYTHON"), _makefile_default("ARCH")
    # THEN they are the same: bytecode is per Python version, binary wheels per CPU
    assert python == runtime  # "python3.12", the interpreter and the runtime's name alike
    assert arch == {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]


@pytest.mark.parametrize(
    ("function", "event", "payload"),
    [(f, e, p) for (f, e), p in SCHEDULES.items()],
    ids=[f"{f}.{e}" for f, e in SCHEDULES],
)
def test_schedule_invokes_its_function_with_the_task(
    translated: Template, function: str, event: str, payload: dict[str, str]
) -> None:
    # GIVEN the EventBridge rule the transform made for the schedule event
    rule = translated["Resources"][f"{function}{event}"]
    assert rule["Type"] == "AWS::Events::Rule"

    # WHEN its target is read
    (target,) = rule["Properties"]["Targets"]

    # THEN it fires every minute at its function with the task as the event
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert json.loads(target["Input"]) == payload


def test_no_schedules_beyond_the_design(translated: Template) -> None:
    # GIVEN the EventBridge rules the transform produced
    rules = resources(translated, "AWS::Events::Rule")

    # WHEN they are named by function and event
    # THEN they are exactly the design's schedules
    assert set(rules) == {f"{f}{e}" for f, e in SCHEDULES}


def test_every_function_gets_the_shared_environment(translated: Template) -> None:
    # GIVEN the Lambda functions the transform produced
    functions = resources(translated, "AWS::Lambda::Function")

    # WHEN their environment is read
    # THEN each carries the settings core.settings reads
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["VENDYZ_ENV"] == "aws", name
        assert variables["DATABASE_URL"] == {"Ref": "DatabaseUrl"}, name
        assert variables["REDIS_URL"] == {"Ref": "RedisUrl"}, name
        assert variables["NATS_URL"] == {"Ref": "NatsUrl"}, name
        assert variables["JWT_SECRET_NAME"] == {"Ref": "JwtSecretName"}, name
        assert variables["LAMBDA_ENDPOINT_URL"] == {"Ref": "LambdaEndpointUrl"}, name
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Vendyz", name
        assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO", name
        assert variables["HEARTBEAT_INTERVAL_SECONDS"] == "60", name


def test_orders_may_invoke_inventory_and_nothing_else_may(translated: Template) -> None:
    # GIVEN the Orders function and every function's role
    orders = translated["Resources"]["OrdersFunction"]["Properties"]["Environment"]["Variables"]

    # WHEN its RPC settings and the roles' invoke permissions are read
    invokers = {
        name.removesuffix("Role")
        for name in resources(translated, "AWS::IAM::Role")
        if any(
            "lambda:InvokeFunction" in s["Action"]
            for s in role_statements(translated, name.removesuffix("Role"))
        )
    }

    # THEN Orders knows Inventory's name and a timeout under its own, and only Orders invokes
    assert orders["INVENTORY_FUNCTION_NAME"] == {"Ref": "InventoryFunction"}
    assert orders["RPC_TIMEOUT_SECONDS"] == "3"
    assert invokers == {"OrdersFunction"}
    (statement,) = role_statements(translated, "OrdersFunction")
    assert statement["Resource"]["Fn::Sub"][1]["functionName"] == {"Ref": "InventoryFunction"}


def test_only_auth_and_authorizer_read_the_jwt_secret(translated: Template) -> None:
    # GIVEN every function's role
    roles = resources(translated, "AWS::IAM::Role")

    # WHEN the ones allowed secretsmanager:GetSecretValue are collected
    readers = {
        name.removesuffix("Role")
        for name in roles
        if any(
            "secretsmanager:GetSecretValue" in s["Action"]
            for s in role_statements(translated, name.removesuffix("Role"))
        )
    }

    # THEN exactly the two that verify or sign tokens may read the key
    assert readers == JWT_SECRET_READERS


def test_cfn_lint_reports_nothing() -> None:
    # GIVEN template.yaml
    # WHEN cfn-lint checks it (SAM transform included)
    matches = lint_file(TEMPLATE)

    # THEN there is no error, warning or informational finding
    assert [str(m) for m in matches] == []


def test_migrations_run_on_create_and_whenever_a_migration_changes(translated: Template) -> None:
    # GIVEN the Migrations custom resource and the migration files shipped with the code
    resource = translated["Resources"]["Migrations"]
    shipped = migrations_hash(load_migrations(MIGRATIONS_DIR))
    # WHEN its properties are read
    props = resource["Properties"]
    # THEN MigrateFunction serves it, and its MigrationsHash is the files' hash: CloudFormation
    # calls it again exactly when that property changes (`make migrations-hash` rewrites it)
    assert resource["Type"] == "Custom::Migrations"
    assert props["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    assert props["MigrationsHash"] == shipped, "stale MigrationsHash: run `make migrations-hash`"
    # AND CloudFormation stops waiting soon after the function's own timeout
    timeout = translated["Resources"]["MigrateFunction"]["Properties"]["Timeout"]
    assert timeout < props["ServiceTimeout"] <= timeout + 120


def test_the_seed_runs_through_the_functions_after_the_migrations(translated: Template) -> None:
    # GIVEN the seed resources
    admin, products = translated["Resources"]["SeedAdmin"], translated["Resources"]["DemoProducts"]
    # WHEN their functions, order and conditions are read
    # THEN auth creates the admin and inventory the demo products, both once the schema is
    # there, the demo products only when asked for
    assert admin["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["AuthFunction", "Arn"]}
    assert products["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["InventoryFunction", "Arn"]}
    assert admin["DependsOn"] == products["DependsOn"] == "Migrations"
    assert products["Condition"] == "HasDemoProducts"
    assert "Condition" not in admin  # without a secret it creates no one (AuthFunction)


def localstack_parameters() -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["localstack"]["deploy"]["parameters"]["parameter_overrides"]
    return dict(override.split("=", 1) for override in overrides)


def test_the_localstack_config_env_gives_every_required_parameter(
    sam_template: Template,
) -> None:
    # GIVEN samconfig's localstack environment
    given = localstack_parameters()
    # WHEN its parameters are compared with the template's
    declared = sam_template["Parameters"]
    required = {name for name, spec in declared.items() if "Default" not in spec}
    # THEN each names a template parameter, and none the template requires is missing
    assert set(given) <= set(declared), set(given) - set(declared)
    assert required <= set(given), required - set(given)
    for name, value in given.items():
        assert value in declared[name].get("AllowedValues", [value]), (name, value)


def test_the_localstack_config_env_translates(sam_template: Template) -> None:
    # GIVEN the template and samconfig's localstack parameters, as CloudFormation hands them
    declared = sam_template["Parameters"]
    values: dict[str, Any] = {
        name: value.split(",") if declared[name]["Type"] == "CommaDelimitedList" else value
        for name, value in localstack_parameters().items()
    }
    template = copy.deepcopy(sam_template)
    template["Globals"]["Function"]["CodeUri"] = "s3://vendyz-artifacts/functions.zip"
    # WHEN the SAM transform runs with them
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(ROOT / "nonexistent-aws-config"))
        output = transform(template, values, FixedManagedPolicyLoader())
    # THEN every function comes out, with Orders' invokes aimed at LocalStack, and the demo
    # products seeded
    functions = resources(output, "AWS::Lambda::Function")
    assert set(functions) == set(HANDLERS)
    assert values["LambdaEndpointUrl"].startswith("http://localhost.localstack.cloud")
    assert "DemoProducts" in output["Resources"]
    assert output["Conditions"]["HasDemoProducts"] == {
        "Fn::Equals": [{"Ref": "SeedDemoProducts"}, "true"]
    }
