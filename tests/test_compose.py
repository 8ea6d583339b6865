"""Composition: composed tools are ordinary tools whose steps run through the pipeline and fail by name."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import ray.cloudpickle as cloudpickle

from armorer_ray import (
    CallContext,
    ConfigError,
    Decision,
    Toolbox,
    ToolCall,
    Transient,
    tool,
)
from armorer_ray.compose import (
    PipelineError,
    RetryState,
    bind,
    parallel,
    pipe,
    postprocess,
    preprocess,
    retry,
    tap,
    when,
)
from armorer_ray.middleware import Cache
from armorer_ray.testing import RecordingToolbox, mock_tool


@tool(read_only=True)
def parse_number(text: str) -> float:
    """Parse a number from text."""
    return float(text)


@tool(read_only=True, tags=["math"], metadata={"cost": 1})
def double(value: float) -> float:
    """Double a number."""
    return value * 2


@tool
def stringify(value: float) -> str:
    """Render a number as text."""
    return f"{value:g}"


async def test_pipe_feeds_each_output_to_the_next_step_and_describes_itself() -> None:
    chain = pipe(pipe(parse_number, double), stringify)
    assert chain.name == "pipe(pipe(parse_number, double), stringify)"
    assert chain.description == "Composed pipeline: pipe(parse_number, double) → stringify"
    assert chain.json_schema["properties"] == parse_number.json_schema["properties"]
    assert (await chain.execute({"text": "21"})).result == "42"


async def test_a_failing_step_is_named_and_keeps_its_category() -> None:
    flaky = mock_tool("flaky", outcomes=[Transient("upstream 503", code="UPSTREAM_503")], parameters={"value": float})
    result = await pipe(parse_number, flaky).execute({"text": "1"})
    assert result.error is not None
    assert result.error.message == "Pipeline failed at step 1 (flaky): upstream 503"
    assert (result.error.category, result.error.code, result.error.retryable) == ("transient", "UPSTREAM_503", True)
    assert result.error.details["step_index"] == 1  # type: ignore[index]
    invalid = await pipe(parse_number, double).execute({"text": 5})
    assert invalid.error is not None and invalid.error.category == "validation", "the composed tool validates first"


async def test_steps_emit_events_on_the_running_toolbox() -> None:
    chain = pipe(parse_number, double)
    box = Toolbox([chain])
    seen: list[tuple[str, int, str]] = []
    box.on(["step.started", "step.succeeded", "step.failed"],
           lambda event: seen.append((event.type, event.detail["step_index"], event.detail["step_name"])))
    await box.execute(ToolCall(name=chain.name, arguments={"text": "2"}))
    await box.execute(ToolCall(name=chain.name, arguments={"text": "two"}))
    assert seen == [("step.started", 0, "parse_number"), ("step.succeeded", 0, "parse_number"),
                    ("step.started", 1, "double"), ("step.succeeded", 1, "double"),
                    ("step.started", 0, "parse_number"), ("step.failed", 0, "parse_number")]


async def test_steps_registered_in_the_toolbox_run_through_its_policy_and_middleware() -> None:
    fetch = mock_tool("fetch", impl=lambda url: {"text": url}, read_only=True)
    count = mock_tool("count", impl=lambda text: len(text), read_only=True)
    chain = pipe(fetch, count)
    cache = Cache()
    box = RecordingToolbox([fetch, count, chain], middleware=[cache])
    await box.execute(ToolCall(id="x", name=chain.name, arguments={"url": "abc"}))
    await box.execute(ToolCall(id="y", name=chain.name, arguments={"url": "abc"}))
    assert [r.call.id for r in box.history] == ["x/0", "x/1", "x", "y"]
    assert len(fetch.calls) == 1 and cache.stats.hits == 1
    deny_count = lambda ctx: Decision.deny("counting is off") if ctx.tool.name == "count" else None  # noqa: E731
    guarded = Toolbox([fetch, count, chain], policy=deny_count)
    result = await guarded.execute(ToolCall(name=chain.name, arguments={"url": "abc"}))
    assert result.error is not None and result.error.category == "permission"
    assert result.error.message == "Pipeline failed at step 1 (count): counting is off"


async def test_steps_carry_the_callers_identity() -> None:
    seen: list[tuple[str | None, str | None]] = []

    @tool
    def who(ctx: CallContext) -> str:
        "Report the caller."
        seen.append((ctx.tenant_id, ctx.user_id))
        return "ok"

    chain = pipe(who, mock_tool("sink", parameters={"text": str}))
    assert (await chain.execute(ToolCall(name=chain.name, tenant_id="acme", user_id="ada"))).result is None
    assert seen == [("acme", "ada")]


def test_risk_is_aggregated_so_policies_see_through_compositions() -> None:
    send = mock_tool("send", mutates=True)
    wipe = mock_tool("wipe", dangerous=True)
    assert pipe(parse_number, double).is_read_only and pipe(parse_number, double).idempotent
    mixed = pipe(parse_number, send)
    assert mixed.is_mutating and not mixed.is_read_only and not mixed.idempotent
    assert parallel(double, wipe).is_dangerous
    assert bind(send, {}).is_mutating and retry(wipe).is_dangerous
    assert Toolbox([mixed], read_only=True).execute_sync({"name": mixed.name, "arguments": {"text": "1"}}).error


async def test_bind_fixes_arguments_and_drops_them_from_the_schema() -> None:
    @tool(tags=["search"], metadata={"owner": "docs"})
    def search(query: str, index: str, k: int = 5) -> str:
        "Search an index."
        return f"{index}:{query}:{k}"

    docs = bind(search, {"index": "docs"})
    assert docs.name == "bind(search)" and docs.description == "Bound tool: Search an index."
    assert sorted(docs.json_schema["properties"]) == ["k", "query"] and docs.json_schema["required"] == ["query"]
    assert docs.tags == ("search",) and docs.metadata == {"owner": "docs"}
    assert (await docs.execute({"query": "ray", "k": 2})).result == "docs:ray:2"
    assert (await docs.execute({"query": "ray", "index": "secret"})).error is not None
    with pytest.raises(ConfigError, match="bind\\(\\) cannot bind unknown keys: nope, zzz"):
        bind(search, {"zzz": 1, "nope": 2})
    with pytest.raises(ConfigError, match="mapping"):
        bind(search, ["index"])  # type: ignore[arg-type]


async def test_tap_sees_the_output_and_returns_it_unchanged() -> None:
    seen: list[Any] = []

    async def record(output: Any, ctx: CallContext) -> None:
        seen.append((output, ctx.call.id))

    tapped = tap(double, record)
    assert (tapped.name, tapped.tags) == ("tap(double)", double.tags)
    assert (await tapped.execute(ToolCall(id="t1", name=tapped.name, arguments={"value": 2}))).result == 4.0
    assert seen == [(4.0, "t1")]
    failing = tap(double, lambda output, ctx: 1 / 0)
    assert (await failing.execute({"value": 2})).error is not None


async def test_when_branches_and_echoes_without_a_no_tool() -> None:
    async def is_big(arguments: dict[str, Any], ctx: CallContext) -> bool:
        return arguments["value"] > 10

    halve = mock_tool("halve", impl=lambda value: value / 2, parameters={"value": float})
    branch = when(is_big, halve, double)
    assert branch.name == "when(halve, double)" and branch.description == "Conditional tool: halve or double"
    assert (await branch.execute({"value": 20})).result == 10.0
    assert (await branch.execute({"value": 3})).result == 6.0
    only = when(lambda arguments, ctx: False, double)
    assert only.name == "when(double)"
    assert (await only.execute({"value": "3"})).result == {"value": 3.0}


async def test_parallel_runs_all_steps_at_once_and_fails_on_the_first_failure() -> None:
    started: list[str] = []

    def slow(label: str, delay: float) -> Any:
        async def body(q: str) -> str:
            started.append(label)
            await asyncio.sleep(delay)
            return f"{label}:{q}"
        return mock_tool(label, impl=body)

    both = parallel(slow("web", 0.02), slow("docs", 0.02))
    assert both.description == "Parallel tools: web | docs"
    assert (await both.execute({"q": "ray"})).result == ["web:ray", "docs:ray"]
    cancelled = asyncio.Event()

    async def hang(q: str) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return q

    broken = parallel(mock_tool("hang", impl=hang), mock_tool("boom", outcomes=[Transient("boom")]))
    result = await broken.execute({"q": "ray"})
    assert result.error is not None and result.error.message == "Pipeline failed at step 1 (boom): boom"
    assert cancelled.is_set(), "the other steps are cancelled"


async def test_retry_tries_again_with_backoff_and_hooks() -> None:
    flaky = mock_tool("flaky", outcomes=[Transient("1"), Transient("2"), "ok"])
    waits: list[float] = []
    retries: list[int] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    patient = retry(flaky, attempts=3, delay_s=0.5, backoff="exponential", max_delay_s=0.75,
                    on_retry=lambda state: retries.append(state.attempt), sleep=sleep)
    result = await patient.execute()
    assert (result.result, result.attempts, waits, retries) == ("ok", 3, [0.5, 0.75], [1, 2])
    hopeless = mock_tool("hopeless")
    hopeless.mock_reject(Transient("down"))
    result = await retry(hopeless, attempts=2, sleep=sleep).execute()
    assert result.error is not None and result.error.message == "down (gave up after 2 attempts)"
    assert result.error.category == "transient" and len(hopeless.calls) == 2

    def only_first(state: RetryState) -> bool:
        return state.attempt < 2

    picky = mock_tool("picky")
    picky.mock_reject(Transient("down"))
    await retry(picky, attempts=5, should_retry=only_first, sleep=sleep).execute()
    assert len(picky.calls) == 2
    with pytest.raises(ConfigError, match="attempts"):
        retry(picky, attempts=0)
    with pytest.raises(ConfigError, match="delay_s"):
        retry(picky, delay_s=-1)


async def test_preprocess_and_postprocess_map_arguments_and_outputs() -> None:
    celsius = preprocess(double, lambda arguments, ctx: {"value": arguments["fahrenheit"] - 32})
    assert celsius.json_schema.get("additionalProperties") is True
    assert (await celsius.execute({"fahrenheit": 40})).result == 16.0
    bad = preprocess(double, lambda arguments, ctx: [1])
    result = await bad.execute({})
    assert result.error is not None and result.error.message.startswith("Pipeline failed at step 0 (double)")

    async def label(output: float, ctx: CallContext) -> str:
        return f"{output} units"

    labelled = postprocess(double, label)
    assert labelled.json_schema == double.json_schema and labelled.metadata == {"cost": 1}
    assert (await labelled.execute({"value": 1})).result == "2.0 units"


async def test_dry_runs_reach_every_step() -> None:
    a = mock_tool("a", impl=lambda: {"x": 1}, dry_run=lambda: {"x": 0})
    b = mock_tool("b", impl=lambda x: f"real {x}", dry_run=lambda x: f"dry {x}")
    assert (await pipe(a, b).execute({}, dry_run=True)).result == "dry 0"
    no_dry = mock_tool("no_dry", impl=lambda x: x)
    result = await pipe(a, no_dry).execute({}, dry_run=True)
    assert result.error is not None and "does not support dryRun" in result.error.message


async def test_composed_tools_survive_cloudpickle() -> None:
    chain = cloudpickle.loads(cloudpickle.dumps(pipe(parse_number, double)))
    assert (await chain.execute({"text": "4"})).result == 8.0


def test_arity_and_types_are_checked() -> None:
    with pytest.raises(ConfigError, match="pipe\\(\\) requires at least 2 tools"):
        pipe(double)
    with pytest.raises(ConfigError, match="parallel\\(\\) requires at least 2 tools"):
        parallel(double)
    with pytest.raises(ConfigError, match="Tool objects"):
        pipe(double, lambda: 1)  # type: ignore[arg-type]


def test_pipeline_error_renders_its_step() -> None:
    from armorer_ray import ToolError

    error = PipelineError(2, "fetch", ToolError.of("not_found", "no page"))
    assert str(error) == "Pipeline failed at step 2 (fetch): no page"
    assert error.to_tool_error().details == {
        "step_index": 2, "step_name": "fetch",
        "error": {"code": "NOT_FOUND", "category": "not_found", "retryable": False, "message": "no page",
                  "details": None},
    }
