"""How a host shares out each function's reserved concurrency among the worker processes."""

from __future__ import annotations

from localcloud.host import FunctionHost
from tests.unit.test_gateway import _template


def instances(host: FunctionHost) -> dict[str, int]:
    counts = {name: runtime.spec.concurrency for name, runtime in host.runtimes.items()}
    host.stop()
    return counts


def test_each_worker_gets_its_share_of_the_reserved_concurrency() -> None:
    # GIVEN functions reserving 4, 2 and 1 instances, hosted by 2 workers, no cap
    host = FunctionHost(_template(), None, hosts=2)
    # THEN each worker runs half of each, rounded up (a function keeps at least one)
    counts = instances(host)
    assert (counts["Echo"], counts["Slow"], counts["Record"]) == (2, 1, 1)


def test_instances_per_worker_caps_the_share() -> None:
    # GIVEN the same functions on one worker, capped at 3 instances per function
    host = FunctionHost(_template(), None, hosts=1, max_instances=3)
    # THEN none runs more than 3 there, and those reserving fewer keep their own bound
    counts = instances(host)
    assert (counts["Echo"], counts["Slow"], counts["Record"]) == (3, 2, 1)
