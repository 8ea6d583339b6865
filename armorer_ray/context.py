"""`CallContext`: what a tool body (and every middleware) sees of the call it serves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import JsonValue

from armorer_ray.cancellation import AbortSignal
from armorer_ray.events import CallProgress, EventHub, canonical_name
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.pipeline import StageClock
    from armorer_ray.policy import CallerLike
    from armorer_ray.streams.reducers import ChunkSink
    from armorer_ray.tools import Tool

__all__ = ["Approval", "CallContext", "ToolRunner"]


@dataclass(frozen=True, slots=True)
class Approval:
    """A person's decision on a call a policy paused: approved or rejected, with any input they supplied.

    `Toolbox.resume` makes one from its arguments; trusted code acting on a decision passes one to
    `Toolbox.execute` (``approval=``), and a workflow resume passes one per paused node.

    Attributes:
        granted: True lets a policy's ``needs_approval`` through; False rejects the call (``APPROVAL_REJECTED``).
        input: What a ``needs_input`` pause asked for; policies and the body read it as ``ctx.approval.input``.
        by: Who decided, for audit.
        reason: Why it was rejected (part of the error message).

    Example:
        >>> Approval(False, by="ops", reason="not this week")
        Approval(granted=False, input=None, by='ops', reason='not this week')
    """

    granted: bool
    input: JsonValue = None
    by: str | None = None
    reason: str | None = None


class ToolRunner(Protocol):
    """What a running call sees of the toolbox running it (``ctx.toolbox``): resolve a tool, run another call.

    A `Toolbox` is one; composed tools and the fallback middleware use it so their inner calls take the same
    pipeline (policies, middleware) as the outer one.
    """

    def get_tool(self, name_or_id: str, *, caller: CallerLike | None = None) -> Tool | None:
        """The tool a call naming ``name_or_id`` would run, or None."""
        ...

    async def execute(self, calls: ToolCall, /, *, timeout_s: float | None = None, signal: AbortSignal | None = None,
                      dry_run: bool = False, approval: Approval | None = None) -> ToolResult:
        """Run one call through the pipeline."""
        ...


@dataclass(slots=True)
class CallContext:
    """Everything a running call may use besides its arguments.

    A tool receives it by declaring a parameter annotated ``CallContext`` (any name); that parameter is left
    out of the tool's schema.

    Attributes:
        call: The call as the model sent it (arguments unvalidated).
        tool: The tool being run.
        toolbox: The toolbox running it (None only for bare pipelines in tests).
        values: The toolbox context merged with `with_context` values; also readable as ``ctx["key"]``.
        signal: Aborted when the call is cancelled or times out; long sync bodies should poll it.
        dry_run: True when the dry-run handler runs instead of the body.
        approval: Set when this run resumes a call paused for approval or input.
        params: Validated arguments (the tool's parameter model instance).
        resources: Resource pools by name (``async with ctx.resources["db"].lease() as conn``).
        attempt: 1 for the first run of the body, 2 for the first retry...
        timeout_s: The deadline that applies to the body (call option, else tool's, else toolbox's).
        started_at: When the call was admitted (seconds since the epoch).
        state: Scratch space that middleware shares along one call.
        sink: Where a streaming body's chunks go as they are produced (set when the call is streamed).
        call_signal: The call's own signal, while a deadline's run signal stands in ``signal`` (the pipeline
            sets it; `Retry` reads it to tell a caller's abort from a timed-out attempt).
        external_signal: Whether the caller passed an abort signal (then the body runs as a cancellable task).
        stage_clock: The profiler's per-stage clock, made only while someone listens to ``call.timings``.

    Example:
        >>> from armorer_ray import tool, Toolbox, ToolCall
        >>> @tool
        ... async def whoami(ctx: CallContext) -> str:
        ...     "Say which tenant calls."
        ...     return f"{ctx.call.tenant_id} via {ctx['region']}"
        >>> Toolbox([whoami], context={"region": "eu"}).execute_sync(
        ...     ToolCall(name="whoami", tenant_id="acme")).result
        'acme via eu'
    """

    call: ToolCall
    tool: Tool
    toolbox: ToolRunner | None
    values: Mapping[str, Any]
    signal: AbortSignal
    hub: EventHub
    dry_run: bool = False
    approval: Approval | None = None
    params: Any = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    timeout_s: float | None = None
    started_at: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)
    # Hand-offs between the pipeline's own steps, typed (they were ``state`` keys).
    sink: ChunkSink | None = None
    call_signal: AbortSignal | None = None
    external_signal: bool = False
    stage_clock: StageClock | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A context value, or ``default`` when absent."""
        return self.values.get(key, default)

    @property
    def tenant_id(self) -> str | None:
        """Tenant of the call."""
        return self.call.tenant_id

    @property
    def session_id(self) -> str | None:
        """Session of the call."""
        return self.call.session_id

    @property
    def user_id(self) -> str | None:
        """User of the call."""
        return self.call.user_id

    def emit(self, event_type: str, detail: Mapping[str, Any] | JsonValue = None) -> None:
        """Emit a custom event on the toolbox (and the tool's own hub), tagged with this call and tool.

        Args:
            event_type: Any name (``progress``, ``chunk``, ``ping``...).
            detail: A mapping, whose keys the event's detail gets; or any other JSON value, which the detail
                carries as ``value`` (``ctx.emit("ping", 1)`` gives ``{"value": 1, "call": ..., "tool": ...}``).
        """
        hub = self.hub
        name = canonical_name(event_type)  # an Armorer name such as "progress" goes out as its canonical event
        if hub.wants(name):
            fields = dict(detail) if isinstance(detail, Mapping) else {} if detail is None else {"value": detail}
            hub.emit(name, {**fields, "call": self.call, "tool": self.tool})

    def progress(self, percent: float | None = None, message: str | None = None) -> None:
        """Report progress (a ``call.progress`` event with ``percent`` and ``message``)."""
        if self.hub.wants(CallProgress.name):
            self.hub.publish(CallProgress(self.tool, self.call, percent, message))
