"""Executors: a sync body in a worker thread runs in a copy of the caller's context."""

from __future__ import annotations

import contextvars
import threading

from armorer_ray import Toolbox, ToolCall, tool

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


@tool
def read_request_id() -> dict[str, object]:
    """Report the caller's request id, the thread it ran in, and set the variable here."""
    seen = request_id.get()
    request_id.set("changed-in-body")
    return {"seen": seen, "thread": threading.get_ident()}


async def test_a_sync_body_in_its_thread_sees_the_callers_contextvars() -> None:
    token = request_id.set("req-42")
    try:
        result = await Toolbox([read_request_id]).execute(ToolCall(name="read_request_id"))
        assert result.ok, result.error
        assert result.result["seen"] == "req-42"
        assert result.result["thread"] != threading.get_ident()  # it really ran in a worker thread
        assert request_id.get() == "req-42"  # the body works on a copy: nothing leaks back to the caller
    finally:
        request_id.reset(token)


async def test_a_sync_body_run_with_no_value_set_sees_the_default() -> None:
    result = await Toolbox([read_request_id]).execute(ToolCall(name="read_request_id"))
    assert result.result["seen"] == "unset"
