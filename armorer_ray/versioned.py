"""`VersionedToolbox`: a toolbox over a `Registry` that negotiates versions and migrates old calls.

Before a call reaches the pipeline (and so before validation), the toolbox asks the registry what the call's
name means: ``search`` and ``search@^1`` get the highest compatible non-deprecated version, and a call written
for a retired version gets the newest version its declared migrations reach, with its arguments upgraded. The
call then runs through the ordinary `Toolbox` path under the chosen version's id. Two events tell listeners what
happened: ``deprecated`` (the tool that runs is deprecated; the detail's ``message`` names the replacement) and
``migrated`` (``from_version``, ``to_version``, the upgraded ``arguments``); the result's ``migrated_from``
records the version the call was written for.

Example:
    >>> from armorer_ray import Lifecycle, tool
    >>> from armorer_ray.registry import Migration, create_registry
    >>> registry = create_registry()
    >>> _ = registry.register(tool(name="greet", version="1.0.0", description="Greet.",
    ...                            lifecycle=Lifecycle(deprecated=True, replaced_by="default:greet@1.1.0"))(
    ...                            lambda name: f"hi {name}"))
    >>> _ = registry.register(tool(name="greet", version="1.1.0", description="Greet.")(lambda name: f"hello {name}"))
    >>> box = registry.toolbox()
    >>> box.execute_sync({"name": "greet@^1", "arguments": {"name": "ada"}}).result
    'hello ada'
    >>> seen = []
    >>> _ = box.on("deprecated", lambda event: seen.append(event.detail["message"]))
    >>> box.execute_sync({"name": "default:greet@1.0.0", "arguments": {"name": "ada"}}).result, seen
    ('hi ada', ['tool default:greet@1.0.0 is deprecated; use default:greet@1.1.0 instead'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.policy import CallerLike
from armorer_ray.registry import Registry, Resolution, deprecation_notice
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

__all__ = ["VersionedToolbox"]


class VersionedToolbox(Toolbox):
    """A `Toolbox` whose calls are resolved by a `Registry` (see the module docstring).

    Args:
        registry: The versions to serve (the ones registered now; later registrations need a new toolbox).
        **options: Options of `Toolbox` (policy, middleware, context...).
    """

    def __init__(self, registry: Registry, **options: Any) -> None:
        super().__init__(**options)
        self.registry = registry
        for item in registry.tools():
            self.register(item, aliases=registry.aliases(item.id))

    def _negotiate(self, name: str) -> Resolution | None:
        try:
            return self.registry.negotiate(name)
        except ConfigError:
            return None

    def get_tool(self, name_or_id: str, *, caller: CallerLike | None = None) -> Tool | None:
        """Resolve as the registry does (ranges, highest non-deprecated version), then as `Toolbox.get_tool`.

        A call for a retired version that needs migrating is not resolved here: only `execute` can migrate.
        """
        resolution = self._negotiate(name_or_id)
        if resolution is not None and not resolution.steps:
            return super().get_tool(resolution.tool.id, caller=caller)
        return super().get_tool(name_or_id, caller=caller)

    async def _execute_one(self, item: ToolCall | Mapping[str, Any], options: Mapping[str, Any]) -> ToolResult:
        try:
            call = item if isinstance(item, ToolCall) else ToolCall.model_validate(item)
        except ValidationError:
            return await super()._execute_one(item, options)  # the toolbox reports the malformed call
        resolution = self._negotiate(call.name)
        if resolution is None:
            return await super()._execute_one(call, options)
        chosen = resolution.tool
        hub = self.events
        notice = deprecation_notice(chosen)
        if notice is not None and hub.wants("deprecated"):
            hub.emit("deprecated", {"tool": chosen, "call": call, "message": notice,
                                    "replaced_by": chosen.lifecycle.replaced_by if chosen.lifecycle else None})
        arguments = call.arguments
        if resolution.steps:
            try:
                if not isinstance(arguments, Mapping):
                    raise ConfigError(f"arguments must be an object, got {type(arguments).__name__}")
                arguments = resolution.migrate(arguments)
            except Exception as exc:  # a migration that fails is the caller's problem to fix, not a crash
                error = ToolError.of(
                    "validation", f"Could not upgrade arguments from {chosen.name}@{resolution.requested} to "
                                  f"{chosen.version}: {exc}", code="MIGRATION_FAILED")
                return ToolResult.failure(call.id, chosen.name, error, tool_id=chosen.id)
            if hub.wants("migrated"):
                hub.emit("migrated", {"tool": chosen, "call": call, "from_version": resolution.requested,
                                      "to_version": chosen.version, "arguments": arguments,
                                      "notes": [step.note for _, step in resolution.steps if step.note]})
        routed = call.model_copy(update={"name": chosen.id, "arguments": arguments})
        result = await super()._execute_one(routed, options)
        return result.replace(migrated_from=resolution.requested) if resolution.steps else result

    def to_json(self) -> list[dict[str, Any]]:
        """As `Toolbox.to_json`, plus a ``deprecation`` notice on deprecated versions."""
        out = super().to_json()
        for definition in out:
            found = self.registry.get(definition["id"]) if "@" in definition["id"] else None
            notice = deprecation_notice(found) if found is not None else None
            if notice:
                definition["deprecation"] = notice
        return out
