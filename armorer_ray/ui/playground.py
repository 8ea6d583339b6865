"""The playground: one call to one tool through `Toolbox.execute`, with the events it made, for the page.

The call goes through the toolbox's whole pipeline (validation, risk flags, policies, middleware), as any other
call does. A tool flagged dangerous runs only when the request says ``confirm: true``; a policy that pauses
the call answers ``action_required`` with its message, and the resume token stays on the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue

from armorer_ray.events import Event
from armorer_ray.results import ToolCall
from armorer_ray.toolbox import Toolbox
from armorer_ray.ui.describe import scrub

__all__ = ["PlaygroundRefusal", "call_tool"]

_DETAIL_SKIP = frozenset({"tool", "call"})


class PlaygroundRefusal(Exception):
    """The call was not made: ``status`` is the HTTP status, ``needs_confirmation`` says why when it is 409."""

    def __init__(self, status: int, message: str, *, needs_confirmation: bool = False) -> None:
        super().__init__(message)
        self.status, self.needs_confirmation = status, needs_confirmation


async def call_tool(toolbox: Toolbox, name: str, arguments: Mapping[str, Any], *,
                    confirm: bool = False) -> dict[str, JsonValue]:
    """Run one call and return ``{"result": ToolResult JSON, "events": [...]}`` (both scrubbed).

    Raises:
        PlaygroundRefusal: 404 for an unknown tool, 409 for a dangerous tool without ``confirm``.

    Example:
        >>> import asyncio
        >>> from armorer_ray import tool
        >>> double = tool(name="double", description="Double x.")(lambda x: 2 * x)
        >>> out = asyncio.run(call_tool(Toolbox([double]), "double", {"x": 4}))
        >>> out["result"]["result"], [event["type"] for event in out["events"]][:2]
        (8, ['call', 'tool.started'])
    """
    found = toolbox.get_tool(name)
    if found is None:
        raise PlaygroundRefusal(404, f"no tool {name!r}")
    if found.risk.dangerous and not confirm:
        raise PlaygroundRefusal(409, f"{found.id} is flagged dangerous: confirm to run it", needs_confirmation=True)
    call = ToolCall(id=f"playground/{uuid.uuid4().hex}", name=found.id, arguments=dict(arguments))
    seen: list[dict[str, JsonValue]] = []

    def record(event: Event) -> None:
        if getattr(event.detail.get("call"), "id", None) == call.id:
            detail = {key: value for key, value in event.detail.items() if key not in _DETAIL_SKIP}
            seen.append({"type": event.type, "timestamp": event.timestamp, "detail": scrub(detail)})

    stop = toolbox.events.on("*", record)
    try:
        result = await toolbox.execute(call)
    finally:
        stop()
    return {"result": scrub(result.model_dump(mode="json")), "events": list(seen)}
