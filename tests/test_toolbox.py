"""Toolbox: registration rules, lookup, batches, limits, budgets, deadlines, cancellation, lifecycle."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from armorer_ray import (
    AbortController,
    Approval,
    Budget,
    CallContext,
    ConfigError,
    Decision,
    MemoryApprovalBook,
    PolicyContext,
    Toolbox,
    ToolCall,
    ToolExecutionError,
    combine_toolboxes,
    tool,
)
from armorer_ray.testing import mock_tool


def named(name: str, value: object = None, **options: object) -> object:
    return tool(name=name, description=f"{name} tool.", **options)(lambda: value)  # type: ignore[call-overload]


def test_duplicate_ids_are_refused_unless_replaced() -> None:
    box = Toolbox([named("a", 1)])
    with pytest.raises(ConfigError, match="Tool already registered: default:a"):
        box.register(named("a", 2))  # type: ignore[arg-type]
    box.register(named("a", 2), replace=True)  # type: ignore[arg-type]
    assert box.execute_sync({"name": "a"}).result == 2
    assert len(box) == 1


def test_same_name_in_other_namespaces_coexist_and_a_shared_bare_name_is_ambiguous() -> None:
    first = named("echo", "one", namespace="x")
    second = named("echo", "two", namespace="y")
    box = Toolbox([first, second])  # type: ignore[list-item]
    assert box.get_tool("echo") is None  # issue 17: never run one of two namespaces' tools silently
    refused = box.execute_sync({"name": "echo"})
    assert refused.error is not None and "ambiguous" in refused.error.message and "y:echo" in refused.error.message
    assert box.get_tool("x:echo") is first
    assert box.execute_sync({"name": "x:echo"}).result == "one"
    assert box.ids() == ["x:echo", "y:echo"]


def test_aliases_resolve_and_conflicts_are_refused() -> None:
    box = Toolbox()
    box.register(named("search", 1), aliases=["find"])  # type: ignore[arg-type]
    assert box.execute_sync({"name": "find"}).result == 1
    with pytest.raises(ConfigError, match="Alias already registered: find"):
        box.register(named("other"), aliases=["find"])  # type: ignore[arg-type]
    assert box.to_json()[0]["aliases"] == ["find"]


def test_unregister_and_lookups() -> None:
    box = Toolbox([named("a"), named("b")])  # type: ignore[list-item]
    removed = box.unregister("a")
    assert removed.name == "a" and "a" not in box and "b" in box
    assert box.get_missing_tools(["a", "b", "c"]) == ["a", "c"]
    assert box.has_all_tools([]) and not box.has_all_tools(["a"])
    with pytest.raises(KeyError):
        box.unregister("a")


def test_non_tools_are_refused() -> None:
    with pytest.raises(ConfigError, match="Toolbox accepts Tool objects"):
        Toolbox([lambda: 1])  # type: ignore[list-item]


async def test_unknown_tool_gives_not_found_result_listing_tools() -> None:
    box = Toolbox([named("alpha")])  # type: ignore[list-item]
    events: list[str] = []
    box.on("*", lambda event: events.append(event.type))
    result = await box.execute({"name": "beta", "arguments": {}})
    assert result.error is not None and result.error.code == "NOT_FOUND"
    assert "Available tools: alpha" in result.error.message and result.tool_name == "beta"
    assert events == ["call.refused"]


async def test_malformed_calls_become_validation_results() -> None:
    box = Toolbox([named("a")])  # type: ignore[list-item]
    bad = await box.execute({"id": "x1", "name": 42, "arguments": {}})
    assert bad.call_id == "x1" and bad.error is not None and bad.error.category == "validation"
    text = await box.execute({"name": "a", "arguments": "{not json"})
    assert text.error is not None and text.error.category == "validation"
    with pytest.raises(ConfigError):
        await box.execute("a")  # type: ignore[call-overload]


async def test_missing_ids_are_generated_and_arguments_default_to_empty() -> None:
    box = Toolbox([named("a", 1)])  # type: ignore[list-item]
    result = await box.execute({"name": "a", "id": ""})
    assert len(result.call_id) == 32 and result.result == 1


async def test_batch_preserves_order_and_sequential_mode_runs_one_at_a_time() -> None:
    running = 0
    peak = 0

    @tool
    async def slow(n: int) -> int:
        """Slow echo."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01 * (5 - n))
        running -= 1
        return n

    box = Toolbox([slow])
    calls = [ToolCall(name="slow", arguments={"n": n}) for n in range(5)]
    parallel = await box.execute(calls)
    assert [r.result for r in parallel] == [0, 1, 2, 3, 4] and peak > 1
    peak = 0
    sequential = await box.execute(calls, mode="sequential")
    assert [r.result for r in sequential] == [0, 1, 2, 3, 4] and peak == 1
    peak = 0
    await box.execute(calls, concurrency=2)
    assert peak == 2


async def test_fail_fast_raises_the_first_failure() -> None:
    ok = mock_tool("ok", impl=lambda: "fine", delay_s=0.05)
    bad = mock_tool("bad", outcomes=[ValueError("broken")])
    box = Toolbox([ok, bad])
    with pytest.raises(ToolExecutionError) as info:
        await box.execute([{"name": "ok"}, {"name": "bad"}], error_mode="fail_fast")
    assert info.value.error.code == "ValueError" and info.value.result is not None
    with pytest.raises(ToolExecutionError):
        await box.execute({"name": "nope"}, error_mode="fail_fast")


async def test_per_tool_concurrency_limit_serialises_calls() -> None:
    active = 0
    peak = 0

    async def body() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1

    limited = tool(name="limited", description="Limited.", metadata={"concurrency": 1})(body)
    unlimited = tool(name="free", description="Free.", concurrency=0)(body)
    box = Toolbox([limited, unlimited])
    await box.execute([{"name": "limited"}] * 6)
    assert peak == 1
    peak = 0
    await box.execute([{"name": "free"}] * 6)
    assert peak == 6


async def test_toolbox_default_tool_concurrency_applies_per_tool() -> None:
    active = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    def make(name: str) -> object:
        async def body() -> None:
            active[name] += 1
            peak[name] = max(peak[name], active[name])
            await asyncio.sleep(0.005)
            active[name] -= 1

        return tool(name=name, description="X.")(body)

    box = Toolbox([make("a"), make("b")], tool_concurrency=2)  # type: ignore[list-item]
    await box.execute([{"name": "a"}, {"name": "b"}] * 5)
    assert peak == {"a": 2, "b": 2}


async def test_budget_max_calls_and_duration() -> None:
    box = Toolbox([named("a", 1)], budget=Budget(max_calls=1))  # type: ignore[list-item]
    events: list[str] = []
    box.on("call.refused", lambda e: events.append(e.detail["result"].error.code))
    assert (await box.execute({"name": "a"})).ok
    second = await box.execute({"name": "a"})
    assert second.error is not None and second.error.code == "BUDGET_EXCEEDED"
    assert second.error.category == "conflict" and "max calls 1" in second.error.message
    assert events == ["BUDGET_EXCEEDED"]
    expired = Toolbox([named("a", 1)], budget=Budget(max_duration_s=0))  # type: ignore[list-item]
    assert (await expired.execute({"name": "a"})).error.code == "BUDGET_EXCEEDED"  # type: ignore[union-attr]


async def test_timeout_cancels_an_async_body() -> None:
    finished = []

    @tool(timeout_s=0.05)
    async def hang() -> None:
        """Hang."""
        await asyncio.sleep(5)
        finished.append(True)

    result = await Toolbox([hang]).execute({"name": "hang"})
    assert result.error is not None and result.error.category == "timeout" and result.error.retryable
    assert result.error.code == "TIMEOUT"
    await asyncio.sleep(0.05)
    assert finished == []


async def test_timeout_interrupts_a_sync_body_in_its_thread() -> None:
    progress: list[int] = []
    stopped = threading.Event()

    @tool
    def spin() -> None:
        """Busy loop."""
        try:
            for i in range(10_000_000):
                progress.append(i)
                time.sleep(0.001)
        except BaseException:
            stopped.set()
            raise

    result = await Toolbox([spin]).execute({"name": "spin"}, timeout_s=0.05)
    assert result.error is not None and result.error.category == "timeout"
    assert await asyncio.to_thread(stopped.wait, 2.0), "the sync body should have been interrupted"
    count = len(progress)
    await asyncio.sleep(0.05)
    assert len(progress) == count


async def test_deadline_aborts_the_signal_a_sync_body_can_poll() -> None:
    seen: list[CallContext] = []

    @tool
    def careful(ctx: CallContext) -> None:
        """Polls its signal."""
        seen.append(ctx)
        while not ctx.signal.aborted:
            time.sleep(0.001)

    result = await Toolbox([careful]).execute({"name": "careful"}, timeout_s=0.02)
    assert result.error is not None and result.error.category == "timeout"
    assert seen[0].signal.aborted and "timed out" in str(seen[0].signal.reason)


async def test_abort_signal_cancels_running_calls_with_its_reason() -> None:
    @tool
    async def wait() -> None:
        """Wait."""
        await asyncio.sleep(5)

    box = Toolbox([wait])
    controller = AbortController()
    pending = asyncio.ensure_future(box.execute([{"name": "wait"}, {"name": "wait"}], signal=controller.signal))
    await asyncio.sleep(0.02)
    controller.abort({"why": "user"})
    results = await pending
    assert [r.error.category for r in results] == ["cancelled", "cancelled"]  # type: ignore[union-attr]
    assert results[0].content == 'Cancelled: {"why":"user"}'
    already = await box.execute({"name": "wait"}, signal=controller.signal)
    assert already.error is not None and already.error.category == "cancelled"


async def test_caller_cancellation_propagates_and_stops_the_body() -> None:
    stopped = asyncio.Event()

    @tool
    async def wait() -> None:
        """Wait."""
        try:
            await asyncio.sleep(5)
        finally:
            stopped.set()

    box = Toolbox([wait])
    finished: list[str] = []
    box.on("tool.finished", lambda e: finished.append(e.detail["status"]))
    task = asyncio.ensure_future(box.execute({"name": "wait"}))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set() and finished == ["cancelled"] and box.in_flight == 0


async def test_toolbox_context_reaches_tools() -> None:
    @tool
    def tenant(ctx: CallContext) -> str:
        """Tenant."""
        return f"{ctx['workspace']}:{ctx.tenant_id}"

    box = Toolbox([tenant], context={"workspace": "w1"})
    assert (await box.execute(ToolCall(name="tenant", tenant_id="t9"))).result == "w1:t9"


def test_combine_toolboxes_merges_contexts_and_later_wins() -> None:
    a = Toolbox([named("echo", "a"), named("only-a")], context={"workspace": "w", "shared": "a"})  # type: ignore[list-item]
    b = Toolbox([named("echo", "b")], context={"role": "r", "shared": "b"})  # type: ignore[list-item]
    both = combine_toolboxes(a, b)
    assert dict(both.context) == {"workspace": "w", "shared": "b", "role": "r"}
    assert both.execute_sync({"name": "echo"}).result == "b"
    assert len(both) == 2
    with pytest.raises(ConfigError, match="at least 1 Toolbox"):
        combine_toolboxes()


def test_extend_returns_a_new_toolbox() -> None:
    base = Toolbox([named("a")])  # type: ignore[list-item]
    bigger = base.extend(named("b"))  # type: ignore[arg-type]
    assert len(base) == 1 and len(bigger) == 2


async def test_lifecycle_hooks_run_once_and_drain_waits_for_calls() -> None:
    order: list[str] = []

    @tool
    async def work() -> str:
        """Work."""
        await asyncio.sleep(0.05)
        order.append("work-done")
        return "done"

    box = Toolbox([work], on_start=[lambda: order.append("start")], on_drain=[lambda box: order.append("drain")],
                  on_stop=[lambda: order.append("stop")])
    async with box:
        await box.start()
        pending = asyncio.ensure_future(box.execute({"name": "work"}))
        await asyncio.sleep(0.01)
        assert (await box.health()).ok
    assert (await pending).result == "done"
    await box.stop()
    assert order == ["start", "work-done", "drain", "stop"]
    assert not (await box.health()).ok


def test_execute_sync_refuses_inside_an_event_loop() -> None:
    box = Toolbox([named("a")])  # type: ignore[list-item]

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="use `await toolbox.execute"):
            box.execute_sync({"name": "a"})

    asyncio.run(inside())


def test_execute_sync_reuses_one_loop_across_calls() -> None:
    limited = tool(name="lim", description="L.", concurrency=1)(lambda: 1)
    box = Toolbox([limited])
    for _ in range(3):
        assert [r.result for r in box.execute_sync([{"name": "lim"}] * 3)] == [1, 1, 1]


async def test_cancelling_one_caller_leaves_a_shared_signal_alone() -> None:
    @tool
    async def wait() -> str:
        """Wait."""
        await asyncio.sleep(0.05)
        return "done"

    box = Toolbox([wait])
    shared = AbortController()
    first = asyncio.ensure_future(box.execute({"name": "wait"}, signal=shared.signal))
    second = asyncio.ensure_future(box.execute({"name": "wait"}, signal=shared.signal))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await second).result == "done"
    assert not shared.signal.aborted


def test_digests_of_arguments_holding_dates_and_sets() -> None:
    import datetime

    from armorer_ray.json_values import canonical_json, digest

    value = {"when": datetime.date(2026, 1, 2), "ids": {3}}
    assert canonical_json(value) == '{"ids":[3],"when":"2026-01-02"}'
    assert len(digest(value)) == 64


def gate_publishing(ctx: PolicyContext) -> Decision | None:
    """Deny drafts, ask for a reviewer's note on pages marked ``needs_note``, else ask for approval."""
    if ctx.params["page"] == "draft":
        return Decision.deny("drafts are never published")
    if ctx.params["page"] == "needs_note":
        note = ctx.approval.input if ctx.approval is not None else None
        return None if isinstance(note, str) else Decision.needs_input("a reviewer's note, please")
    return Decision.needs_approval("publish?")


@tool
def publish(page: str, ctx: CallContext) -> str:
    """Publish a page, saying who approved it and with which note."""
    approval = ctx.approval
    return f"{page} by {approval.by if approval else None} note {approval.input if approval else None}"


async def test_execute_with_an_approval_runs_the_call_as_already_approved() -> None:
    book = MemoryApprovalBook()
    box = Toolbox([publish], policy=gate_publishing, approvals=book)
    call = ToolCall(id="c1", name="publish", arguments={"page": "home"})
    assert (await box.execute(call)).outcome == "action_required"
    assert len(book) == 1
    approved = await box.execute(call, approval=Approval(True, by="ada"))
    assert (approved.outcome, approved.call_id, approved.result) == ("success", "c1", "home by ada note None")
    assert len(book) == 1  # nothing paused, and the earlier token is untouched
    denied = await box.execute({"name": "publish", "arguments": {"page": "draft"}}, approval=Approval(True))
    assert denied.error is not None and denied.error.code == "POLICY_DENIED"  # an approval never overrides a deny
    asked = await box.execute({"name": "publish", "arguments": {"page": "needs_note"}}, approval=Approval(True))
    assert asked.action is not None and asked.action.type == "input"  # needs_input wants the input itself
    noted = await box.execute({"name": "publish", "arguments": {"page": "needs_note"}},
                              approval=Approval(True, input="typo fixed", by="bo"))
    assert noted.result == "needs_note by bo note typo fixed"
    batch = await box.execute([{"name": "publish", "arguments": {"page": p}} for p in ("a", "b")],
                              approval=Approval(True, by="cy"))
    assert [r.result for r in batch] == ["a by cy note None", "b by cy note None"]


async def test_execute_with_a_rejection_fails_without_running_the_body() -> None:
    body = mock_tool("send", outcomes=["sent"] * 3)
    box = Toolbox([body], policy=lambda ctx: Decision.needs_approval("send?"))
    results = await box.execute([{"id": "a", "name": "send"}, {"id": "b", "name": "send"}],
                                approval=Approval(False, by="ops", reason="not this week"))
    assert [(r.call_id, r.outcome) for r in results] == [("a", "error"), ("b", "error")]
    error = results[0].error
    assert error is not None and (error.category, error.code) == ("permission", "APPROVAL_REJECTED")
    assert error.message == "Approval rejected: not this week"
    assert body.calls == []
    missing = await box.execute({"name": "nope"}, approval=Approval(False))
    assert missing.error is not None and missing.error.category == "not_found"  # resolution comes first


def test_a_body_raising_action_required_pauses_like_a_policy_and_resumes() -> None:
    from armorer_ray import ActionRequired

    runs: list[bool] = []

    @tool(mutates=True)
    def transfer(amount: int, ctx: CallContext) -> str:
        """Transfer money; large amounts need a person."""
        granted = ctx.approval is not None and ctx.approval.granted
        runs.append(granted)
        if amount > 100 and not granted:
            raise ActionRequired(f"transfer of {amount} needs approval")
        return f"sent {amount}"

    box = Toolbox([transfer])
    paused = box.execute_sync({"name": "transfer", "arguments": {"amount": 500}})
    assert paused.outcome == "action_required" and paused.action is not None
    assert paused.action.type == "approval" and paused.action.message == "transfer of 500 needs approval"
    resumed = box.resume_sync(paused.action.resume_token)  # type: ignore[arg-type]
    assert resumed.result == "sent 500" and runs == [False, True]
    rejected = box.execute_sync({"name": "transfer", "arguments": {"amount": 200}})
    refused = box.resume_sync(rejected.action.resume_token, approved=False)  # type: ignore[union-attr,arg-type]
    assert refused.error is not None and refused.error.code == "APPROVAL_REJECTED"


async def test_a_batch_runs_waiting_calls_as_tasks_of_their_own_in_input_order() -> None:
    gate = asyncio.Event()
    tasks: dict[str, object] = {}

    @tool
    async def wait(key: str) -> str:
        "Wait for the gate."
        tasks[key] = asyncio.current_task()
        async with asyncio.timeout(30):  # scoped to this call's own task, not to the batch's caller
            await gate.wait()
        return key

    @tool
    async def opener() -> str:
        "Open the gate (awaits nothing)."
        gate.set()
        return "opened"

    @tool(threaded=False)
    def plain(n: int) -> int:
        "A plain function."
        return n + 1

    box = Toolbox([wait, opener, plain])
    batch = [{"name": "wait", "arguments": {"key": "a"}}, {"name": "plain", "arguments": {"n": 1}},
             {"name": "wait", "arguments": {"key": "b"}}, {"name": "opener"}, {"name": "nope"}]
    results = await box.execute(batch)
    assert [r.result for r in results[:4]] == ["a", 2, "b", "opened"]
    assert results[4].error is not None and results[4].error.code == "NOT_FOUND"
    assert tasks["a"] is not tasks["b"] and asyncio.current_task() not in tasks.values()
    gate.clear()
    with pytest.raises(ToolExecutionError):
        await box.execute([{"name": "plain", "arguments": {"n": "x"}}, {"name": "wait", "arguments": {"key": "c"}}],
                          error_mode="fail_fast")
    assert "c" not in tasks  # fail_fast: a call after the first failure never started
    sequential = await box.execute([{"name": "plain", "arguments": {"n": i}} for i in range(5)], mode="sequential")
    assert [r.result for r in sequential] == [1, 2, 3, 4, 5]
