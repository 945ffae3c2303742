"""Contracts generated from proto/vendyz/*.proto by infra/codegen.py (`make proto`).

Do not edit the *_pb2.py / *_pb2.pyi files by hand; tests/unit/test_contracts.py fails when
they differ from a fresh generation.

- inventory_pb2: the Inventory RPC (ReserveStockRequest, ReserveStockResponse, Outcome)
- orders_pb2:    Order
- auth_pb2:      Principal (the authorizer context)
- events_pb2:    NATS event payloads; proto/vendyz/events.proto lists subject -> message
"""
