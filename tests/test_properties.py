"""Property tests: calls, results and errors survive JSON and pickle exactly; any input yields one result."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import create_model

from armorer_ray import Toolbox, ToolCall, ToolError, ToolResult, tool
from armorer_ray.results import ActionRequest, build_result

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)

calls = st.builds(
    ToolCall,
    id=st.text(min_size=1, max_size=12),
    name=st.text(min_size=1, max_size=12),
    arguments=json_objects,
    tenant_id=st.none() | st.text(max_size=8),
    priority=st.integers(-5, 5),
    trace_context=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
categories = st.sampled_from(["validation", "permission", "not_found", "conflict", "transient", "timeout",
                              "cancelled", "internal"])
errors = st.builds(lambda c, m, d: ToolError.of(c, m, details=d), categories, st.text(max_size=30), json_values)


@st.composite
def results(draw: st.DrawFn) -> ToolResult:
    outcome = draw(st.sampled_from(["success", "error", "action_required"]))
    fields: dict[str, Any] = {
        "call_id": draw(st.text(min_size=1, max_size=10)), "tool_name": draw(st.text(max_size=10)),
        "tool_id": draw(st.none() | st.text(max_size=10)), "outcome": outcome, "result": None, "content": None,
        "error": None, "action": None, "output_validation": None, "dry_run": draw(st.booleans()),
        "input_digest": None, "output_digest": None, "started_at": draw(st.floats(0, 2e9)),
        "duration_ms": draw(st.floats(0, 1e6)), "compression": None, "attempts": draw(st.integers(0, 5)),
    }
    if outcome == "success":
        fields["result"] = fields["content"] = draw(json_values)
    elif outcome == "error":
        fields["error"] = draw(errors)
        fields["content"] = fields["error"].message
    else:
        fields["action"] = ActionRequest(type="approval", message="ok?", resume_token="t")
        fields["content"] = "ok?"
    return build_result(**fields) if draw(st.booleans()) else ToolResult(**fields)


@given(calls)
def test_calls_round_trip_json_and_pickle(call: ToolCall) -> None:
    assert ToolCall.model_validate_json(call.model_dump_json()) == call
    assert pickle.loads(pickle.dumps(call)) == call


@given(results())
def test_results_round_trip_json_and_pickle(result: ToolResult) -> None:
    assert ToolResult.model_validate_json(result.model_dump_json()) == result
    assert pickle.loads(pickle.dumps(result)) == result
    assert ToolResult.model_validate(result.model_dump()) == result


field_types = st.sampled_from([int, str, float, bool, list[int], dict[str, str], int | None])


@st.composite
def tools_and_arguments(draw: st.DrawFn) -> tuple[Any, Any]:
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), max_size=4, unique=True))
    fields = {}
    for name in names:
        annotation = draw(field_types)
        fields[name] = (annotation, ...) if draw(st.booleans()) else (annotation, None)
    model = create_model("Params", **fields)  # type: ignore[call-overload]
    arguments = draw(json_objects | json_values | st.text(max_size=20))
    return model, arguments


_loop = asyncio.new_event_loop()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(tools_and_arguments(), st.booleans())
def test_any_arguments_against_any_schema_yield_exactly_one_result(case: tuple[Any, Any], raises: bool) -> None:
    model, arguments = case

    def body(**kwargs: Any) -> Any:
        if raises:
            raise RuntimeError("body failed")
        return kwargs

    probe = tool(name="probe", description="Probe.", parameters=model, extra_arguments="forbid")(body)
    box = Toolbox([probe])
    finished: list[str] = []
    box.on("tool.finished", lambda e: finished.append(e.detail["call"].id))
    result = _loop.run_until_complete(box.execute({"id": "c", "name": "probe", "arguments": arguments}))
    assert isinstance(result, ToolResult) and result.call_id == "c"
    assert (result.outcome == "error") == (result.error is not None)
    if result.outcome == "success":
        assert not raises
    assert finished in ([], ["c"])  # malformed calls end before the pipeline, the rest finish exactly once
    assert ToolResult.model_validate_json(result.model_dump_json()).call_id == "c"


_BODY_KINDS = ["async, no await", "async, awaits", "sync inline", "sync threaded"]


def _probe_body(kind: str, raises: bool) -> Any:
    def plain(**kwargs: Any) -> Any:
        if raises:
            raise RuntimeError("body failed")
        return kwargs

    async def pure(**kwargs: Any) -> Any:
        return plain(**kwargs)

    async def waits(**kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return plain(**kwargs)

    return {"async, no await": pure, "async, awaits": waits, "sync inline": plain, "sync threaded": plain}[kind]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(tools_and_arguments(), st.booleans(), st.sampled_from(_BODY_KINDS), st.booleans())
def test_a_call_nobody_observes_answers_as_an_observed_one(case: tuple[Any, Any], raises: bool, kind: str,
                                                          batched: bool) -> None:
    """The compiled fast path (no listener) and the full pipeline (a listener) give the same result."""
    model, arguments = case
    probe = tool(name="probe", description="Probe.", parameters=model, extra_arguments="forbid",
                 threaded=kind == "sync threaded")(_probe_body(kind, raises))
    quiet, observed = Toolbox([probe]), Toolbox([probe])
    heard: list[str] = []
    observed.on("call.finished", lambda event: heard.append(event.detail["status"]))
    call = {"id": "c", "name": "probe", "arguments": arguments}

    def answer(box: Toolbox) -> dict[str, Any]:
        result = _loop.run_until_complete(box.execute([call] * 3) if batched else box.execute(call))
        results = result if isinstance(result, list) else [result]
        return {"results": [r.model_dump(exclude={"started_at", "duration_ms"}) for r in results]}

    assert answer(quiet) == answer(observed)
