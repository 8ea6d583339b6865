"""Inspection summaries and JSON export of a toolbox."""

from __future__ import annotations

from armorer_ray import Toolbox, inspect_tool, inspect_toolbox, tool


@tool(tags=["search"], metadata={"capabilities": ["web", 3], "effort": 2})
def find(query: str, limit: int = 10, site: str | None = None) -> list[str]:
    """Find pages."""
    return []


def test_levels() -> None:
    summary = inspect_tool(find, "summary")
    assert summary.schema_ is None and summary.tags == ["search"]
    standard = inspect_tool(find)
    assert standard.schema_ is not None and standard.schema_.keys == ["query", "limit", "site"]
    assert standard.schema_.shape is None
    assert standard.metadata is not None and standard.metadata.capabilities == ["web"]
    assert standard.metadata.effort == 2
    full = inspect_tool(find, "full")
    assert full.schema_ is not None and full.schema_.shape == {"query": "str", "limit": "int?", "site": "str | null?"}


def test_toolbox_inspection_counts_and_fresh_copies() -> None:
    box = Toolbox([find, tool(name="bare", description="Bare.")(lambda: None)])
    report = inspect_toolbox(box)
    assert report.counts == {"total": 2, "with_tags": 1, "with_metadata": 1}
    report.tools[0].tags.append("mutated")
    assert inspect_toolbox(box).tools[0].tags == ["search"]


def test_to_json_returns_copies() -> None:
    box = Toolbox([find])
    exported = box.to_json()
    exported[0]["tags"].append("x")
    assert box.to_json()[0]["tags"] == ["search"]
    assert exported[0]["schema"]["properties"]["site"] == {"anyOf": [{"type": "string"}, {"type": "null"}],
                                                          "default": None}
