"""Google Gemini function declarations.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def add(a: int) -> int:
    ...     "Add."
    ...     return a
    >>> {"functionDeclarations": to_gemini([add])}["functionDeclarations"][0]["name"]
    'add'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from armorer_ray.adapters._inputs import AdapterInput, shaped, without_dialect

__all__ = ["to_gemini"]


def _declaration(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": definition["name"], "description": definition["description"],
            "parameters": without_dialect(definition["schema"])}


def to_gemini(source: AdapterInput) -> Any:
    """Gemini function declarations (wrap a list as ``{"functionDeclarations": [...]}``)."""
    return shaped(source, _declaration)
