"""Provider-facing tool names: unique, provider-safe, deterministic, and mapped back to tool ids.

Providers and MCP clients know a tool by one flat name (OpenAI, Mistral and Gemini allow ``[A-Za-z0-9_-]``,
at most 64 characters; Bedrock and Anthropic likewise). Our tools are ``namespace:name@version``, and two
tools may share a bare name. `ToolNames` gives every tool of a set one name:

1. the bare name, when no other tool of the set has it and it is provider-safe;
2. otherwise the id made safe (``crm:lookup@1.0.0`` → ``crm_lookup_1_0_0``);
3. if that is still taken or longer than 64 characters, its first 55 characters plus ``_`` and eight hex
   digits of the id's SHA-256.

The names depend only on the set of ids (not on their order), and `ToolNames.tool_id` maps each back to its
id. An export and the parsing of the calls that answer it must use the same set of tools.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from armorer_ray.adapters._inputs import AdapterInput, definitions, loose_call
from armorer_ray.adapters._schemas import drop_strict_nulls
from armorer_ray.results import ToolCall

__all__ = ["Mapper", "ToolNames", "resolve_call", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Every provider's rule at once: Gemini also wants a letter or underscore first.
_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
MAX_NAME = 64


def safe_name(tool_id: str) -> str:
    """``tool_id`` with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``, ``_`` put first unless it
    starts with a letter, cut to 64 characters.

    Example:
        >>> safe_name("ns:mut@1.0.0"), safe_name("2fa:check")
        ('ns_mut_1_0_0', '_2fa_check')
    """
    return _uncut(tool_id)[:MAX_NAME]


def _uncut(tool_id: str) -> str:
    name = _UNSAFE.sub("_", tool_id)
    if not name or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        name = "_" + name
    return name


def _hashed(tool_id: str) -> str:
    digest = hashlib.sha256(tool_id.encode()).hexdigest()[:8]
    return f"{safe_name(tool_id)[:MAX_NAME - 9]}_{digest}"


@dataclass(frozen=True)
class ToolNames:
    """The provider-facing name of each tool of a set, and the way back.

    Build it with `ToolNames.of` from what you export; give it to the ``parse_tool_calls`` of any adapter (or
    call `tool_id`) to turn the names a model answers with into tool ids.

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> a = tool(name="lookup", namespace="crm", description="A.")(lambda: 1)
        >>> b = tool(name="lookup", namespace="erp", description="B.")(lambda: 2)
        >>> c = tool(name="ping", description="C.")(lambda: 3)
        >>> names = ToolNames.of([a, b, c])
        >>> names.name("crm:lookup"), names.name("erp:lookup"), names.name("default:ping")
        ('crm_lookup', 'erp_lookup', 'ping')
        >>> names.tool_id("erp_lookup")
        'erp:lookup'
    """

    names: Mapping[str, str]  # tool id -> provider name
    ids: Mapping[str, str] = field(default_factory=dict)  # provider name (and safe id) -> tool id
    bare: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # bare name -> every id that has it
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # tool id -> parameter schema

    @classmethod
    def of(cls, source: AdapterInput, *, naming: str = "auto") -> ToolNames:
        """The names of every tool in ``source`` (a tool, definitions, a list of either, or a toolbox).

        Args:
            source: The tools, exactly as exported.
            naming: ``auto`` (bare names where unique) or ``safe-id`` (always the safe id).
        """
        defs, _ = definitions(source)
        names = cls.from_ids([(str(d["id"]), str(d["name"])) for d in defs], naming=naming)
        return replace(names, schemas={str(d["id"]): d["schema"] for d in defs})

    @classmethod
    def from_ids(cls, items: Iterable[tuple[str, str]], *, naming: str = "auto") -> ToolNames:
        """Names for ``(tool id, bare name)`` pairs; see the module docstring for the rules."""
        pairs = sorted(set(items))
        bare: dict[str, list[str]] = {}
        for tool_id, name in pairs:
            bare.setdefault(name, []).append(tool_id)
        taken: dict[str, str] = {}
        chosen: dict[str, str] = {}
        # Bare names first, so a safe id can never take a name a unique bare name needs.
        if naming == "auto":
            for name, ids in bare.items():
                if len(ids) == 1 and _SAFE.match(name):
                    chosen[ids[0]] = name
                    taken[name] = ids[0]
        for tool_id, _name in pairs:
            if tool_id in chosen:
                continue
            candidate = safe_name(tool_id)
            if candidate in taken or len(_uncut(tool_id)) > MAX_NAME:
                candidate = _hashed(tool_id)
            chosen[tool_id] = candidate
            taken[candidate] = tool_id
        for tool_id, _name in pairs:  # the safe id always works too, whatever name was exported
            taken.setdefault(safe_name(tool_id), tool_id)
        return cls(chosen, taken, {name: tuple(ids) for name, ids in bare.items()})

    def name(self, tool_id: str) -> str:
        """The provider name of ``tool_id``.

        Raises:
            KeyError: when the tool is not in the set.
        """
        return self.names[tool_id]

    def tool_id(self, provider_name: str) -> str:
        """The tool id a provider name stands for.

        A name that is not one of ours passes through unchanged, so the toolbox answers it with ``not_found``;
        a bare name two tools share is never resolved to one of them: it maps to itself, and the listing of
        the toolbox's answer shows the model the real names.
        """
        found = self.ids.get(provider_name)
        if found is not None:
            return found
        ids = self.bare.get(provider_name, ())
        return ids[0] if len(ids) == 1 else provider_name

    def ambiguous(self, provider_name: str) -> tuple[str, ...]:
        """The ids sharing the bare name ``provider_name`` when it names several tools (else empty)."""
        if provider_name in self.ids:
            return ()
        ids = self.bare.get(provider_name, ())
        return ids if len(ids) > 1 else ()

    def __call__(self, provider_name: str) -> str:
        return self.tool_id(provider_name)

    def arguments(self, tool_id: str, arguments: object) -> object:
        """Arguments as the tool expects them: the ``null`` placeholders of a strict export removed."""
        schema = self.schemas.get(tool_id)
        return drop_strict_nulls(arguments, schema) if schema is not None else arguments


def names_for(source: AdapterInput, naming: str) -> tuple[list[dict[str, Any]], bool, ToolNames]:
    """Definitions of ``source``, whether it was one item, and the names to export them under."""
    defs, single = definitions(source)
    table = ToolNames.from_ids([(str(d["id"]), str(d["name"])) for d in defs], naming=naming)
    return defs, single, table


Mapper = ToolNames | Callable[[str], str] | None


def resolve_call(mapper: Mapper, call_id: str | None, name: str, arguments: object) -> ToolCall:
    """A `ToolCall` for a provider's call: the name mapped back to a tool id, strict-mode nulls removed."""
    if isinstance(mapper, ToolNames):
        tool_id = mapper.tool_id(name)
        arguments = mapper.arguments(tool_id, arguments)
        name = tool_id
    elif mapper is not None:
        name = mapper(name)
    return loose_call(call_id, name, arguments)
