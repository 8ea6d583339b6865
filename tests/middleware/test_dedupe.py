"""Dedupe: concurrent identical calls share one execution; each caller gets the result under its own id."""

from __future__ import annotations

import asyncio

from armorer_ray import Toolbox, ToolCall, Transient
from armorer_ray.middleware import Dedupe
from armorer_ray.testing import mock_tool


def call(call_id: str, **options: object) -> ToolCall:
    return ToolCall(id=call_id, name="search", arguments=options.pop("arguments", {"q": "ray"}), **options)  # type: ignore[arg-type]


async def test_fifty_identical_concurrent_calls_run_once() -> None:
    search = mock_tool("search", impl=lambda q: {"hits": [q]}, delay_s=0.01, read_only=True)
    dedupe = Dedupe()
    box = Toolbox([search], middleware=[dedupe])
    results = await asyncio.gather(*(box.execute(call(f"c{i}")) for i in range(50)))
    assert len(search.calls) == 1
    assert [r.call_id for r in results] == [f"c{i}" for i in range(50)]
    assert all(r.result == {"hits": ["ray"]} for r in results)
    assert dedupe.in_flight == 0
    await box.execute(call("later"))
    assert len(search.calls) == 2, "only in-flight calls are shared; finished ones are not remembered"


async def test_argument_order_does_not_matter_but_values_and_tenants_do() -> None:
    search = mock_tool("search", impl=lambda **kw: kw, delay_s=0.01, read_only=True)
    box = Toolbox([search], middleware=[Dedupe()])
    await asyncio.gather(
        box.execute(call("a", arguments={"q": "ray", "k": 1})),
        box.execute(call("b", arguments={"k": 1, "q": "ray"})),
        box.execute(call("c", arguments={"q": "ray", "k": 2})),
        box.execute(call("d", arguments={"q": "ray", "k": 1}, tenant_id="other")),
    )
    assert len(search.calls) == 3


async def test_failures_are_shared_too() -> None:
    search = mock_tool("search", outcomes=[Transient("down")], delay_s=0.01, read_only=True)
    box = Toolbox([search], middleware=[Dedupe()])
    results = await asyncio.gather(*(box.execute(call(f"c{i}")) for i in range(5)))
    assert len(search.calls) == 1
    assert {r.error.code for r in results if r.error} == {"TRANSIENT_ERROR"}
    assert [r.call_id for r in results] == [f"c{i}" for i in range(5)]


async def test_mutating_tools_are_not_collapsed_unless_metadata_says_so() -> None:
    send = mock_tool("search", delay_s=0.01)
    box = Toolbox([send], middleware=[Dedupe()])
    await asyncio.gather(*(box.execute(call(f"c{i}")) for i in range(3)))
    assert len(send.calls) == 3
    opted_in = mock_tool("search", delay_s=0.01, metadata={"dedupe": True})
    box = Toolbox([opted_in], middleware=[Dedupe()])
    await asyncio.gather(*(box.execute(call(f"c{i}")) for i in range(3)))
    assert len(opted_in.calls) == 1


async def test_the_first_caller_cancelling_does_not_fail_the_others() -> None:
    search = mock_tool("search", impl=lambda q: q, delay_s=0.05, read_only=True)
    box = Toolbox([search], middleware=[Dedupe()])
    first = asyncio.ensure_future(box.execute(call("first")))
    await asyncio.sleep(0.01)
    others = [asyncio.ensure_future(box.execute(call(f"c{i}"))) for i in range(3)]
    await asyncio.sleep(0.01)
    first.cancel()
    results = await asyncio.gather(*others)
    assert [r.result for r in results] == ["ray"] * 3 and [r.call_id for r in results] == ["c0", "c1", "c2"]
    assert len(search.calls) == 2, "the cancelled leader's run stopped; one waiter ran it again for all"
    assert first.cancelled()


async def test_a_waiting_caller_that_gives_up_leaves_the_others_be() -> None:
    search = mock_tool("search", impl=lambda q: q, delay_s=0.03, read_only=True)
    box = Toolbox([search], middleware=[Dedupe()])
    callers = [asyncio.ensure_future(box.execute(call(f"c{i}"))) for i in range(3)]
    await asyncio.sleep(0.01)
    callers[1].cancel()
    first, third = await asyncio.gather(callers[0], callers[2])
    assert (first.result, third.result, len(search.calls)) == ("ray", "ray", 1) and callers[1].cancelled()


async def test_the_execution_stops_when_every_caller_gave_up() -> None:
    stopped = asyncio.Event()

    async def body(q: str) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return q

    dedupe = Dedupe()
    box = Toolbox([mock_tool("search", impl=body, read_only=True)], middleware=[dedupe])
    callers = [asyncio.ensure_future(box.execute(call(f"c{i}"))) for i in range(3)]
    await asyncio.sleep(0.01)
    for caller in callers:
        caller.cancel()
    await asyncio.wait_for(stopped.wait(), 5)
    assert dedupe.in_flight == 0
    assert all(caller.cancelled() for caller in callers)


async def test_dry_runs_do_not_share_with_real_runs() -> None:
    search = mock_tool("search", impl=lambda q: "real", delay_s=0.01, read_only=True, dry_run=lambda **kw: "dry")
    box = Toolbox([search], middleware=[Dedupe()])
    real, dry = await asyncio.gather(box.execute(call("a")), box.execute(call("b"), dry_run=True))
    assert (real.result, dry.result) == ("real", "dry")
