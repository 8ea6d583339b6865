"""CircuitBreaker: opening on bursts and on failure rates, fast refusals, probing, recovery, per-key circuits."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import ConfigError, Denied, NotFound, Toolbox, ToolCall, Transient
from armorer_ray.middleware import CircuitBreaker, per_tenant
from armorer_ray.testing import mock_tool
from tests.middleware.conftest import FakeClock

KEY = "default:upstream"


def upstream(**options: object):  # type: ignore[no-untyped-def]
    return mock_tool("upstream", **options)  # type: ignore[arg-type]


def listen(box: Toolbox) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    box.on(["circuit.opened", "circuit.half-open", "circuit.closed"],
           lambda event: seen.append((event.type, event.detail["circuit"])))
    return seen


async def test_a_failure_burst_opens_the_circuit_then_probes_close_it(clock: FakeClock) -> None:
    tool = upstream()
    tool.mock_reject(Transient("503"))
    breaker = CircuitBreaker(failure_threshold=3, open_timeout_s=30, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    events = listen(box)
    burst = await asyncio.gather(*(box.execute(ToolCall(name="upstream")) for _ in range(3)))
    assert [r.error.code for r in burst if r.error] == ["TRANSIENT_ERROR"] * 3
    assert breaker.state(KEY) == "open"
    refused = await box.execute(ToolCall(name="upstream"))
    assert refused.error is not None and refused.error.code == "CIRCUIT_OPEN" and refused.error.retryable
    assert refused.error.details == {"retry_after_s": 30.0, "circuit": KEY}
    assert len(tool.calls) == 3, "an open circuit answers without calling the tool"
    clock.advance(29)
    assert (await box.execute(ToolCall(name="upstream"))).error.code == "CIRCUIT_OPEN"  # type: ignore[union-attr]
    clock.advance(1)
    tool.mock_resolve("recovered")
    probe = await box.execute(ToolCall(name="upstream"))
    assert probe.result == "recovered" and breaker.state(KEY) == "closed"
    assert events == [("circuit.opened", KEY), ("circuit.half-open", KEY), ("circuit.closed", KEY)]
    assert all(r.ok for r in await box.execute([ToolCall(name="upstream") for _ in range(5)]))


async def test_a_concurrent_burst_opens_the_circuit_once_and_recovery_admits_one_probe(clock: FakeClock) -> None:
    tool = upstream(delay_s=0.01)
    tool.mock_reject(Transient("503"))
    breaker = CircuitBreaker(failure_threshold=5, open_timeout_s=30, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    events = listen(box)
    burst = await asyncio.gather(*(box.execute(ToolCall(name="upstream")) for _ in range(50)))
    assert {r.error.code for r in burst if r.error} == {"TRANSIENT_ERROR"}, "all 50 were admitted while closed"
    assert events == [("circuit.opened", KEY)], "failures from before the opening do not re-open it"
    refused = await asyncio.gather(*(box.execute(ToolCall(name="upstream")) for _ in range(50)))
    assert {r.error.code for r in refused if r.error} == {"CIRCUIT_OPEN"} and len(tool.calls) == 50
    clock.advance(30)
    tool.mock_resolve("back")
    recovery = await asyncio.gather(*(box.execute(ToolCall(name="upstream")) for _ in range(20)))
    assert sum(r.ok for r in recovery) == 1 and len(tool.calls) == 51
    assert breaker.state(KEY) == "closed"
    after = await asyncio.gather(*(box.execute(ToolCall(name="upstream")) for _ in range(20)))
    assert all(r.ok for r in after)
    assert [kind for kind, _ in events] == ["circuit.opened", "circuit.half-open", "circuit.closed"]


async def test_a_failed_probe_opens_the_circuit_again(clock: FakeClock) -> None:
    tool = upstream()
    tool.mock_reject(Transient("503"))
    breaker = CircuitBreaker(failure_threshold=1, open_timeout_s=10, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    events = listen(box)
    await box.execute(ToolCall(name="upstream"))
    clock.advance(10)
    await box.execute(ToolCall(name="upstream"))
    assert breaker.state(KEY) == "open"
    assert [kind for kind, _ in events] == ["circuit.opened", "circuit.half-open", "circuit.opened"]
    clock.advance(9)
    assert (await box.execute(ToolCall(name="upstream"))).error.code == "CIRCUIT_OPEN"  # type: ignore[union-attr]


async def test_half_open_admits_only_the_probes_and_needs_all_of_them_to_succeed(clock: FakeClock) -> None:
    tool = upstream(delay_s=0.02)
    tool.mock_reject(Transient("503"))
    breaker = CircuitBreaker(failure_threshold=1, open_timeout_s=5, half_open_probes=3, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    await box.execute(ToolCall(name="upstream"))
    clock.advance(5)
    tool.mock_resolve("ok")
    results = await asyncio.gather(*(box.execute(ToolCall(name="upstream")) for _ in range(10)))
    assert sum(r.ok for r in results) == 3
    assert {r.error.code for r in results if r.error} == {"CIRCUIT_OPEN"}
    assert breaker.state(KEY) == "closed"


async def test_a_failure_rate_over_the_window_opens_the_circuit(clock: FakeClock) -> None:
    outcomes: list[object] = []
    for _ in range(5):
        outcomes += ["ok", Transient("503")]
    tool = upstream(outcomes=outcomes)
    breaker = CircuitBreaker(failure_threshold=None, failure_rate=0.5, min_calls=10, window_s=60, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    for _ in range(9):
        await box.execute(ToolCall(name="upstream"))
        assert breaker.state(KEY) == "closed", "the rate rule waits for min_calls"
    await box.execute(ToolCall(name="upstream"))
    assert breaker.state(KEY) == "open"


async def test_old_outcomes_leave_the_window(clock: FakeClock) -> None:
    tool = upstream(outcomes=[Transient("503")] * 5 + ["ok"] * 5 + [Transient("503")])
    breaker = CircuitBreaker(failure_threshold=None, failure_rate=0.5, min_calls=6, window_s=10, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    for _ in range(5):
        await box.execute(ToolCall(name="upstream"))
    clock.advance(11)
    for _ in range(6):
        await box.execute(ToolCall(name="upstream"))
    assert breaker.state(KEY) == "closed", "1 failure in 6 recent calls; the 5 old failures have aged out"


@pytest.mark.parametrize("failure", [NotFound("no such row"), Denied("not yours")])
async def test_failures_that_blame_the_call_do_not_count(clock: FakeClock, failure: Exception) -> None:
    tool = upstream()
    tool.mock_reject(failure)
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    for _ in range(5):
        await box.execute(ToolCall(name="upstream"))
    assert breaker.state(KEY) == "closed" and len(tool.calls) == 5


async def test_a_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    tool = upstream(outcomes=[Transient("1"), Transient("2"), "ok", Transient("3"), Transient("4")])
    breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    for _ in range(5):
        await box.execute(ToolCall(name="upstream"))
    assert breaker.state(KEY) == "closed"


async def test_circuits_per_key_fail_independently(clock: FakeClock) -> None:
    def body(tenant: str) -> str:
        if tenant == "acme":
            raise Transient("acme's region is down")
        return "ok"

    tool = upstream(impl=body)
    breaker = CircuitBreaker(failure_threshold=2, key=per_tenant, clock=clock)
    box = Toolbox([tool], middleware=[breaker])
    for _ in range(3):
        await box.execute(ToolCall(name="upstream", arguments={"tenant": "acme"}, tenant_id="acme"))
    result = await box.execute(ToolCall(name="upstream", arguments={"tenant": "globex"}, tenant_id="globex"))
    assert result.ok and breaker.states() == {"acme": "open", "globex": "closed"}
    breaker.reset("acme")
    assert breaker.state("acme") == "closed"


async def test_calls_admitted_before_the_circuit_opened_do_not_move_it_again(clock: FakeClock) -> None:
    slow = asyncio.Event()

    async def body(slow_call: bool) -> str:
        if slow_call:
            await slow.wait()
            return "late success"
        raise Transient("503")

    breaker = CircuitBreaker(failure_threshold=2, open_timeout_s=10, clock=clock)
    box = Toolbox([upstream(impl=body)], middleware=[breaker])
    late = asyncio.ensure_future(box.execute(ToolCall(name="upstream", arguments={"slow_call": True})))
    await asyncio.sleep(0.01)
    for _ in range(2):
        await box.execute(ToolCall(name="upstream", arguments={"slow_call": False}))
    assert breaker.state(KEY) == "open"
    slow.set()
    assert (await late).ok
    assert breaker.state(KEY) == "open", "a success from before the opening is no probe"


@pytest.mark.parametrize(
    "options",
    [{"failure_threshold": None}, {"failure_threshold": 0}, {"failure_rate": 1.5}, {"window_s": 0},
     {"open_timeout_s": -1}, {"half_open_probes": 0}, {"min_calls": 0}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        CircuitBreaker(**options)  # type: ignore[arg-type]
