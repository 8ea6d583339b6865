"""What travels to a replica: a picklable recipe for the toolbox, and what comes back: its tool catalogue.

A `Toolbox` itself holds per-process state (event listeners, compiled pipelines, locks, a thread pool), so it is
never pickled. `ToolboxSpec` keeps its tools and options instead and builds a fresh toolbox inside the actor;
resource pools pickle as their factories (see `armorer_ray.resources`), so connections are opened there.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ray import cloudpickle

from armorer_ray.approvals import MemoryApprovalBook
from armorer_ray.executors import LocalExecutor
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

__all__ = ["Catalogue", "ToolInfo", "ToolboxSpec"]


@dataclass(frozen=True, slots=True)
class ToolboxSpec:
    """A toolbox as data: ``build()`` makes an equal toolbox wherever it is unpickled.

    Either ``factory`` (called inside the actor) or the captured tools and options are used.
    """

    tools: tuple[tuple[Tool, tuple[str, ...]], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    factory: Callable[[], Toolbox] | None = None

    @classmethod
    def of(cls, source: Toolbox | Callable[[], Toolbox]) -> ToolboxSpec:
        """Capture a toolbox (tools, aliases and every constructor option), or wrap a factory."""
        if not isinstance(source, Toolbox):
            return cls(factory=source)
        box = source
        # A memory approval book and the default executor are per-process: each replica makes its own.
        executor = box.executor
        if type(executor) is LocalExecutor:
            executor = LocalExecutor(max_threads=executor._max_threads)
        options: dict[str, Any] = {
            "policy": list(box._user_policies), "middleware": box.middleware, "context": dict(box.context),
            "read_only": box.risk.read_only, "allow_mutation": box.risk.allow_mutation,
            "allow_dangerous": box.risk.allow_dangerous, "budget": box.budget, "timeout_s": box.timeout_s,
            "tool_concurrency": box.tool_concurrency, "executor": executor, "resources": dict(box.resources),
            "digests": box.digests, "output": box.output,
            "approvals": None if isinstance(box.approvals, MemoryApprovalBook) else box.approvals,
            "on_start": box.hooks["start"], "on_drain": box.hooks["drain"], "on_stop": box.hooks["stop"],
            "name": box.name,
        }
        tools = tuple((portable(tool), box.aliases(tool.id)) for tool in box.tools())
        return cls(tools=tools, options=options)

    @property
    def name(self) -> str:
        """The toolbox name, or the factory's name."""
        return str(self.options.get("name") or getattr(self.factory, "__name__", "toolbox"))

    def build(self) -> Toolbox:
        """A fresh toolbox from this recipe."""
        if self.factory is not None:
            built = self.factory()
            if not isinstance(built, Toolbox):
                raise TypeError(f"the toolbox factory returned {type(built).__name__}, not a Toolbox")
            return built
        box = Toolbox(**self.options)
        for tool, aliases in self.tools:
            box.register(tool, aliases=aliases)
        return box


def portable(tool: Tool) -> Tool:
    """``tool`` with its body's string annotations resolved, when the body will be pickled by value.

    A replica rebuilds each tool from its body and re-reads the type hints. With ``from __future__ import
    annotations`` they are strings, and a function pickled by value (defined in ``__main__``, nested, or shadowed
    by its own ``@tool`` decorator, as most are) brings only the globals its code uses: a hint naming
    ``CallContext`` would not resolve over there. Resolving them here, where the function's module is whole,
    makes them travel as objects. Bodies pickled by reference (importable as themselves) are left alone.
    """
    body = tool._body
    if type(tool) is not Tool or not inspect.isfunction(body) or not _pickled_by_value(body):
        return tool
    if not any(isinstance(value, str) for value in body.__annotations__.values()):
        return tool
    try:
        hints = typing.get_type_hints(body, include_extras=True)
    except Exception:  # unresolvable here too: let the replica report it
        return tool
    clone = types.FunctionType(body.__code__, body.__globals__, body.__name__, body.__defaults__, body.__closure__)
    clone.__kwdefaults__ = body.__kwdefaults__
    clone.__dict__.update(body.__dict__)
    clone.__annotations__ = {**body.__annotations__, **hints}
    clone.__doc__, clone.__qualname__, clone.__module__ = body.__doc__, body.__qualname__, body.__module__
    return Tool(clone, **tool.options)


def _pickled_by_value(fn: types.FunctionType) -> bool:
    module = sys.modules.get(fn.__module__)
    if module is None or fn.__module__ == "__main__" or "<locals>" in fn.__qualname__:
        return True
    if fn.__module__ in getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", ()):
        return True
    found: object = module
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is not fn


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """What a handle needs to know about a tool without holding it: its names and whether retrying is safe."""

    id: str
    name: str
    namespace: str
    aliases: tuple[str, ...]
    idempotent: bool


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The tools of a deployment, looked up the way the toolbox resolves call names (conservatively)."""

    tools: tuple[ToolInfo, ...] = ()
    _by_key: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, toolbox: Toolbox) -> Catalogue:
        """The catalogue of a built toolbox."""
        infos = tuple(ToolInfo(t.id, t.name, t.namespace, toolbox.aliases(t.id), t.idempotent)
                      for t in toolbox.tools())
        return cls(infos)

    def __post_init__(self) -> None:
        for info in self.tools:
            for key in (info.id, info.name, f"{info.namespace}:{info.name}", *info.aliases):
                # A name shared by several tools is idempotent only if every one of them is.
                self._by_key[key] = self._by_key.get(key, True) and info.idempotent

    def is_idempotent(self, name: str) -> bool:
        """Whether a call to ``name`` may safely run again; unknown names are not."""
        return self._by_key.get(name, False)
