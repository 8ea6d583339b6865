"""Attacks with hostile argument values: nesting past the recursion limit, huge key counts, huge text.

A hostile value must end as one call's error result, never as an exception out of `Toolbox.execute` or an
adapter's parser, and never take the other calls of a batch down with it; its cost is bounded before any
parsing into models (`ArgumentBounds`), by a walk that does not recurse.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.adapters import openai
from armorer_ray.middleware.audit import AuditLog
from armorer_ray.sanitize import DEFAULT_BOUNDS, ArgumentBounds
from armorer_ray.stores import MemoryStore


@tool
def store(doc: Any) -> int:
    """Store a document."""
    return 1


@tool
def ping() -> str:
    """Answer pong."""
    return "pong"


def _nested_dict(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    cursor = root
    for _ in range(depth):
        cursor["a"] = {}
        cursor = cursor["a"]
    return root


def _nested_text(depth: int) -> str:
    return '{"doc": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [990, 3000, sys.getrecursionlimit() + 10])
def test_deep_json_text_ends_as_one_error_and_the_batch_survives(depth: int) -> None:
    box = Toolbox([store, ping], digests=True)
    results = box.execute_sync([{"name": "store", "arguments": _nested_text(depth)}, {"name": "ping"}])
    assert results[1].result == "pong"
    assert results[0].error is not None and results[0].error.category == "validation"


@pytest.mark.parametrize("depth", [300, 990, 5000])
def test_deep_python_values_are_refused_before_validation_digests_or_audit(depth: int) -> None:
    audit_store = MemoryStore()
    audit = AuditLog(audit_store, record_arguments=True)
    box = Toolbox([store, ping], digests=True, middleware=[audit], policy=[audit])
    results = box.execute_sync([ToolCall(name="store", arguments={"doc": _nested_dict(depth)}),
                                ToolCall(name="ping")])
    assert results[1].result == "pong"
    error = results[0].error
    assert error is not None and (error.category, error.code) == ("validation", "ARGUMENTS_TOO_LARGE")
    assert "nested more than 64 levels" in error.message


def test_openai_parse_tool_calls_survives_deep_text_and_the_toolbox_reports_it() -> None:
    raw = [{"id": "c1", "type": "function", "function": {"name": "store", "arguments": _nested_text(5000)}},
           {"id": "c2", "type": "function", "function": {"name": "ping", "arguments": "{}"}}]
    calls = openai.parse_tool_calls(raw)  # raised RecursionError before
    assert [c.name for c in calls] == ["store", "ping"]
    results = Toolbox([store, ping]).execute_sync(calls)
    assert results[0].error is not None and results[0].error.category == "validation"
    assert results[1].result == "pong"


def test_a_million_keys_are_refused_by_counting_not_by_validating() -> None:
    class Counting(dict[str, int]):
        """A dict that counts how often its values are read (validation reads them all)."""

        reads = 0

        def values(self):  # type: ignore[override]
            Counting.reads += 1
            return super().values()

    huge = Counting({f"k{i}": i for i in range(1_000_000)})
    result = Toolbox([store]).execute_sync(ToolCall(name="store", arguments={"doc": huge}))
    assert result.error is not None and result.error.code == "ARGUMENTS_TOO_LARGE"
    assert "more than 100000 items" in result.error.message
    assert Counting.reads == 1  # one look at the size; the body and validation never saw it


def test_long_argument_text_is_refused_unparsed() -> None:
    text = json.dumps({"doc": "x" * (DEFAULT_BOUNDS.max_chars or 0)})
    result = Toolbox([store]).execute_sync({"name": "store", "arguments": text})
    assert result.error is not None and result.error.code == "ARGUMENTS_TOO_LARGE"
    assert "characters of text" in result.error.message


def test_bounds_are_configurable_and_checked_without_recursion() -> None:
    box = Toolbox([store], policy=ArgumentBounds(max_depth=None, max_items=None, max_chars=None))
    assert box.execute_sync(ToolCall(name="store", arguments={"doc": _nested_dict(200)})).result == 1
    assert ArgumentBounds(max_depth=10_000).check(_nested_dict(50_000)) is not None  # no RecursionError
    assert ArgumentBounds(max_chars=10).check({"key": "x" * 11}) is not None
    cyclic: list[object] = []
    cyclic.append(cyclic)
    assert ArgumentBounds(max_depth=None).check(cyclic) is not None  # items bound a cycle


# -- property: the iterative check agrees with a plain recursive definition of the bounds ---------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                  max_size=4),
                     max_leaves=30)


def _reference(value: object, level: int = 0) -> tuple[int, int, int]:
    """(depth, items, characters) by recursion: the definition `ArgumentBounds` documents."""
    if isinstance(value, dict):
        parts = [_reference(v, level + 1) for v in value.values()]
        keys = sum(len(k) for k in value)
        return (max([level + 1, *(p[0] for p in parts)]), len(value) + sum(p[1] for p in parts),
                keys + sum(p[2] for p in parts))
    if isinstance(value, list):
        parts = [_reference(v, level + 1) for v in value]
        return max([level + 1, *(p[0] for p in parts)]), len(value) + sum(p[1] for p in parts), sum(p[2] for p in parts)
    return level, 0, len(value) if isinstance(value, str) else 8


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(1, 6), st.integers(1, 40), st.integers(1, 200))
def test_bounds_refuse_exactly_the_values_over_them(value: object, depth: int, items: int, chars: int) -> None:
    real_depth, real_items, real_chars = _reference(value)
    fits = real_depth <= depth and real_items <= items and real_chars <= chars
    verdict = ArgumentBounds(max_depth=depth, max_items=items, max_chars=chars).check(value)
    assert (verdict is None) == fits, (verdict, real_depth, real_items, real_chars)
