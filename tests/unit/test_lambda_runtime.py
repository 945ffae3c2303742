"""The local Lambda runtime behaves as Lambda does: instances are processes of their own, one
invocation at a time, frozen between invocations, killed past their timeout, throttled past
their reserved concurrency, with the function's environment only.

The functions are the fakes of tests/unit/fake_handlers.py, run as the local cloud runs the
template's: forked from the zygote, each instance its own process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.instance import FunctionError, InvocationTimedOut
from localcloud.runtime import DEFAULT_INSTANCE_CAP, FunctionRuntime, Throttled
from localcloud.template import FunctionSpec


@pytest.fixture
def make_runtime() -> Iterator[Any]:
    made: list[FunctionRuntime] = []

    def make(
        handler: str,
        *,
        name: str = "Fake",
        concurrency: int = 2,
        timeout: float = 5.0,
        instance_cap: int = DEFAULT_INSTANCE_CAP,
        **kw: Any,
    ) -> FunctionRuntime:
        spec = FunctionSpec(
            name=name,
            handler=f"tests.unit.fake_handlers.{handler}",
            environment={"GREETING": "hello"},
            concurrency=concurrency,
            timeout_seconds=timeout,
            **kw,
        )
        runtime = FunctionRuntime(spec, instance_cap=instance_cap)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.shutdown()


def run(*invocations: Any) -> list[Any]:
    """Run the invocations at the same time; each result, or the exception it raised."""

    async def together() -> list[Any]:
        return await asyncio.gather(*invocations, return_exceptions=True)

    return asyncio.run(together())


def test_each_instance_is_a_process_serving_one_invocation_at_a_time(make_runtime: Any) -> None:
    # GIVEN a function that may run 2 instances
    runtime = make_runtime("sleepy", concurrency=2)
    # WHEN two invocations run at once, then one more after them
    first, second = run(runtime.invoke({"seconds": 0.3}), runtime.invoke({"seconds": 0.3}))
    (third,) = run(runtime.invoke({}))
    # THEN the two ran in two processes other than this one, and the third reused a warm one
    assert first["pid"] != second["pid"]
    assert os.getpid() not in (first["pid"], second["pid"])
    assert third["pid"] in (first["pid"], second["pid"])
    assert sorted(runtime.instance_pids) == sorted([first["pid"], second["pid"]])


def test_past_the_reserved_concurrency_a_call_is_throttled_not_queued(
    make_runtime: Any,
) -> None:
    # GIVEN a function reserving 1 instance, busy with a slow invocation
    runtime = make_runtime("sleepy", concurrency=1)

    async def slow_then_another() -> list[Any]:
        slow = asyncio.ensure_future(runtime.invoke({"seconds": 0.5}))
        await asyncio.sleep(0.2)
        other = await asyncio.gather(runtime.invoke({}), return_exceptions=True)
        return [await slow, *other]

    # WHEN another call comes meanwhile
    slow, other = asyncio.run(slow_then_another())
    # THEN that one is throttled at once, and the slow one still completes
    assert isinstance(other, Throttled)
    assert "pid" in slow


def test_a_burst_past_the_local_cap_is_served_by_warm_instances_in_turn(
    make_runtime: Any,
) -> None:
    # GIVEN a function reserving 10 instances on a local cloud capped at 2 a function
    runtime = make_runtime("sleepy", concurrency=10, instance_cap=2)
    # WHEN 6 short invocations come at once
    results = run(*(runtime.invoke({"seconds": 0.05}) for _ in range(6)))
    # THEN none is throttled or fails, and two instances served them all
    assert all(isinstance(result, dict) for result in results), results
    assert len({result["pid"] for result in results}) == 2
    assert len(runtime.instance_pids) == 2


def test_past_the_cap_a_long_invocation_does_not_hold_back_the_next(make_runtime: Any) -> None:
    # GIVEN a function capped at 1 instance, busy with a 2 s invocation
    runtime = make_runtime("sleepy", concurrency=3, instance_cap=1)

    async def slow_then_quick() -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        finished: list[str] = []

        async def call(name: str, seconds: float) -> dict[str, Any]:
            result: dict[str, Any] = await runtime.invoke({"seconds": seconds})
            finished.append(name)
            return result

        slow = asyncio.ensure_future(call("slow", 2.0))
        await asyncio.sleep(0.1)
        quick = await call("quick", 0)
        return await slow, quick, finished

    # WHEN a short invocation comes meanwhile
    slow, quick, finished = asyncio.run(slow_then_quick())
    # THEN it gets an instance of its own, as in Lambda, and finishes first
    assert quick["pid"] != slow["pid"]
    assert finished == ["quick", "slow"]


def test_invocations_waiting_for_an_instance_count_toward_the_reserved_concurrency(
    make_runtime: Any,
) -> None:
    # GIVEN a function reserving 2, capped at 1 instance, busy with a slow invocation
    runtime = make_runtime("sleepy", concurrency=2, instance_cap=1)

    async def three() -> list[Any]:
        slow = asyncio.ensure_future(runtime.invoke({"seconds": 0.5}))
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(runtime.invoke({}))
        await asyncio.sleep(0.05)
        third = await asyncio.gather(runtime.invoke({}), return_exceptions=True)
        return [await slow, await waiting, *third]

    # WHEN a second invocation waits for it and a third comes
    slow, waiting, third = asyncio.run(three())
    # THEN the third is throttled (two are in flight), the other two complete
    assert isinstance(third, Throttled)
    assert "pid" in slow
    assert "pid" in waiting


def test_a_caller_that_gives_up_while_waiting_leaves_the_instance_usable(
    make_runtime: Any,
) -> None:
    # GIVEN a function capped at 1 instance, busy with a 0.2 s invocation
    runtime = make_runtime("sleepy", concurrency=3, instance_cap=1)

    async def give_up_then_call() -> tuple[Any, Any, Any]:
        busy = asyncio.ensure_future(runtime.invoke({"seconds": 0.2}))
        await asyncio.sleep(0.05)
        # WHEN a caller waiting for that instance gives up before it is free
        gave_up = await asyncio.gather(
            asyncio.wait_for(runtime.invoke({}), 0.05), return_exceptions=True
        )
        return await busy, gave_up[0], await runtime.invoke({})

    busy, gave_up, after = asyncio.run(give_up_then_call())
    # THEN the next call is served by the same warm instance
    assert isinstance(gave_up, TimeoutError)
    assert after["pid"] == busy["pid"]
    assert runtime.instance_pids == [busy["pid"]]


def test_a_thread_started_by_a_handler_does_not_run_between_invocations(
    make_runtime: Any,
) -> None:
    # GIVEN an instance whose handler started a thread ticking every 10 ms
    runtime = make_runtime("ticker", concurrency=1)
    (started,) = run(runtime.invoke({"start": True}))
    # WHEN the instance sits idle for half a second between two invocations
    time.sleep(0.5)
    (later,) = run(runtime.invoke({}))
    # THEN the thread was frozen with its instance: it did not tick ~50 times meanwhile
    assert later["ticks"] - started["ticks"] < 10


def test_module_state_is_not_shared_between_functions_or_instances(make_runtime: Any) -> None:
    # GIVEN two functions with the same handler module
    first = make_runtime("count", name="First", concurrency=1)
    second = make_runtime("count", name="Second", concurrency=1)
    # WHEN the first is invoked twice and the second once
    one, two = run(first.invoke({})), run(first.invoke({}))
    (other,) = run(second.invoke({}))
    # THEN each counts its own invocations only
    assert (one[0]["invocations"], two[0]["invocations"]) == (1, 2)
    assert other["invocations"] == 1


def test_a_handler_past_its_timeout_is_killed_and_the_next_call_gets_a_fresh_instance(
    make_runtime: Any,
) -> None:
    # GIVEN a function with a 1 s timeout, one warm instance
    runtime = make_runtime("sleepy", concurrency=1, timeout=1.0)
    (warm,) = run(runtime.invoke({}))
    # WHEN an invocation runs for 3 s
    (timed_out,) = run(runtime.invoke({"seconds": 3}))
    # THEN the caller gets Lambda's timeout error and the instance is gone
    assert isinstance(timed_out, InvocationTimedOut)
    assert timed_out.payload["errorType"] == "Sandbox.Timedout"
    assert timed_out.payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert warm["pid"] not in runtime.instance_pids
    # AND the next call runs on a fresh instance
    (fresh,) = run(runtime.invoke({}))
    assert fresh["pid"] != warm["pid"]


def test_the_handler_sees_the_function_environment_only_and_its_deadline(
    make_runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a variable in the calling process's environment, not in the function's
    monkeypatch.setenv("GATEWAY_ONLY_SECRET", "nope")
    runtime = make_runtime("environment", name="EnvFunction", memory_mb=256)
    # WHEN the function reports its environment
    (environment,) = run(runtime.invoke({}))
    # THEN it has its template variables and Lambda's, and nothing of the caller's
    assert environment["GREETING"] == "hello"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "EnvFunction"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environment["_HANDLER"] == "tests.unit.fake_handlers.environment"
    assert environment["AWS_REGION"] == "us-east-1"
    assert "GATEWAY_ONLY_SECRET" not in environment
    # AND the context counts down from the function's timeout
    (timing,) = run(make_runtime("sleepy", timeout=4.0).invoke({}))
    assert 3000 < timing["remainingMs"] <= 4000


@pytest.mark.skipif(not os.path.exists("/proc/self/comm"), reason="Linux process names")
def test_each_instance_shows_its_function_in_the_process_list(make_runtime: Any) -> None:
    # GIVEN two functions, one named past the 15 bytes a Linux process name holds
    short = make_runtime("sleepy", name="OrdersFunction")
    long = make_runtime("sleepy", name="AuthorizerFunction")
    # WHEN each serves an invocation
    (first,) = run(short.invoke({}))
    (second,) = run(long.invoke({}))
    # THEN ps and top show each instance by its function's name
    assert Path(f"/proc/{first['pid']}/comm").read_text().strip() == "OrdersFunction"
    assert Path(f"/proc/{second['pid']}/comm").read_text().strip() == "AuthorizerFunct"


def test_memory_past_memory_size_ends_the_invocation_and_the_instance(make_runtime: Any) -> None:
    # GIVEN a function with MemorySize 256
    runtime = make_runtime("hog", concurrency=1, memory_mb=256)
    # WHEN one invocation allocates 400 MB, and the next 10 MB
    (too_much,) = run(runtime.invoke({"mb": 400}))
    (modest,) = run(runtime.invoke({"mb": 10}))
    # THEN the first fails as Lambda's out-of-memory error, the next succeeds
    assert isinstance(too_much, FunctionError)
    assert too_much.payload["errorType"] == "Runtime.OutOfMemory"
    assert modest == {"allocated": 10 * 1024 * 1024}


def test_a_cold_start_is_logged_with_its_init_duration(
    make_runtime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a function never invoked
    runtime = make_runtime("count", name="Logged")
    # WHEN it is invoked twice
    with caplog.at_level(logging.INFO, logger="localcloud.lambda"):
        run(runtime.invoke({}))
        run(runtime.invoke({}))
    # THEN the first (cold) invocation has a REPORT line with its Init Duration, the warm not
    reports = [r.getMessage() for r in caplog.records if "REPORT" in r.getMessage()]
    assert len(reports) == 1
    assert reports[0].startswith("Logged REPORT RequestId: ")
    assert "Init Duration: " in reports[0]
    assert "Memory Size: 512 MB" in reports[0]
