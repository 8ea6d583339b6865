"""Policies: risk flags, before/after hooks, denials, approval and input round trips (exactly once)."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import CallContext, Conflict, Decision, PolicyContext, PolicyHooks, Toolbox, tool


def make_tools() -> list[object]:
    read = tool(name="read", description="Read.", read_only=True)(lambda: "r")
    write = tool(name="write", description="Write.", mutates=True)(lambda: "w")
    nuke = tool(name="nuke", description="Nuke.", dangerous=True)(lambda: "boom")
    tagged = tool(name="tagged", description="Tagged mutating.", tags=["mutating"])(lambda: "t")
    return [read, write, nuke, tagged]


@pytest.mark.parametrize(
    ("options", "name", "message"),
    [
        ({"read_only": True}, "write", 'Mutating tool "write" is not allowed'),
        ({"read_only": True}, "tagged", 'Mutating tool "tagged" is not allowed'),
        ({"allow_mutation": False}, "write", 'Mutating tool "write" is not allowed'),
        ({"allow_dangerous": False}, "nuke", 'Dangerous tool "nuke" is not allowed'),
    ],
)
async def test_risk_flags_deny_with_exact_messages(options: dict[str, bool], name: str, message: str) -> None:
    box = Toolbox(make_tools(), **options)  # type: ignore[arg-type]
    result = await box.execute({"name": name})
    assert result.error is not None
    assert (result.error.category, result.error.code, result.error.message) == ("permission", "POLICY_DENIED", message)
    assert (await box.execute({"name": "read"})).ok


async def test_before_hook_false_and_decisions() -> None:
    box = Toolbox(make_tools(), policy=lambda ctx: ctx.tool.name == "read")  # type: ignore[arg-type]
    denied = await box.execute({"name": "write"})
    assert denied.error is not None and denied.error.message == "Policy denied"
    assert (await box.execute({"name": "read"})).ok
    reasoned = Toolbox(make_tools(), policy=lambda ctx: Decision.deny("not today"))  # type: ignore[arg-type]
    assert (await reasoned.execute({"name": "read"})).content == "not today"


async def test_typescript_shaped_decisions_are_understood() -> None:
    box = Toolbox(make_tools(), policy=lambda ctx: {"status": "needs_approval", "reason": "check"})  # type: ignore[arg-type]
    paused = await box.execute({"name": "read"})
    assert paused.outcome == "action_required" and paused.content == "check"
    deny = Toolbox(make_tools(), policy=lambda ctx: {"allow": False, "reason": "no"})  # type: ignore[arg-type]
    assert (await deny.execute({"name": "read"})).content == "no"


async def test_async_hooks_and_policy_sees_validated_params() -> None:
    seen: list[dict[str, object]] = []

    async def before(ctx: PolicyContext) -> Decision | None:
        seen.append(dict(ctx.params))
        return Decision.deny("too big") if ctx.params["n"] > 10 else None

    @tool
    def double(n: int) -> int:
        """Double."""
        return n * 2

    box = Toolbox([double], policy=PolicyHooks(before=before))
    assert (await box.execute({"name": "double", "arguments": {"n": "3"}})).result == 6
    assert seen == [{"n": 3}]
    assert (await box.execute({"name": "double", "arguments": {"n": 11}})).content == "too big"


async def test_after_hooks_see_outcomes_and_their_errors_become_log_events() -> None:
    outcomes: list[tuple[str, str | None]] = []

    def after(ctx: PolicyContext) -> None:
        outcomes.append((ctx.outcome or "", ctx.error.code if ctx.error else None))
        raise RuntimeError("audit sink down")

    fails = tool(name="fails", description="Fails.")(lambda: 1 / 0)
    box = Toolbox([*make_tools(), fails],  # type: ignore[list-item]
                  policy=[lambda ctx: ctx.tool.name != "write", PolicyHooks(after=after)])
    logs: list[str] = []
    box.on("log", lambda e: logs.append(e.detail["message"]))
    await box.execute([{"name": "read"}, {"name": "write"}, {"name": "fails"}, {"name": "read", "arguments": {"x": 1}}],
                      mode="sequential")
    assert outcomes == [("success", None), ("denied", "POLICY_DENIED"), ("error", "ZeroDivisionError"),
                        ("error", "VALIDATION_ERROR")]
    assert logs == ["policy after_execute failed"] * 4


async def test_crashing_before_hook_fails_closed() -> None:
    box = Toolbox(make_tools(), policy=lambda ctx: 1 / 0)  # type: ignore[arg-type]
    result = await box.execute({"name": "read"})
    assert result.error is not None and result.error.code == "POLICY_ERROR" and result.error.category == "permission"


async def test_tool_level_policy_runs_after_toolbox_policy() -> None:
    order: list[str] = []
    guarded = tool(name="g", description="G.", policy=lambda ctx: order.append("tool"))(lambda: 1)
    box = Toolbox([guarded], policy=lambda ctx: order.append("toolbox"))
    await box.execute({"name": "g"})
    assert order == ["toolbox", "tool"]


async def test_toolbox_level_needs_approval_propagates_and_resumes_exactly_once() -> None:
    runs: list[int] = []

    @tool(mutates=True)
    def transfer(amount: int) -> str:
        """Move money."""
        runs.append(amount)
        return f"moved {amount}"

    box = Toolbox([transfer], policy=lambda ctx: Decision.needs_approval("needs a human") if ctx.params["amount"] > 100 else None)
    events: list[str] = []
    box.on(["call.finished", "policy-action-required"], lambda e: events.append(e.type))
    paused = await box.execute({"id": "c9", "name": "transfer", "arguments": {"amount": 500}})
    assert paused.outcome == "action_required" and paused.error is None and runs == []
    assert paused.action is not None and paused.action.type == "approval" and paused.action.message == "needs a human"
    assert events == ["policy-action-required", "call.finished"]
    token = paused.action.resume_token
    assert token
    first, second = await asyncio.gather(box.resume(token), box.resume(token), return_exceptions=True)
    outcomes = [first, second]
    assert sum(1 for o in outcomes if isinstance(o, Conflict)) == 1
    done = next(o for o in outcomes if not isinstance(o, BaseException))
    assert done.result == "moved 500" and done.call_id == "c9" and runs == [500]  # type: ignore[union-attr]


async def test_rejected_approval_is_a_permission_error() -> None:
    box = Toolbox(make_tools(), policy=lambda ctx: Decision.needs_approval())  # type: ignore[arg-type]
    paused = await box.execute({"name": "write"})
    rejected = await box.resume(paused.action.resume_token, approved=False, reason="too risky")  # type: ignore[union-attr]
    assert rejected.error is not None and rejected.error.code == "APPROVAL_REJECTED"
    assert rejected.content == "Approval rejected: too risky"


async def test_needs_input_round_trip_delivers_the_input() -> None:
    def ask_for_otp(ctx: PolicyContext) -> Decision | None:
        if ctx.approval is None or not isinstance(ctx.approval.input, dict) or "otp" not in ctx.approval.input:
            return Decision.needs_input("Enter the one-time code", schema={"type": "object", "required": ["otp"]})
        return None

    @tool
    def unlock(ctx: CallContext) -> str:
        """Unlock."""
        assert ctx.approval is not None
        return f"unlocked with {ctx.approval.input['otp']}"  # type: ignore[index]

    box = Toolbox([unlock], policy=ask_for_otp)
    paused = await box.execute({"name": "unlock"})
    assert paused.action is not None and paused.action.type == "input"
    assert paused.action.schema_ == {"type": "object", "required": ["otp"]}
    again = await box.resume(paused.action.resume_token, input={"wrong": 1})  # type: ignore[arg-type]
    assert again.outcome == "action_required"
    done = await box.resume(again.action.resume_token, input={"otp": "123"})  # type: ignore[union-attr,arg-type]
    assert done.result == "unlocked with 123"


async def test_unknown_resume_token_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="unknown or was already used"):
        await Toolbox().resume("nope")


async def test_calling_a_paused_tool_directly_returns_none() -> None:
    gated = tool(name="gated", description="Gated.", policy=lambda ctx: Decision.needs_approval())(lambda: "x")
    assert await gated() is None


@pytest.mark.services
async def test_approvals_in_redis_resume_exactly_once_across_toolboxes(redis_url: str, redis_key_prefix: str) -> None:
    from armorer_ray import StoreApprovalBook
    from armorer_ray.stores import RedisOptions, RedisStore

    runs: list[int] = []
    gated = tool(name="gated", description="Gated.", policy=lambda ctx: Decision.needs_approval())(
        lambda: runs.append(1) or "ran")
    store = RedisStore(RedisOptions(url=redis_url, key_prefix=redis_key_prefix))
    try:
        replicas = [Toolbox([gated], approvals=StoreApprovalBook(store)) for _ in range(3)]
        paused = await replicas[0].execute({"name": "gated"})
        token = paused.action.resume_token  # type: ignore[union-attr]
        outcomes = await asyncio.gather(*(box.resume(token) for box in replicas), return_exceptions=True)
        assert sum(isinstance(o, Conflict) for o in outcomes) == 2
        assert runs == [1]
    finally:
        await store.delete_prefix("")
        await store.close()
