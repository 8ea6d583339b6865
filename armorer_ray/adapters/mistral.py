"""Mistral chat completions: function tools (OpenAI-compatible shape, names limited to ``[A-Za-z0-9_-]{1,64}``).

Calls and results use the OpenAI helpers (`armorer_ray.adapters.openai.parse_tool_calls` and
`format_tool_results`): Mistral's ``tool_calls`` and ``role: tool`` messages have the same shape.

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

from armorer_ray.adapters._inputs import AdapterInput, shaped, without_dialect
from armorer_ray.adapters.openai import map_to_openai_name

__all__ = ["to_mistral"]


def to_mistral(source: AdapterInput, naming: Literal["default", "safe-id"] = "default") -> Any:
    """Mistral tool definitions: one for a single tool, a list for a list or toolbox."""
    return shaped(source, lambda d: {"type": "function", "function": {
        "name": map_to_openai_name(d["id"] if naming == "safe-id" else d["name"]),
        "description": d["description"], "parameters": without_dialect(d["schema"])}})
