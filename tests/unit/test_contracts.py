"""The proto contracts: committed generated code is current, JSON forms are as promised."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from vendyz.core.contracts import auth_pb2, events_pb2, inventory_pb2, orders_pb2

ROOT = Path(__file__).resolve().parents[2]


def _load_codegen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendyz_codegen", ROOT / "infra" / "codegen.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_contracts_match_a_fresh_generation() -> None:
    # GIVEN the committed *_pb2.py / *_pb2.pyi under functions/vendyz/core/contracts
    codegen = _load_codegen()
    # WHEN infra/codegen.py regenerates them from proto/ into a temporary directory
    stale = codegen.stale_files()
    # THEN nothing differs, is missing or is left over
    assert stale == [], f"stale generated contracts (run `make proto`): {stale}"


def test_every_proto_has_its_generated_module() -> None:
    # GIVEN the protos in proto/vendyz
    protos = {p.stem for p in (ROOT / "proto" / "vendyz").glob("*.proto")}
    # WHEN we list the generated modules
    contracts = ROOT / "functions" / "vendyz" / "core" / "contracts"
    modules = {p.name.removesuffix("_pb2.py") for p in contracts.glob("*_pb2.py")}
    # THEN they correspond one to one, each with its typed stub
    assert protos == modules == {"auth", "events", "inventory", "orders"}
    for name in modules:
        assert (contracts / f"{name}_pb2.pyi").is_file()


def test_generated_modules_know_their_import_path() -> None:
    # GIVEN a generated message class  WHEN we ask its module
    # THEN it is the package path it is imported from (pickling and reprs depend on it)
    assert inventory_pb2.ReserveStockRequest.__module__ == "vendyz.core.contracts.inventory_pb2"


def _filled_inventory_reserved() -> events_pb2.InventoryReserved:
    return events_pb2.InventoryReserved(
        event_id="0b9a4f0e-8f0a-4e43-9a3c-0d4c1c1b7a11",
        order_id="6f1c2f2e-4b6e-4a53-8d7b-3e5b1b2c9d01",
        product_id="product-1",
        user_id="2d9f6c1a-1e7b-4f1e-9a0c-5b8c7d6e5f40",
        quantity=2,
        remaining_stock=3,
        occurred_at="2025-01-31T12:00:00.000000Z",
    )


def test_inventory_reserved_json_has_exactly_the_sql_keys() -> None:
    # GIVEN an InventoryReserved with every field set
    event = _filled_inventory_reserved()
    # WHEN it is turned into its proto JSON form
    as_json = json_format.MessageToDict(event)
    # THEN the keys are exactly those inventory.reserve_stock builds in SQL
    assert set(as_json) == {
        "eventId",
        "orderId",
        "productId",
        "userId",
        "quantity",
        "remainingStock",
        "occurredAt",
    }
    assert as_json["quantity"] == 2  # int32 is a JSON number, as jsonb_build_object writes it
    assert as_json["remainingStock"] == 3


def test_sql_built_inventory_reserved_payload_parses() -> None:
    # GIVEN the payload as the SQL function builds it (uuid values become JSON strings)
    payload = {
        "eventId": "0b9a4f0e-8f0a-4e43-9a3c-0d4c1c1b7a11",
        "orderId": "6f1c2f2e-4b6e-4a53-8d7b-3e5b1b2c9d01",
        "productId": "product-1",
        "userId": "2d9f6c1a-1e7b-4f1e-9a0c-5b8c7d6e5f40",
        "quantity": 2,
        "remainingStock": 3,
        "occurredAt": "2025-01-31T12:00:00.000000Z",
    }
    # WHEN it is parsed strictly (unknown keys would fail)
    event = json_format.ParseDict(payload, events_pb2.InventoryReserved())
    # THEN it is the same event
    assert event == _filled_inventory_reserved()


EVENTS: list[Message] = [
    _filled_inventory_reserved(),
    events_pb2.InventoryUpdated(
        event_id="e1",
        product_id="product-2",
        name="Widget",
        stock=5,
        occurred_at="2025-01-31T12:00:00Z",
    ),
    events_pb2.ProductCreated(
        event_id="e2",
        product_id="product-3",
        name="Gadget",
        stock=10,
        occurred_at="2025-01-31T12:00:01Z",
    ),
    events_pb2.OrderCreated(
        event_id="e3",
        order_id="o1",
        user_id="u1",
        product_id="product-1",
        quantity=1,
        status="FAILED",
        reason="OUT_OF_STOCK",
        occurred_at="2025-01-31T12:00:02Z",
    ),
    events_pb2.HealthPing(
        event_id="e4",
        service="inventory",
        occurred_at="2025-01-31T12:00:03Z",
        checks=events_pb2.HealthPing.Checks(postgres=True, redis=True, nats=False),
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_event_round_trips_through_json(event: Message) -> None:
    # GIVEN an event message with its fields set
    # WHEN it goes to JSON text and back
    text = json_format.MessageToJson(event)
    back = json_format.Parse(text, type(event)())
    # THEN nothing is lost, and it carries an event id and an occurrence time
    assert back == event
    as_json = json_format.MessageToDict(event)
    assert as_json["eventId"]
    assert as_json["occurredAt"]


def test_every_event_message_is_covered_and_has_id_and_time() -> None:
    # GIVEN the messages events.proto declares
    declared = set(events_pb2.DESCRIPTOR.message_types_by_name)
    # WHEN compared with those round-tripped above
    # THEN none is left untested, and each has event_id and occurred_at
    assert declared == {type(e).__name__ for e in EVENTS}
    for name in declared:
        fields = events_pb2.DESCRIPTOR.message_types_by_name[name].fields_by_name
        assert "event_id" in fields
        assert "occurred_at" in fields


def test_rpc_and_domain_messages_use_the_documented_json_names() -> None:
    # GIVEN the RPC request, the order and the principal, filled in
    request = inventory_pb2.ReserveStockRequest(
        order_id="o1", product_id="product-1", quantity=1, user_id="u1"
    )
    response = inventory_pb2.ReserveStockResponse(
        outcome=inventory_pb2.REJECTED,
        reason="LIMIT_REACHED",
        remaining_stock=4,
        product_name="Widget",
        replayed=True,
    )
    order = orders_pb2.Order(
        order_id="o1",
        user_id="u1",
        product_id="product-1",
        product_name="Widget",
        quantity=1,
        status="CONFIRMED",
        reason="",
    )
    principal = auth_pb2.Principal(user_id="u1", role="ADMIN", email="lead@vendyz.dev")
    # WHEN turned into JSON
    # THEN the keys are lowerCamelCase and the outcome is its enum name
    assert set(json_format.MessageToDict(request)) == {"orderId", "productId", "quantity", "userId"}
    assert json_format.MessageToDict(response) == {
        "outcome": "REJECTED",
        "reason": "LIMIT_REACHED",
        "remainingStock": 4,
        "productName": "Widget",
        "replayed": True,
    }
    assert set(json_format.MessageToDict(order, always_print_fields_with_no_presence=True)) == {
        "orderId",
        "userId",
        "productId",
        "productName",
        "quantity",
        "status",
        "reason",
    }
    assert json_format.MessageToDict(principal) == {
        "userId": "u1",
        "role": "ADMIN",
        "email": "lead@vendyz.dev",
    }
