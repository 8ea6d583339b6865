"""Serving a `Registry` from a toolbox: the `Versioning` policy and `VersionedToolbox`.

`Versioning` is a `armorer_ray.policy.CallRouter`: before the toolbox resolves a call's name it asks the
registry what the name means. ``search`` and ``search@^1`` get the highest compatible non-deprecated version;
a call written for a retired version gets the newest version its declared migrations reach, its arguments
upgraded before validation. The call then takes the toolbox's one path (``call`` event, budget, the pipeline:
validation, policies, middleware, body), so every layer, the audit log and telemetry see the upgraded call.
Two events tell listeners what happened: ``deprecated`` (the tool that runs is deprecated; the detail's
``message`` names the replacement) and ``migrated`` (``from_version``, ``to_version``, the upgraded
``arguments``, the migrations' ``notes``); the result's ``migrated_from`` records the version the call was
written for. A migration that fails ends the call with a ``validation`` error coded ``MIGRATION_FAILED``.

Because the policy is part of the toolbox's options, every toolbox made from them routes the same way:
``extend`` and workflow node variants, deployment replicas (`armorer_ray.actors.Deployment`), workflow
workers (`armorer_ray.workflow.ToolboxRecipe`), and the batch, stream and resume paths of each.

Example:
    >>> from armorer_ray import ToolLifecycle, tool
    >>> from armorer_ray.registry import Migration, create_registry
    >>> registry = create_registry()
    >>> _ = registry.register(tool(name="greet", version="1.0.0", description="Greet.",
    ...                            lifecycle=ToolLifecycle(deprecated=True, replaced_by="default:greet@1.1.0"))(
    ...                            lambda name: f"hi {name}"))
    >>> _ = registry.register(tool(name="greet", version="1.1.0", description="Greet.")(lambda name: f"hello {name}"))
    >>> box = registry.toolbox()
    >>> box.execute_sync({"name": "greet@^1", "arguments": {"name": "ada"}}).result
    'hello ada'
    >>> seen = []
    >>> _ = box.on("call.deprecated", lambda event: seen.append(event.detail.message))
    >>> box.execute_sync({"name": "default:greet@1.0.0", "arguments": {"name": "ada"}}).result, seen
    ('hi ada', ['tool default:greet@1.0.0 is deprecated; use default:greet@1.1.0 instead'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.events import CallDeprecated, CallMigrated, EventHub
from armorer_ray.migrations import Resolution
from armorer_ray.negotiation import deprecation_notice
from armorer_ray.options import ToolboxOptions, ToolboxSettings
from armorer_ray.policy import RoutedCall, as_policies
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from armorer_ray.registry import Registry

__all__ = ["VersionedToolbox", "Versioning"]


@dataclass(frozen=True, eq=False)
class Versioning:
    """A policy that routes calls by a `Registry`'s rules (see the module docstring).

    Put it among a toolbox's policies, with the registry's tools registered in the toolbox (or use
    `Registry.toolbox`, which does both). It reads the registry at each call, so a version registered later is
    negotiated once the toolbox has the tool too.

    Args:
        registry: The versions, aliases and migrations to route by.

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> from armorer_ray.registry import Migration, create_registry
        >>> v2 = tool(name="find", version="2.0.0", description="Find.")(lambda query: query)
        >>> registry = create_registry().register(v2, migrations=[Migration("^1", lambda a: {"query": a["q"]})])
        >>> box = Toolbox([v2], policy=Versioning(registry))
        >>> result = box.execute_sync({"name": "find@1.2.0", "arguments": {"q": "ray"}})
        >>> result.result, result.migrated_from
        ('ray', '1.2.0')
    """

    registry: Registry

    def _negotiate(self, name: str) -> Resolution | None:
        try:
            return self.registry.negotiate(name)
        except ConfigError:  # not a tool reference the registry reads: the toolbox resolves it as usual
            return None

    def route_name(self, name: str) -> str | None:
        """The id of the version ``name`` gets, when it needs no migration; else None."""
        resolution = self._negotiate(name)
        return resolution.tool.id if resolution is not None and not resolution.steps else None

    def route_call(self, call: ToolCall, hub: EventHub,
                   resolve: Callable[[str], Tool | None]) -> RoutedCall | ToolResult | None:
        """The version ``call`` runs on, its arguments upgraded when it was written for a retired version.

        None (the toolbox resolves the name as usual) when the registry has no version for it or the toolbox
        does not show the chosen version to the caller.
        """
        resolution = self._negotiate(call.name)
        found = resolve(resolution.tool.id) if resolution is not None else None
        if resolution is None or found is None:
            return None
        chosen = found
        notice = deprecation_notice(chosen)
        if notice is not None and hub.wants(CallDeprecated.name):
            hub.publish(CallDeprecated(chosen, call, notice,
                                       chosen.lifecycle.replaced_by if chosen.lifecycle else None))
        if not resolution.steps:
            return RoutedCall(call, found)
        try:
            arguments = resolution.migrate(call.arguments)
        except Exception as exc:  # a migration that fails is the caller's problem to fix, not a crash
            error = ToolError.of(
                "validation", f"Could not upgrade arguments from {chosen.name}@{resolution.requested} to "
                              f"{chosen.version}: {exc}", code="MIGRATION_FAILED")
            return ToolResult.failure(call.id, chosen.name, error, tool_id=chosen.id)
        if hub.wants(CallMigrated.name):
            hub.publish(CallMigrated(chosen, call, resolution.requested, chosen.version, arguments,
                                     list(resolution.notes)))
        upgraded = call.model_copy(update={"name": chosen.id, "arguments": arguments})
        return RoutedCall(upgraded, found, resolution.requested)


class VersionedToolbox(Toolbox):
    """A `Toolbox` over a `Registry`'s versions, routed by a `Versioning` policy (see the module docstring).

    Args:
        registry: The versions to serve (the ones registered now; later registrations need a new toolbox).
        options: Options of `Toolbox` to start from.
        **settings: Keyword options of `Toolbox` (policy, middleware, context...); the `Versioning` policy comes
            first.
    """

    def __init__(self, registry: Registry, options: ToolboxOptions | None = None,
                 **settings: Unpack[ToolboxSettings]) -> None:
        base = options or ToolboxOptions()
        given = settings.get("policy")
        policies = as_policies(given) if given is not None else base.policies
        settings["policy"] = [Versioning(registry), *policies]
        super().__init__(options=base, **settings)
        self.registry = registry
        for item in registry.tools():
            self.register(item, aliases=registry.aliases(item.id))

    def to_json(self) -> list[dict[str, Any]]:
        """As `Toolbox.to_json`, plus a ``deprecation`` notice on deprecated versions."""
        out = super().to_json()
        for definition in out:
            found = self.registry.get(definition["id"]) if "@" in definition["id"] else None
            notice = deprecation_notice(found) if found is not None else None
            if notice:
                definition["deprecation"] = notice
        return out
