"""A toolbox for the MCP tests' server subprocess (``armorer mcp tests.mcp_target:build``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from armorer_ray import Decision, NotFound, Toolbox, Transient, tool


@tool(read_only=True)
def search(query: str, limit: Annotated[int, Field(ge=1, le=50)] = 5) -> dict[str, object]:
    """Search records."""
    return {"query": query, "limit": limit}


@tool(read_only=True)
def fetch(record_id: int) -> str:
    """Fetch one record (only record 1 exists)."""
    if record_id != 1:
        raise NotFound(f"no record {record_id}")
    return "record 1"


@tool(read_only=True)
def flaky() -> str:
    """Always overloaded."""
    raise Transient("upstream returned 503", code="UPSTREAM_503")


@tool(mutates=True)
def wire(amount: int) -> str:
    """Wire money (needs approval)."""
    return f"sent {amount}"


def build() -> Toolbox:
    return Toolbox([search, fetch, flaky, wire], name="records",
                   policy=lambda ctx: Decision.needs_approval("a person must approve wires")
                   if ctx.tool.name == "wire" and not (ctx.approval and ctx.approval.granted) else None)
