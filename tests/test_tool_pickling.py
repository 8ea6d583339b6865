"""A `Tool` crosses process boundaries (pickle, cloudpickle, Ray) as an equal tool: same definition, same risk,
same behaviour, whatever its body is and however it was configured."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ray import cloudpickle

from armorer_ray import CallContext, Tool, ToolCall, ToolLifecycle, lazy, tool
from armorer_ray.tools import ToolOptions


def shout(text: str) -> str:
    """Upper-case text."""
    return text.upper()


def _load_shout() -> Callable[[str], str]:
    return shout


@tool(tags=["text"], read_only=True)
def whisper(text: str) -> str:
    """Lower-case text."""
    return text.lower()


# Named only in annotations of the local body below: a body pickled by value does not bring them along.
Loudness = Literal["loud", "quiet"]


class Words(BaseModel):
    text: str


def _local_body() -> Callable[..., str]:
    def echo(ctx: CallContext, words: Words, loudness: Loudness = "loud") -> str:
        """Echo words, as the caller's tenant."""
        said = words.text.upper() if loudness == "loud" else words.text
        return f"{ctx.tenant_id}:{said}"

    return echo


def _bodies() -> dict[str, tuple[Callable[..., Any] | str, ToolOptions, dict[str, Any], str]]:
    """Body kind -> (body, the options it needs, arguments, expected result for tenant "t")."""
    local = {"words": {"text": "hi"}, "loudness": "loud"}
    return {
        "importable": (shout, {}, {"text": "hi"}, "HI"),
        "import string": (f"{__name__}:shout", {"parameters": {"text": str}, "description": "Shout."},
                          {"text": "hi"}, "HI"),
        "lazy": (lazy(_load_shout), {"parameters": {"text": str}, "description": "Shout."}, {"text": "hi"}, "HI"),
        "local, by value": (_local_body(), {}, local, "t:HI"),
        "local, explicit model": (_local_body(), {"parameters": {"words": Words, "loudness": (Loudness, "loud")}},
                                  local, "t:HI"),
    }


BODIES = _bodies()
# Plain pickle cannot send a function defined inside another; cloudpickle (and so Ray) sends it by value.
BY_REFERENCE = ("importable", "import string", "lazy")

_tag = st.sampled_from(["search", "text", "readonly", "mutating", "dangerous", "read-only", "x-1"])
_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                  max_size=3),
                     max_leaves=6)
_options = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["t", "tool-two"]),
    "namespace": st.sampled_from(["default", "ops"]),
    "version": st.sampled_from(["1", "2.0.0"]),
    "tags": st.lists(_tag, unique=True, max_size=4),
    "metadata": st.dictionaries(st.sampled_from(["owner", "readOnly", "mutates", "dangerous", "concurrency"]),
                                _json, max_size=3),
    "read_only": st.booleans(),
    "mutates": st.booleans(),
    "dangerous": st.booleans(),
    "permissions": st.lists(st.sampled_from(["db:read", "db:write"]), unique=True, max_size=2),
    "idempotent": st.booleans(),
    "timeout_s": st.sampled_from([0.5, 30.0]),
    "title": st.sampled_from(["A title"]),
    "lifecycle": st.builds(ToolLifecycle, deprecated=st.booleans()),
    "context": st.dictionaries(st.sampled_from(["region", "zone"]), st.text(max_size=3), max_size=2),
})


def _observed(item: Tool) -> tuple[object, ...]:
    return (item.to_json(), item.risk, item.tags, item.idempotent, item.timeout_s, item.concurrency,
            dict(item.context), item.options.get("permissions"))


def _make(kind: str, options: ToolOptions) -> tuple[Tool, dict[str, Any], str]:
    body, needed, arguments, expected = BODIES[kind]
    name = options.get("name") or ("echo" if kind.startswith("local") else "shout")
    return Tool(body, **{**needed, **options, "name": name}), arguments, expected  # type: ignore[misc]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(BODIES)), options=_options, pickler=st.sampled_from(["pickle", "cloudpickle"]))
def test_a_tool_round_trips_equal(kind: str, options: ToolOptions, pickler: str) -> None:
    if pickler == "pickle" and kind not in BY_REFERENCE:
        return  # plain pickle refuses local functions (see BY_REFERENCE); cloudpickle covers them
    original, arguments, expected = _make(kind, options)
    dumps, loads = (pickle.dumps, pickle.loads) if pickler == "pickle" else (cloudpickle.dumps, cloudpickle.loads)
    clone = loads(dumps(original))
    assert clone is not original and _observed(clone) == _observed(original)
    call = ToolCall(name=clone.name, arguments=arguments, tenant_id="t")
    assert clone.execute_sync(call).result == original.execute_sync(call).result == expected


def test_a_pickled_tool_keeps_none_of_this_process_state() -> None:
    original, arguments, _ = _make("importable", {})
    seen: list[object] = []
    original.on("settled", seen.append)
    original.execute_sync(arguments)  # builds the solo pipeline and the event hub
    clone = cloudpickle.loads(cloudpickle.dumps(original))
    clone.execute_sync(arguments)
    assert len(seen) == 1  # the clone's calls reach its own (new) hub, not the original's listeners


@pytest.mark.parametrize("pickler", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_a_module_level_tool_travels_by_reference(pickler: Any) -> None:
    assert pickler.loads(pickler.dumps(whisper)) is whisper


@pytest.mark.ray
def test_tools_shipped_to_a_ray_task_run_there(ray_runtime: Any) -> None:
    ray = ray_runtime

    @ray.remote
    def run(item: Tool, arguments: dict[str, Any]) -> tuple[str, object, object]:
        result = item.execute_sync(ToolCall(name=item.name, arguments=arguments, tenant_id="t"))
        return item.id, item.risk, result.result

    shipped = {kind: _make(kind, {"tags": ["search"], "mutates": True}) for kind in BODIES}
    shipped["module-level @tool"] = (whisper, {"text": "HI"}, "hi")
    refs = {kind: run.remote(item, arguments) for kind, (item, arguments, _) in shipped.items()}
    answers = dict(zip(refs, ray.get(list(refs.values()), timeout=240), strict=True))
    assert answers == {kind: (item.id, item.risk, expected) for kind, (item, _, expected) in shipped.items()}
