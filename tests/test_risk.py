"""One risk per tool: the option, metadata and tag spellings of a flag resolve to the same `ToolRisk`, and every
reader (the toolbox's RiskPolicy, the OpenAI Agents gate, MCP annotations, query filters, semantic-search filters,
the UI catalogue, the cache's default) answers from it alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import Tool, Toolbox, ToolCall, ToolRisk, tool
from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.index import tool_metadata
from armorer_ray.mcp_config import tool_configuration_from_metadata
from armorer_ray.middleware.cache import caches_by_default
from armorer_ray.openai_agents import create_openai_tool_gate
from armorer_ray.query import RiskFilter
from armorer_ray.tools import ToolOptions
from armorer_ray.ui.describe import tool_json

SPELLINGS: dict[str, list[ToolOptions]] = {
    "read_only": [{"read_only": True}, {"metadata": {"readOnly": True}}, {"metadata": {"read_only": True}},
                  {"tags": ["readonly"]}, {"tags": ["read-only"]}],
    "mutates": [{"mutates": True}, {"metadata": {"mutates": True}}, {"tags": ["mutating"]}],
    "dangerous": [{"dangerous": True}, {"metadata": {"dangerous": True}}, {"tags": ["dangerous"]}],
}


def make(**options: Any) -> Tool:
    metadata = {"mcp": {}, **options.pop("metadata", {})}  # an MCP configuration, so annotations are made
    return Tool(lambda: "done", name="t", description="T.", metadata=metadata, **options)


def readings(item: Tool) -> dict[str, object]:
    """What each reader of risk makes of ``item``."""
    box = Toolbox([item])
    gate = create_openai_tool_gate(box, read_only=True, allow_dangerous=False)
    refused = {
        setting: Toolbox([item], **{setting: value}).execute_sync(ToolCall(name="t")).outcome  # type: ignore[misc]
        for setting, value in (("read_only", True), ("allow_dangerous", False))
    }
    config = tool_configuration_from_metadata(item)
    entry = tool_json(item)
    return {
        "risk": item.risk,
        # "read-only" and "readonly" are one tag spelled two ways: a tool keeps the user's spelling
        "risk_tags": {"readonly" if tag == "read-only" else tag for tag in item.tags
                      if tag in ("readonly", "read-only", "mutating", "dangerous")},
        "policy": refused,
        "gate": asyncio.run(gate("t")).behavior,
        "mcp_read_only_hint": (config.annotations or {}).get("readOnlyHint") if config is not None else None,
        "query": {flag: bool(box.query(risk=RiskFilter(**{flag: True}))) for flag in ("read_only", "mutates",
                                                                                        "dangerous")},
        "ui": (entry["read_only"], entry["mutates"], entry["dangerous"]),
        "cached": caches_by_default(item),
        "search_filter": {flag: ToolFilter(metadata_eq={flag: True}).matches(tool_metadata(item, "hash"))
                          for flag in ("readOnly", "read_only", "mutates", "dangerous")},
    }


@pytest.mark.parametrize("flag", sorted(SPELLINGS))
def test_the_spellings_of_a_flag_read_alike_everywhere(flag: str) -> None:
    seen = [readings(make(**dict(spelling))) for spelling in SPELLINGS[flag]]
    assert all(reading == seen[0] for reading in seen), seen
    assert getattr(seen[0]["risk"], flag) is True


def test_what_each_reader_makes_of_each_flag() -> None:
    read_only, mutating, dangerous, plain = (readings(make(**{flag: True})) if flag else readings(make())
                                            for flag in ("read_only", "mutates", "dangerous", None))
    assert read_only["mcp_read_only_hint"] is True and read_only["cached"] and read_only["gate"] == "allow"
    assert mutating["policy"] == {"read_only": "error", "allow_dangerous": "success"} and mutating["gate"] == "deny"
    assert dangerous["policy"] == {"read_only": "success", "allow_dangerous": "error"}
    assert dangerous["gate"] == "deny" and dangerous["ui"] == (False, False, True)
    assert dangerous["search_filter"] == {"readOnly": False, "read_only": False, "mutates": False, "dangerous": True}
    assert plain["risk"] == ToolRisk() and plain["gate"] == "allow" and not plain["cached"]
    assert plain["mcp_read_only_hint"] is None and not any(plain["query"].values())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # A flag's option beats its metadata key.
        ({"read_only": False, "metadata": {"readOnly": True}}, ToolRisk()),
        ({"mutates": True, "metadata": {"mutates": False}}, ToolRisk(mutates=True)),
        # A declared read_only beats the tag mutating; a declared mutates beats everything for read_only.
        ({"read_only": True, "tags": ["mutating"]}, ToolRisk(read_only=True)),
        ({"mutates": True, "read_only": True}, ToolRisk(mutates=True)),
        ({"metadata": {"mutates": True}, "tags": ["readonly"]}, ToolRisk(mutates=True)),
        ({"mutates": False, "tags": ["mutating"]}, ToolRisk()),
        # The tag mutating beats the tag readonly; dangerous by any spelling.
        ({"tags": ["readonly", "mutating"]}, ToolRisk(mutates=True)),
        ({"dangerous": False, "tags": ["dangerous"]}, ToolRisk(dangerous=True)),
        # Metadata flags count only as JSON booleans.
        ({"metadata": {"readOnly": "yes", "mutates": 1}}, ToolRisk()),
    ],
)
def test_disagreeing_spellings_resolve_by_the_documented_precedence(options: dict[str, Any],
                                                                    expected: ToolRisk) -> None:
    assert tool(name="t", description="T.", **options)(lambda: None).risk == expected


def test_a_risk_model_cannot_be_read_only_and_mutating() -> None:
    with pytest.raises(ValueError, match="both read-only and mutating"):
        ToolRisk(read_only=True, mutates=True)


_flag = st.sampled_from([None, True, False])


@given(options=st.fixed_dictionaries({}, optional={"read_only": st.booleans(), "mutates": st.booleans(),
                                                   "dangerous": st.booleans()}),
       metadata=st.fixed_dictionaries({}, optional={key: st.one_of(st.booleans(), st.integers(0, 1))
                                                    for key in ("readOnly", "read_only", "mutates", "dangerous")}),
       tags=st.lists(st.sampled_from(["readonly", "read-only", "mutating", "dangerous", "search"]), unique=True))
def test_any_declaration_resolves_to_one_consistent_risk(options: dict[str, bool], metadata: dict[str, Any],
                                                          tags: list[str]) -> None:
    made = tool(name="t", description="T.", metadata=metadata, tags=tags, **options)(lambda: None)  # type: ignore[call-overload]
    risk = made.risk
    assert not (risk.read_only and risk.mutates)
    assert (made.is_read_only, made.is_mutating, made.is_dangerous) == (risk.read_only, risk.mutates, risk.dangerous)
    for flag, spellings in (("read_only", {"readonly", "read-only"}), ("mutates", {"mutating"}),
                            ("dangerous", {"dangerous"})):
        if getattr(risk, flag):
            assert spellings & set(made.tags)  # the flag shows among the tags, in the user's spelling if given
    # Armorer's mutating classification (reference §10), with an option ranked as the metadata key it overlays.
    declared_mutates = options.get("mutates", metadata.get("mutates") if isinstance(metadata.get("mutates"), bool)
                                   else None)
    read_only_meta = next((metadata[key] for key in ("readOnly", "read_only") if isinstance(metadata.get(key), bool)),
                          None)
    declared_read_only = options.get("read_only", read_only_meta)
    if declared_mutates is not None:
        assert risk.mutates is declared_mutates
    elif declared_read_only:
        assert not risk.mutates
    else:
        assert risk.mutates is ("mutating" in tags)
    assert made.replace().risk == risk  # a copy resolves the same declarations to the same risk
