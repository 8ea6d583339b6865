"""`ToolboxOptions`: everything a toolbox is configured with, as one frozen, typed, picklable model.

A `Toolbox` is its tools plus one `ToolboxOptions`. Every way of making a toolbox from another (``extend``,
`combine_toolboxes`, a workflow recipe, a deployment's spec) is ``(tools, options.model_copy(update=...))``, so
the options are listed here once. The keyword shorthand (``Toolbox(tools, timeout_s=5, read_only=True)``) is
`ToolboxSettings`, folded into options by `ToolboxOptions.with_settings`.

Example:
    >>> options = ToolboxOptions(name="crm", timeout_s=5)
    >>> options.with_settings(read_only=True).risk.allow_mutation
    False
    >>> options.model_copy(update={"name": "crm-2"}).timeout_s
    5.0
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence  # noqa: F401  # Awaitable: pydantic resolves LifecycleHook
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SkipValidation,
    ValidationError,
    field_validator,
)
from typing_extensions import Unpack

from armorer_ray.approvals import ApprovalBook
from armorer_ray.digests import DigestSetting
from armorer_ray.errors import ConfigError
from armorer_ray.executors import Executor
from armorer_ray.lifecycle import LifecycleHook
from armorer_ray.middleware.base import Middleware
from armorer_ray.policy import Policies, PolicyObject, RiskPolicy, as_policies
from armorer_ray.shaping import OutputShaping

__all__ = ["Budget", "ToolboxOptions", "ToolboxSettings"]


class Budget(BaseModel):
    """Limits on a toolbox's whole life: calls admitted and wall time since creation.

    Example:
        >>> Budget(max_calls=100).max_duration_s is None
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_calls: int | None = None
    max_duration_s: NonNegativeFloat | None = None


# Protocol-typed fields are checked by hand (`_check_*`): pydantic cannot isinstance-check a structural type.
_Hooks = Annotated[tuple[LifecycleHook, ...], SkipValidation]


class ToolboxOptions(BaseModel):
    """Everything a toolbox is configured with; frozen, and picklable when its parts are.

    Attributes:
        name: A label for logs, deployments and the UI.
        policies: Toolbox-level policies (objects with ``before_execute`` / ``after_execute`` / ``visible``, or
            functions, which become `PolicyHooks`), in order.
        risk: The risk flags as a policy: refuse mutating or dangerous tools.
        budget: Limits on calls and time over the toolbox's life.
        middleware: Layers around every tool's execution, outermost first.
        context: Values merged into every call's context.
        timeout_s: Default per-call deadline for tools that set none.
        tool_concurrency: Default per-tool in-flight limit for tools that set none.
        executor: Where bodies run (None: the toolbox makes a `LocalExecutor`).
        resources: Named resource pools handed to tools as ``ctx.resources``.
        digests: Put SHA-256 digests of input and output on every result.
        output: Default output shaping for tools that set none.
        approvals: Where paused calls wait for `Toolbox.resume` (None: the toolbox makes an in-memory book; the
            toolbox's own ``options`` then name that book, so copies made from them share it).
        on_start: Hooks `Toolbox.start` runs once (sync or async); on_drain by ``drain``, on_stop by ``stop``.
        body_signal: The abort signal a body sees as ``ctx.signal`` while it runs under a deadline or a caller's
            signal. ``"derived"`` (default): a signal of this run, aborted by the caller's signal and by the
            deadline, so a body polling it stops at either without the deadline aborting the caller's signal (which
            may be shared by a batch or by retries). ``"caller"`` (Armorer's behaviour): the caller's signal
            itself (a fresh one when the caller gave none), never aborted by the deadline; the body is still
            cancelled (async) or interrupted (sync, threaded) when the deadline passes.

    Raises:
        ConfigError: for a middleware that is not callable or a policy of the wrong shape.
        pydantic.ValidationError: for values of the wrong type (a negative ``timeout_s``...).

    Example:
        >>> ToolboxOptions(policies=[lambda ctx: None]).policies[0].__class__.__name__
        'PolicyHooks'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = "toolbox"
    policies: Annotated[tuple[PolicyObject, ...], SkipValidation] = ()
    risk: Annotated[RiskPolicy, SkipValidation] = Field(default_factory=RiskPolicy)
    budget: Budget | None = None
    middleware: Annotated[tuple[Middleware, ...], SkipValidation] = ()
    context: Annotated[Mapping[str, Any], SkipValidation] = Field(default_factory=dict)
    timeout_s: PositiveFloat | None = None
    tool_concurrency: PositiveInt | None = None
    executor: Annotated[Executor | None, SkipValidation] = None
    resources: Annotated[Mapping[str, Any], SkipValidation] = Field(default_factory=dict)
    digests: DigestSetting = False
    output: OutputShaping | None = None
    approvals: Annotated[ApprovalBook | None, SkipValidation] = None
    on_start: _Hooks = ()
    on_drain: _Hooks = ()
    on_stop: _Hooks = ()
    body_signal: Literal["derived", "caller"] = "derived"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            cause = (first.get("ctx") or {}).get("error")
            if isinstance(cause, ConfigError):
                raise cause from None
            where = ".".join(str(part) for part in first["loc"]) or "options"
            raise ConfigError(f"invalid toolbox option {where}: {first['msg']}") from exc

    @field_validator("policies", mode="before")
    @classmethod
    def _check_policies(cls, value: Policies) -> tuple[PolicyObject, ...]:
        return as_policies(value)

    @field_validator("middleware", mode="before")
    @classmethod
    def _check_middleware(cls, value: object) -> tuple[Middleware, ...]:
        layers = tuple(value) if isinstance(value, Sequence) else (value,)
        for layer in layers:
            if not callable(layer):
                raise ConfigError(f"middleware must be callable (call, ctx, next) -> ToolResult, got {layer!r}")
        return layers

    @field_validator("context", "resources", mode="before")
    @classmethod
    def _copy_mapping(cls, value: object) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping, got {type(value).__name__}")
        return dict(value)

    @field_validator("on_start", "on_drain", "on_stop", mode="before")
    @classmethod
    def _check_hooks(cls, value: object) -> tuple[LifecycleHook, ...]:
        hooks = tuple(value) if isinstance(value, Sequence) else (value,)
        for hook in hooks:
            if not callable(hook):
                raise ConfigError(f"lifecycle hooks must be callable, got {hook!r}")
        return hooks

    @field_validator("risk", mode="before")
    @classmethod
    def _check_risk(cls, value: object) -> RiskPolicy:
        if not isinstance(value, RiskPolicy):
            raise ConfigError(f"risk must be a RiskPolicy, got {type(value).__name__}")
        return value

    @property
    def hooks(self) -> dict[str, tuple[LifecycleHook, ...]]:
        """The lifecycle hooks by moment: ``start``, ``drain``, ``stop``."""
        return {"start": self.on_start, "drain": self.on_drain, "stop": self.on_stop}

    def with_settings(self, **given: Unpack[ToolboxSettings]) -> ToolboxOptions:
        """A copy with the keyword shorthand of `Toolbox` applied (see `ToolboxSettings`), validated.

        Raises:
            ConfigError: for an unknown keyword or an invalid value.

        Example:
            >>> ToolboxOptions(risk=RiskPolicy(allow_dangerous=False)).with_settings(read_only=True).risk
            RiskPolicy(read_only=True, allow_mutation=False, allow_dangerous=False)
        """
        if not given:
            return self
        settings: dict[str, object] = dict(given)  # checked at run time too: untyped callers pass anything
        unknown = set(settings) - _SETTINGS
        if unknown:
            raise ConfigError(f"unknown toolbox option(s): {', '.join(sorted(unknown))}")
        fields = dict(self.__dict__)
        if "policy" in settings:
            fields["policies"] = settings.pop("policy")
        flags = {key: settings.pop(key) for key in ("read_only", "allow_mutation", "allow_dangerous")
                 if key in settings}
        if flags:
            risk = self.risk
            fields["risk"] = RiskPolicy(
                read_only=bool(flags.get("read_only", risk.read_only)),
                allow_mutation=bool(flags.get("allow_mutation", True if "read_only" in flags else risk.allow_mutation)),
                allow_dangerous=bool(flags.get("allow_dangerous", risk.allow_dangerous)),
            )
        if settings.get("name") is None:
            settings.pop("name", None)
        fields.update(settings)
        return ToolboxOptions(**fields)


class ToolboxSettings(TypedDict, total=False):
    """The keyword shorthand `Toolbox` accepts besides (or instead of) a `ToolboxOptions`.

    Keys are `ToolboxOptions` fields, except: ``policy`` (one policy or a list) for ``policies``, and the risk
    flags ``read_only`` (refuse mutating tools), ``allow_mutation`` and ``allow_dangerous`` for ``risk``.
    """

    name: str | None
    policy: Policies
    read_only: bool
    allow_mutation: bool
    allow_dangerous: bool
    budget: Budget | None
    middleware: Sequence[Middleware]
    context: Mapping[str, Any] | None
    timeout_s: float | None
    tool_concurrency: PositiveInt | None
    executor: Executor | None
    resources: Mapping[str, Any] | None
    digests: DigestSetting
    output: OutputShaping | None
    approvals: ApprovalBook | None
    on_start: Sequence[LifecycleHook]
    on_drain: Sequence[LifecycleHook]
    on_stop: Sequence[LifecycleHook]
    body_signal: Literal["derived", "caller"]


_SETTINGS = frozenset(ToolboxSettings.__annotations__)
