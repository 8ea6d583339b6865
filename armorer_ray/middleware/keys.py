"""Key functions: how cache, dedupe, rate-limit and circuit-breaker layers tell calls apart.

A key function takes the call and its context and returns a string; calls with equal keys share a cache entry,
an in-flight execution, a rate-limit bucket or a circuit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from armorer_ray.results import ToolCall

if TYPE_CHECKING:
    from armorer_ray.context import CallContext

__all__ = ["KeyFunction", "arguments_key", "per_tenant", "per_tool", "per_user"]

KeyFunction = Callable[[ToolCall, "CallContext"], str]
"""``(call, ctx) -> str``: equal keys share state in the layer that uses the function."""

# Built once: json.dumps with options builds a new encoder per call, which costs more than encoding small arguments.
_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_SORTED_LOOSE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(arguments: Any) -> str:
    try:
        return _SORTED.encode(arguments)
    except (TypeError, ValueError):  # models, dates, sets inside: convert everything first (slower)
        return _SORTED_LOOSE.encode(to_jsonable_python(arguments, fallback=str))


def arguments_key(call: ToolCall, ctx: CallContext) -> str:
    """``tool id``, tenant and the canonical JSON of the arguments: equal for calls that must give equal results.

    Canonical JSON sorts keys at every level, so argument order never matters; values JSON cannot hold (dates,
    sets, models) are converted as pydantic serialises them.

    The tenant is part of the key so that no layer ever hands one tenant's result to another.

    Args:
        call: The call.
        ctx: Its context (``ctx.tool`` gives the tool id).

    Returns:
        ``"<tool id>|<tenant or empty>|<canonical JSON arguments>"``.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> from armorer_ray.cancellation import AbortSignal
        >>> from armorer_ray.context import CallContext
        >>> from armorer_ray.events import EventHub
        >>> lookup = mock_tool("lookup")
        >>> call = ToolCall(name="lookup", arguments={"b": 1, "a": 2}, tenant_id="acme")
        >>> arguments_key(call, CallContext(call, lookup, None, {}, AbortSignal(), EventHub()))
        'default:lookup|acme|{"a":2,"b":1}'
    """
    state = ctx.state
    known = state.get("arguments_key")
    if known is not None and known[0] is call:  # Cache and Dedupe in one stack key the same call: encode once
        return known[1]  # type: ignore[no-any-return]  # ctx.state is dict[str, Any]; this key holds (call, str)
    key = f"{ctx.tool.id}|{call.tenant_id or ''}|{_canonical(call.arguments)}"
    state["arguments_key"] = (call, key)
    return key


def per_tool(call: ToolCall, ctx: CallContext) -> str:
    """The tool's id: one bucket or circuit per tool.

    Example:
        >>> per_tool.__name__
        'per_tool'
    """
    return ctx.tool.id


def per_tenant(call: ToolCall, ctx: CallContext) -> str:
    """The call's tenant (``-`` when it has none): one bucket or circuit per tenant.

    Example:
        >>> per_tenant(ToolCall(name="t", tenant_id="acme"), None)  # type: ignore[arg-type]  # ctx unused
        'acme'
    """
    return call.tenant_id or "-"


def per_user(call: ToolCall, ctx: CallContext) -> str:
    """The call's tenant and user (``-`` for missing ones): one bucket per end user.

    Example:
        >>> per_user(ToolCall(name="t", tenant_id="acme", user_id="ada"), None)  # type: ignore[arg-type]  # ctx unused
        'acme/ada'
    """
    return f"{call.tenant_id or '-'}/{call.user_id or '-'}"
