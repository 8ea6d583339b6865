"""Policies decide, before a body runs and after it ran, whether a call may go on.

A policy is any object with ``before_execute(ctx)`` and/or ``after_execute(ctx)`` (sync or async), or a bare
callable used as ``before_execute``. ``before_execute`` returns None or True (allow), False (deny), or a
`Decision`. ``needs_approval`` and ``needs_input`` pause the call: the result is ``action_required`` and carries
a resume token for `Toolbox.resume`. A toolbox evaluates, in order: its risk flags, its own policies, then the
tool's policies; the first decision that is not "allow" ends the evaluation.

A toolbox policy may also have ``visible(tool, caller) -> bool``: a visibility rule. The toolbox resolves a
call only among the tools every rule shows its caller, so a hidden tool answers ``not_found`` exactly as a
missing one does, before validation (whose errors would describe its parameters) and before any hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from armorer_ray.context import Approval
from armorer_ray.results import ToolCall

if TYPE_CHECKING:
    from armorer_ray.errors import ToolError
    from armorer_ray.events import EventHub
    from armorer_ray.results import ToolResult
    from armorer_ray.tools import Tool

__all__ = ["AfterPolicy", "CallRouter", "CallerLike", "Decision", "Policies", "Policy", "PolicyContext", "PolicyHooks",
           "PolicyLike", "PolicyObject", "RiskPolicy", "RoutedCall", "VisibilityPolicy", "VisibilityRule",
           "call_routers", "compile_hooks", "evaluate_after", "evaluate_before", "visibility_rules"]

DecisionStatus = Literal["allow", "deny", "needs_approval", "needs_input"]


class CallerLike(Protocol):
    """Whoever a visibility rule decides for: a `ToolCall` or a `Caller` (both carry these ids)."""

    @property
    def tenant_id(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...


VisibilityRule = Callable[["Tool", CallerLike], bool]
"""``(tool, caller) -> bool``: whether the caller may see, and so call, the tool."""


class Decision(BaseModel):
    """A policy's verdict on a call.

    Example:
        >>> Decision.deny("outside business hours").status
        'deny'
        >>> Decision.needs_input("Which account?", schema={"type": "object"}).status
        'needs_input'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    status: DecisionStatus
    reason: str | None = None
    schema_: dict[str, JsonValue] | None = Field(default=None, alias="schema")

    @classmethod
    def allow(cls) -> Decision:
        """Let the call run."""
        return _ALLOW

    @classmethod
    def deny(cls, reason: str = "Policy denied") -> Decision:
        """Refuse the call; the model sees ``reason`` as a ``permission`` error coded ``POLICY_DENIED``."""
        return cls(status="deny", reason=reason)

    @classmethod
    def needs_approval(cls, reason: str = "Tool execution requires approval") -> Decision:
        """Pause the call until a person approves it with `Toolbox.resume`."""
        return cls(status="needs_approval", reason=reason)

    @classmethod
    def needs_input(
        cls, reason: str = "Tool execution requires input", schema: Mapping[str, JsonValue] | None = None
    ) -> Decision:
        """Pause the call until someone supplies input (matching ``schema``) with `Toolbox.resume`."""
        return cls(status="needs_input", reason=reason, schema_=dict(schema) if schema else None)


_ALLOW = Decision(status="allow")


@dataclass(slots=True)
class PolicyContext:
    """What a policy hook sees.

    Attributes:
        tool: The tool to run.
        call: The call (arguments as sent).
        params: Validated arguments as a dict.
        values: The toolbox context.
        approval: Set when the call is being resumed after approval or input.
        outcome: After the call: ``success``, ``error``, ``denied`` or ``action_required``.
        result: After a success: the raw return value.
        error: After a failure: the `ToolError`.
        reason: After a denial or pause: the reason.
        policy_context: Values `armorer_ray.policy_context.PolicyContextProvider` policies computed for this call.
    """

    tool: Tool
    call: ToolCall
    params: Mapping[str, Any]
    values: Mapping[str, Any] = field(default_factory=dict)
    approval: Approval | None = None
    outcome: str | None = None
    result: Any = None
    error: ToolError | None = None
    reason: str | None = None
    policy_context: dict[str, Any] = field(default_factory=dict)

    @property
    def tool_name(self) -> str:
        """Name of the tool."""
        return self.tool.name


BeforeHook = Callable[[PolicyContext], "Decision | bool | Awaitable[Decision | bool | None] | None"]
AfterHook = Callable[[PolicyContext], "Awaitable[None] | None"]


@runtime_checkable
class Policy(Protocol):
    """A policy that decides before a call runs. A policy object has this hook, `AfterPolicy`'s, a
    `VisibilityPolicy`'s ``visible``, or any of them (use `PolicyHooks` to build one from functions)."""

    def before_execute(self, ctx: PolicyContext) -> Decision | bool | Awaitable[Decision | bool | None] | None:
        """Decide whether the call may run."""
        ...


@runtime_checkable
class AfterPolicy(Protocol):
    """A policy that sees each call after it ran (its outcome, result or error)."""

    def after_execute(self, ctx: PolicyContext) -> Awaitable[None] | None:
        """Observe the finished call; an exception is logged, never changes the result."""
        ...


@runtime_checkable
class VisibilityPolicy(Protocol):
    """A toolbox policy that hides tools from some callers (see the module docstring)."""

    def visible(self, tool: Tool, caller: CallerLike) -> bool:
        """Whether ``caller`` may see, and so call, ``tool``."""
        ...


@dataclass(frozen=True, slots=True)
class PolicyHooks:
    """A policy made of plain functions, sync or async.

    Example:
        >>> no_prod = PolicyHooks(before=lambda ctx: ctx.params.get("env") != "prod")
    """

    before: BeforeHook | None = None
    after: AfterHook | None = None

    def before_execute(self, ctx: PolicyContext) -> Decision | bool | Awaitable[Decision | bool | None] | None:
        return self.before(ctx) if self.before else None

    def after_execute(self, ctx: PolicyContext) -> Awaitable[None] | None:
        return self.after(ctx) if self.after else None


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """The toolbox's risk flags as a policy: refuse mutating or dangerous tools when asked to.

    It reads only the tool's `ToolRisk` (``tool.risk``), however the tool spelled its flags. ``read_only=True``
    is the shorthand for ``allow_mutation=False`` (it forces it); the OpenAI Agents gate decides by this same
    policy.

    Example:
        >>> RiskPolicy(read_only=True).allow_mutation
        False
        >>> from armorer_ray import tool
        >>> drop = tool(name="drop", description="Drop a table.", metadata={"mutates": True})(lambda: None)
        >>> RiskPolicy(read_only=True).refusal(drop)
        'mutating'
    """

    read_only: bool = False
    allow_mutation: bool = True
    allow_dangerous: bool = True

    def __post_init__(self) -> None:
        if self.read_only:
            object.__setattr__(self, "allow_mutation", False)

    @property
    def restricts(self) -> bool:
        """Whether this policy can refuse anything at all."""
        return not (self.allow_mutation and self.allow_dangerous)

    def refusal(self, tool: Tool) -> Literal["mutating", "dangerous"] | None:
        """Why this policy refuses ``tool`` (mutation is checked first), or None when it allows it."""
        if not self.allow_mutation and tool.risk.mutates:
            return "mutating"
        if not self.allow_dangerous and tool.risk.dangerous:
            return "dangerous"
        return None

    def before_execute(self, ctx: PolicyContext) -> Decision | None:
        refused = self.refusal(ctx.tool)
        if refused is None:
            return None
        return Decision.deny(f'{refused.capitalize()} tool "{ctx.tool.name}" is not allowed')


def as_policies(policy: Policies) -> tuple[PolicyObject, ...]:
    """Normalise the ``policy=`` option (one, several, or none) into a tuple of policy objects.

    Raises:
        ConfigError: for an item that has no hook and is not callable (the argument is checked at run time,
            so values from untyped code get this error rather than a later ``AttributeError``).
    """
    if policy is None:
        return ()
    items: list[object] = list(policy) if isinstance(policy, list | tuple) else [policy]
    out: list[PolicyObject] = []
    for item in items:
        if any(hasattr(item, facet) for facet in ("before_execute", "after_execute", "visible", "route_call")):
            out.append(cast(PolicyObject, item))  # checked by its hooks, the way Protocols match
        elif callable(item):
            out.append(PolicyHooks(before=item))
        else:
            from armorer_ray.errors import ConfigError

            raise ConfigError(
                f"policy must have before_execute/after_execute/visible or be callable, got {type(item).__name__}"
            )
    return tuple(out)


def visibility_rules(policies: Sequence[PolicyObject]) -> tuple[VisibilityRule, ...]:
    """The bound ``visible`` methods of ``policies``, in order (policies without one are skipped).

    Example:
        >>> class Nobody:
        ...     def visible(self, tool, caller):
        ...         return False
        >>> len(visibility_rules([Nobody(), RiskPolicy()]))
        1
    """
    rules: list[VisibilityRule] = []
    for policy in policies:
        rule = getattr(policy, "visible", None)
        if callable(rule):
            rules.append(rule)
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class RoutedCall:
    """What a `CallRouter` decided: the call to run (its arguments possibly upgraded) and the tool to run it on.

    Attributes:
        call: The call to run.
        tool: The tool that runs it (one the toolbox resolved for the caller).
        migrated_from: The version the call was written for, when its arguments were upgraded (recorded on the
            result as ``migrated_from``).
    """

    call: ToolCall
    tool: Tool
    migrated_from: str | None = None


@runtime_checkable
class CallRouter(Protocol):
    """A policy facet that names a call's tool before the toolbox resolves it (version negotiation, migrations).

    The toolbox asks its routers, in order, before resolving a call's name; the first that answers decides.
    `armorer_ray.versioned.Versioning` is one: ``name@^1`` gets the highest compatible version, and a call for a
    retired version runs on a newer one with its arguments upgraded. Routers live in the options' policies, so
    every toolbox made from the options (``extend``, deployment replicas, workflow workers) routes the same way.
    """

    def route_name(self, name: str) -> str | None:
        """The id ``name`` means, when this router decides it without changing a call (else None)."""
        ...

    def route_call(self, call: ToolCall, hub: EventHub,
                   resolve: Callable[[str], Tool | None]) -> RoutedCall | ToolResult | None:
        """The call to run and its tool, a failure result (the call ends there), or None (not this router's).

        ``resolve(tool_id)`` is the tool the toolbox shows this call's caller under that id, or None: a router
        answers only with such a tool, so a hidden tool stays not found (and no migration runs for it).
        """
        ...


PolicyObject = Policy | AfterPolicy | VisibilityPolicy | CallRouter
"""A policy as toolboxes and tools keep it: an object with ``before_execute``, ``after_execute``, ``visible`` and/or
``route_call``."""

PolicyLike = PolicyObject | BeforeHook
"""One policy as ``policy=`` accepts it: a policy object, or a bare function used as its ``before_execute``."""

Policies = PolicyLike | Sequence[PolicyLike] | None
"""What ``policy=`` of a tool, toolbox or workflow node accepts: one policy, several in order, or none."""


def call_routers(policies: Sequence[object]) -> tuple[CallRouter, ...]:
    """The policies that are `CallRouter` s, in order."""
    return tuple(policy for policy in policies if isinstance(policy, CallRouter))


def _normalise(verdict: object) -> Decision:
    if verdict is None or verdict is True:
        return _ALLOW
    if verdict is False:
        return Decision.deny()
    if isinstance(verdict, Decision):
        return verdict
    if isinstance(verdict, Mapping):
        # The TypeScript shape {allow, reason, status, action}: status wins, else allow=False denies.
        status = verdict.get("status")
        reason = verdict.get("reason")
        action = verdict.get("action") or {}
        if status in ("needs_approval", "needs_input"):
            return Decision(status=status, reason=reason or action.get("message"), schema_=action.get("schema"))
        if verdict.get("allow") is False or status == "deny":
            return Decision.deny(reason or "Policy denied")
        return _ALLOW
    from armorer_ray.errors import ConfigError

    raise ConfigError(f"policy returned {type(verdict).__name__}; expected Decision, bool or None")


def compile_hooks(policies: Sequence[PolicyObject]) -> tuple[tuple[BeforeHook, ...], tuple[AfterHook, ...]]:
    """The bound ``before_execute`` and ``after_execute`` hooks of ``policies``, in order, absent ones skipped.

    Done once per tool registration, so a call pays only for hooks that exist.
    """
    befores: list[BeforeHook] = []
    afters: list[AfterHook] = []
    for policy in policies:
        if isinstance(policy, PolicyHooks):
            if policy.before is not None:
                befores.append(policy.before)
            if policy.after is not None:
                afters.append(policy.after)
            continue
        before = getattr(policy, "before_execute", None)
        after = getattr(policy, "after_execute", None)
        if before is not None:
            befores.append(before)
        if after is not None:
            afters.append(after)
    return tuple(befores), tuple(afters)


async def evaluate_before(hooks: Sequence[BeforeHook], ctx: PolicyContext) -> Decision:
    """Run before-hooks in order; the first verdict that is not "allow" wins.

    A resumed, approved call passes any later ``needs_approval`` (the person already said yes); a deny
    still wins, and ``needs_input`` repeats unless the policy accepts the supplied input.
    """
    for hook in hooks:
        verdict = hook(ctx)
        if verdict is None or verdict is True:
            continue
        if inspect.isawaitable(verdict):
            verdict = await verdict
        decision = _normalise(verdict)
        if decision.status == "allow":
            continue
        if decision.status == "needs_approval" and ctx.approval is not None and ctx.approval.granted:
            continue
        return decision
    return _ALLOW


async def evaluate_after(hooks: Sequence[AfterHook], ctx: PolicyContext) -> list[BaseException]:
    """Run every after-hook (toolbox's, then tool's); returns the exceptions they raised."""
    failures: list[BaseException] = []
    for hook in hooks:
        try:
            outcome = hook(ctx)
            if outcome is not None and inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            failures.append(exc)
    return failures
