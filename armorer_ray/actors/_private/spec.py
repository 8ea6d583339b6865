"""What travels to a replica: a picklable recipe for the toolbox, and what comes back: its tool catalogue.

A `Toolbox` itself holds per-process state (event listeners, compiled pipelines, locks, a thread pool), so it is
never pickled. `ToolboxSpec` keeps its tools and options instead and builds a fresh toolbox inside the actor;
resource pools pickle as their factories (see `armorer_ray.resources`), so connections are opened there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from armorer_ray.approvals import MemoryApprovalBook
from armorer_ray.executors import LocalExecutor
from armorer_ray.options import ToolboxOptions
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

__all__ = ["Catalogue", "ToolInfo", "ToolboxSpec"]


@dataclass(frozen=True, slots=True)
class ToolboxSpec:
    """A toolbox as data: ``build()`` makes an equal toolbox wherever it is unpickled.

    Either ``factory`` (called inside the actor) or the captured tools and options are used.
    """

    tools: tuple[tuple[Tool, tuple[str, ...]], ...] = ()
    options: ToolboxOptions = field(default_factory=ToolboxOptions)
    factory: Callable[[], Toolbox] | None = None

    @classmethod
    def of(cls, source: Toolbox | Callable[[], Toolbox]) -> ToolboxSpec:
        """Capture a toolbox (tools, aliases and every constructor option), or wrap a factory."""
        if not isinstance(source, Toolbox):
            return cls(factory=source)
        box = source
        # A memory approval book and the default executor are per-process: each replica makes its own.
        update: dict[str, object] = {}
        executor = box.executor
        if type(executor) is LocalExecutor:
            update["executor"] = LocalExecutor(max_threads=executor._max_threads)
        if isinstance(box.approvals, MemoryApprovalBook):
            update["approvals"] = None
        # A tool whose body travels by value carries its parameter model and context parameter (see Tool.__reduce__).
        tools = tuple((tool, box.aliases(tool.id)) for tool in box.tools())
        return cls(tools=tools, options=box.options.model_copy(update=update))

    @property
    def name(self) -> str:
        """The toolbox name, or the factory's name."""
        if self.factory is not None:
            return str(getattr(self.factory, "__name__", "toolbox"))
        return self.options.name

    def build(self) -> Toolbox:
        """A fresh toolbox from this recipe."""
        if self.factory is not None:
            built = self.factory()
            if not isinstance(built, Toolbox):
                raise TypeError(f"the toolbox factory returned {type(built).__name__}, not a Toolbox")
            return built
        box = Toolbox(options=self.options)
        for tool, aliases in self.tools:
            box.register(tool, aliases=aliases)
        return box


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
