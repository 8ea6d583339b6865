"""Property tests: provider names are unique, safe, order-independent and map back; strict rewrites round-trip."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from armorer_ray import Toolbox, tool
from armorer_ray.adapters import ToolNames, openai
from armorer_ray.adapters._schemas import drop_strict_nulls, openai_strict

SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
parts = st.text(alphabet=st.sampled_from("abcXY_-.:/@ é9"), min_size=1, max_size=40)
ids = st.lists(st.tuples(parts, parts, st.none() | st.sampled_from(["1.0.0", "2.0.0"])), min_size=1, max_size=12)


def _pairs(items: list[tuple[str, str, str | None]]) -> list[tuple[str, str]]:
    out = {}
    for namespace, name, version in items:
        tool_id = f"{namespace}:{name}" + (f"@{version}" if version else "")
        out[tool_id] = name
    return list(out.items())


@settings(max_examples=200, deadline=None)
@given(ids, st.sampled_from(["auto", "safe-id"]), st.randoms())
def test_names_are_unique_safe_deterministic_and_reversible(items: Any, naming: str, rnd: Any) -> None:
    pairs = _pairs(items)
    names = ToolNames.from_ids(pairs, naming=naming)
    exported = [names.name(tool_id) for tool_id, _ in pairs]
    assert len(set(exported)) == len(exported)
    assert all(SAFE.match(name) for name in exported)
    assert all(names.tool_id(names.name(tool_id)) == tool_id for tool_id, _ in pairs)
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    assert ToolNames.from_ids(shuffled, naming=naming).names == names.names


class Inner(BaseModel):
    street: str
    zip_code: str | None = None


@settings(max_examples=100, deadline=None)
@given(st.integers(), st.none() | st.text(max_size=5), st.none() | st.integers(0, 50),
       st.none() | st.builds(Inner, street=st.text(max_size=5)))
def test_strict_rewrite_then_null_dropping_validates_as_the_original(
        n: int, note: str | None, limit: int | None, inner: Inner | None) -> None:
    @tool
    def target(n: int, note: str = "", limit: int = 5, inner: Inner | None = None) -> int:
        """Target."""
        return n

    schema = {k: v for k, v in target.json_schema.items() if k != "$schema"}
    strict = openai_strict(schema)
    assert strict is not None and sorted(strict["required"]) == sorted(strict["properties"])
    # What a strict-mode model sends: every property present, null for "left out".
    sent = {"n": n, "note": note, "limit": limit, "inner": inner.model_dump() if inner else None}
    arguments = drop_strict_nulls(sent, schema)
    result = Toolbox([target]).execute_sync({"name": "target", "arguments": arguments})
    assert result.ok, result.error
    calls = openai.parse_tool_calls([{"id": "c", "type": "function", "function": {
        "name": "target", "arguments": json.dumps(sent)}}], ToolNames.of([target]))
    assert calls[0].arguments == arguments
