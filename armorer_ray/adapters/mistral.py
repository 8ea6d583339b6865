"""Mistral chat completions: function tools (the OpenAI shape; names ``[A-Za-z0-9_-]{1,64}``).

Calls and results use the OpenAI helpers (`armorer_ray.adapters.openai.parse_tool_calls` and
`format_tool_results`, which also accept ``mistralai`` SDK objects): Mistral's ``tool_calls`` and
``role: tool`` messages have the same shape. ``strict`` follows the OpenAI rules.

Example:
    >>> from armorer_ray import tool
    >>> @tool(namespace="geo")
    ... def forecast(city: str) -> str:
    ...     "Forecast."
    ...     return city
    >>> to_mistral(forecast, naming="safe-id")["function"]["name"]
    'geo_forecast'
"""

from __future__ import annotations

from typing import Any, Literal

from armorer_ray.adapters._inputs import AdapterInput
from armorer_ray.adapters.openai import format_tool_results, parse_tool_calls, to_openai

# Mistral's tool_calls and role: tool messages have the OpenAI shapes: the same parser and formatter serve.
__all__ = ["format_tool_results", "parse_tool_calls", "to_mistral"]


def to_mistral(source: AdapterInput, naming: Literal["auto", "default", "safe-id"] = "auto", *,
               strict: bool = True) -> Any:
    """Mistral tool definitions: one for a single tool, a list for a list or toolbox."""
    return to_openai(source, naming, api="chat", strict=strict)
