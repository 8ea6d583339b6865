"""AdmissionController: a global concurrency limit, a priority queue that keeps the most important work, shedding."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import ConfigError, Toolbox, ToolCall, ToolResult
from armorer_ray.middleware import AdmissionController
from armorer_ray.testing import mock_tool


class Gate:
    """Bodies that record their start and wait until released; tracks how many run at once."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.running = 0
        self.peak = 0
        self.release = asyncio.Event()

    async def body(self, label: str) -> str:
        self.order.append(label)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return label


def call(label: str, priority: int = 0, name: str = "work") -> ToolCall:
    return ToolCall(id=label, name=name, arguments={"label": label}, priority=priority)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_limit_holds_across_every_tool() -> None:
    gate = Gate()
    tools = [mock_tool(name, impl=gate.body) for name in ("a", "b", "c")]
    admission = AdmissionController(max_concurrency=2)
    box = Toolbox(tools, middleware=[admission])
    tasks = [asyncio.ensure_future(box.execute(call(f"{name}{i}", name=name))) for i in range(4) for name in "abc"]
    await settle()
    assert gate.running == 2 and admission.stats().queued == 10
    gate.release.set()
    results = await asyncio.gather(*tasks)
    assert all(r.ok for r in results) and gate.peak == 2
    assert admission.stats() == admission.stats().model_copy(update={"in_flight": 0, "queued": 0, "admitted": 12,
                                                                    "shed": 0})


async def test_priorities_are_honoured_under_a_full_queue() -> None:
    gate = Gate()
    admission = AdmissionController(max_concurrency=1, max_queued=3)
    box = Toolbox([mock_tool("work", impl=gate.body)], middleware=[admission])
    shed_events: list[str] = []
    box.on("admission.shed", lambda event: shed_events.append(event.detail["call"].id))
    running = asyncio.ensure_future(box.execute(call("running")))
    await settle()
    queued = {label: asyncio.ensure_future(box.execute(call(label, priority)))
              for label, priority in [("low-1", 1), ("high", 5), ("low-2", 1)]}
    await settle()
    assert admission.stats().queued == 3
    queued["mid"] = asyncio.ensure_future(box.execute(call("mid", 3)))  # full: evicts the newest lowest, low-2
    queued["lowest"] = asyncio.ensure_future(box.execute(call("lowest", 0)))  # full and outranked: shed at once
    await settle()
    gate.release.set()
    results: dict[str, ToolResult] = {label: await task for label, task in queued.items()}
    assert (await running).ok
    assert gate.order == ["running", "high", "mid", "low-1"]
    for label in ("low-2", "lowest"):
        error = results[label].error
        assert error is not None
        assert (error.code, error.category, error.retryable) == ("BACKPRESSURE", "transient", True)
    assert sorted(shed_events) == ["low-2", "lowest"]
    assert admission.stats().shed == 2


async def test_equal_priorities_run_first_come_first_served() -> None:
    gate = Gate()
    box = Toolbox([mock_tool("work", impl=gate.body)], middleware=[AdmissionController(max_concurrency=1)])
    tasks = [asyncio.ensure_future(box.execute(call(f"c{i}"))) for i in range(6)]
    await settle()
    gate.release.set()
    await asyncio.gather(*tasks)
    assert gate.order == [f"c{i}" for i in range(6)]


async def test_a_call_that_waits_too_long_is_shed() -> None:
    gate = Gate()
    box = Toolbox([mock_tool("work", impl=gate.body)],
                  middleware=[AdmissionController(max_concurrency=1, max_wait_s=0.02)])
    running = asyncio.ensure_future(box.execute(call("running")))
    await settle()
    waited = await box.execute(call("waiting"))
    assert waited.error is not None and waited.error.code == "BACKPRESSURE" and "0.02s" in waited.error.message
    gate.release.set()
    assert (await running).ok


async def test_cancelling_a_waiting_call_frees_its_place_and_keeps_the_count_right() -> None:
    gate = Gate()
    admission = AdmissionController(max_concurrency=1, max_queued=1)
    box = Toolbox([mock_tool("work", impl=gate.body)], middleware=[admission])
    running = asyncio.ensure_future(box.execute(call("running")))
    await settle()
    waiting = asyncio.ensure_future(box.execute(call("waiting")))
    await settle()
    waiting.cancel()
    await settle()
    replacement = asyncio.ensure_future(box.execute(call("replacement")))
    await settle()
    assert admission.stats().queued == 1
    gate.release.set()
    assert (await running).ok and (await replacement).ok and waiting.cancelled()
    assert admission.stats().in_flight == 0 and gate.order == ["running", "replacement"]


async def test_without_a_queue_calls_are_shed_as_soon_as_all_slots_are_busy() -> None:
    gate = Gate()
    box = Toolbox([mock_tool("work", impl=gate.body)],
                  middleware=[AdmissionController(max_concurrency=1, max_queued=0)])
    running = asyncio.ensure_future(box.execute(call("running")))
    await settle()
    assert (await box.execute(call("extra"))).error.code == "BACKPRESSURE"  # type: ignore[union-attr]
    gate.release.set()
    await running


async def test_calls_made_by_a_running_call_use_its_slot_instead_of_deadlocking() -> None:
    from armorer_ray.compose import pipe

    first = mock_tool("first", impl=lambda: {"text": "x"})
    second = mock_tool("second", impl=lambda text: text * 2)
    chain = pipe(first, second)
    admission = AdmissionController(max_concurrency=1, max_queued=10)
    box = Toolbox([first, second, chain], middleware=[admission])
    result = await asyncio.wait_for(box.execute(ToolCall(name=chain.name)), 5)
    assert result.result == "xx" and admission.stats().admitted == 1 and admission.stats().in_flight == 0


@pytest.mark.parametrize("options", [{"max_concurrency": 0}, {"max_concurrency": 1, "max_queued": -1},
                                     {"max_concurrency": 1, "max_wait_s": -1}])
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        AdmissionController(**options)  # type: ignore[arg-type]
