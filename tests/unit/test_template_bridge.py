"""template.yaml's NATS bridge: an ECS Fargate service that runs only with an image and a VPC,
may only post to the WebSocket API's connections, and gets the environment the bridge reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

from localcloud.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BRIDGE_RESOURCES = {
    "BridgeCluster": "AWS::ECS::Cluster",
    "BridgeLogGroup": "AWS::Logs::LogGroup",
    "BridgeExecutionRole": "AWS::IAM::Role",
    "BridgeTaskRole": "AWS::IAM::Role",
    "BridgeTaskDefinition": "AWS::ECS::TaskDefinition",
    "BridgeService": "AWS::ECS::Service",
}
Template = dict[str, Any]


@pytest.fixture(scope="module")
def template() -> Template:
    loaded: Template = json.loads(json.dumps(load_cfn_yaml(str(TEMPLATE))))
    return loaded


def test_the_bridge_is_deployed_only_with_an_image_and_a_vpc(template: Template) -> None:
    # GIVEN the template's bridge resources
    resources = template["Resources"]
    # WHEN their types and conditions are read
    # THEN all six are there, each only under DeployBridge: a VPC and an image
    assert {name: resources[name]["Type"] for name in BRIDGE_RESOURCES} == BRIDGE_RESOURCES
    assert {resources[name].get("Condition") for name in BRIDGE_RESOURCES} == {"DeployBridge"}
    assert template["Conditions"]["DeployBridge"] == {
        "Fn::And": [
            {"Condition": "HasVpc"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "BridgeImageUri"}, ""]}]},
        ]
    }
    count = template["Parameters"]["BridgeDesiredCount"]
    assert (count["Default"], count["MinValue"], count["MaxValue"]) == (1, 0, 1)


def test_the_bridge_may_only_post_to_the_websocket_connections(template: Template) -> None:
    # GIVEN the bridge task's role
    role = template["Resources"]["BridgeTaskRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    # WHEN its permissions are listed
    # THEN there is one: ManageConnections, POST, on the WebSocket API's stage
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
                ":${WebSocketApi}/${WebSocketStage}/POST/@connections/*"
            },
        }
    ]


def test_the_container_gets_what_the_bridge_reads(template: Template) -> None:
    # GIVEN the task definition's one container
    task = template["Resources"]["BridgeTaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    # WHEN its image and environment are read
    # THEN the image is the parameter and the variables are the bridge's (BRIEF contract 5),
    # the endpoint being the stack's @connections URL
    assert container["Image"] == {"Ref": "BridgeImageUri"}
    assert set(env) == {
        "DATABASE_URL",
        "REDIS_URL",
        "NATS_URL",
        "CONNECTIONS_ENDPOINT_URL",
        "HEARTBEAT_INTERVAL_SECONDS",
    }
    outputs = template["Outputs"]
    assert env["CONNECTIONS_ENDPOINT_URL"] == outputs["WebSocketConnectionsUrl"]["Value"]
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["BridgeTaskRole", "Arn"]}


def test_the_service_runs_one_bridge_in_the_functions_subnets(template: Template) -> None:
    # GIVEN the ECS service
    service = template["Resources"]["BridgeService"]["Properties"]
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    # WHEN its placement and deployment are read
    # THEN it runs on Fargate in the VPC parameters' subnets, never two tasks at once
    assert service["LaunchType"] == "FARGATE"
    assert service["DesiredCount"] == {"Ref": "BridgeDesiredCount"}
    assert network["Subnets"] == {"Ref": "VpcSubnetIds"}
    assert network["SecurityGroups"] == {"Ref": "VpcSecurityGroupIds"}
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100


def test_the_local_cloud_reads_past_the_bridge_resources() -> None:
    # GIVEN the template with the bridge switched on
    parameters = {
        "DatabaseUrl": "postgresql://db",
        "RedisUrl": "redis://cache",
        "NatsUrl": "nats://nats",
        "BridgeImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/vendyz-bridge:1",
        "VpcSubnetIds": "subnet-a,subnet-b",
    }
    # WHEN the local cloud reads it
    app = load_template(TEMPLATE, parameters)
    # THEN it finds the functions and nothing of the bridge (vendyz up runs that itself)
    assert app.functions
    assert not [name for name in app.functions if name.startswith("Bridge")]
