"""Provider adapters: tool definitions in each provider's shape, and calls and results back and forth.

Every adapter works from `Tool.to_json()`, so what a provider sees is exactly what the toolbox validates.
"""

from __future__ import annotations

from armorer_ray.adapters.anthropic import to_anthropic
from armorer_ray.adapters.bedrock import to_bedrock
from armorer_ray.adapters.cohere import to_cohere
from armorer_ray.adapters.gemini import to_gemini, to_gemini_tool
from armorer_ray.adapters.mistral import to_mistral
from armorer_ray.adapters.naming import ToolNames, safe_name
from armorer_ray.adapters.openai import (
    create_name_mapper,
    format_tool_results,
    map_to_openai_name,
    parse_tool_calls,
    to_openai,
)

__all__ = [
    "ToolNames",
    "create_name_mapper",
    "format_tool_results",
    "map_to_openai_name",
    "parse_tool_calls",
    "safe_name",
    "to_anthropic",
    "to_bedrock",
    "to_cohere",
    "to_gemini",
    "to_gemini_tool",
    "to_mistral",
    "to_openai",
]
