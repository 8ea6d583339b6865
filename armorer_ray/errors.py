"""Errors: the exception tree, the `ToolError` a model sees, and the mapping between them.

```
ArmorerError                      base of everything this library raises
├── ConfigError                   bad options or definitions, found at construction time
├── MissingExtraError             an optional backend is not installed; the message names the pip install
├── ToolFailure                   raised by tool code (or our layers) to choose the ToolError the model sees
│   ├── InvalidArguments          validation   VALIDATION_ERROR
│   ├── Denied                    permission   PERMISSION_DENIED
│   ├── NotFound                  not_found    NOT_FOUND
│   ├── Conflict                  conflict     CONFLICT
│   ├── Transient                 transient    TRANSIENT_ERROR    retryable
│   ├── TimedOut                  timeout      TIMEOUT            retryable
│   ├── Cancelled                 cancelled    CANCELLED
│   ├── SandboxError              internal     SANDBOX_ERROR      a sandboxed body's process failed
│   └── SandboxLimitExceeded      timeout / internal, by limit   a sandboxed body hit a resource limit
├── ActionRequired                raised by tool code to pause its call for a person (action_required result)
├── ToolExecutionError            a call failed where the caller asked for an exception (tool(...), fail_fast)
├── StoreError                    a Store or VectorStore backend failed (wraps the driver's exception)
└── DeploymentError               no replica could take the call
    └── Backpressure              the queue is full; transient, retry later
```

A failed call *returns* a `ToolResult` whose `error` is a `ToolError`; only the explicit raising forms
(`await tool(...)`, `error_mode="fail_fast"`) raise, and then always `ToolExecutionError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

if TYPE_CHECKING:
    from armorer_ray.results import ToolResult

__all__ = [
    "DEFAULT_CODES",
    "ActionRequired",
    "ArmorerError",
    "Backpressure",
    "Cancelled",
    "ConfigError",
    "Conflict",
    "Denied",
    "DeploymentError",
    "ErrorCategory",
    "InvalidArguments",
    "MissingExtraError",
    "NotFound",
    "SandboxError",
    "SandboxLimit",
    "SandboxLimitExceeded",
    "StoreError",
    "TimedOut",
    "ToolError",
    "ToolExecutionError",
    "ToolFailure",
    "Transient",
    "classify_exception",
]

ErrorCategory = Literal[
    "validation", "permission", "not_found", "conflict", "transient", "timeout", "cancelled", "internal"
]

DEFAULT_CODES: Mapping[str, str] = {
    "validation": "VALIDATION_ERROR",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "conflict": "CONFLICT",
    "transient": "TRANSIENT_ERROR",
    "timeout": "TIMEOUT",
    "cancelled": "CANCELLED",
    "internal": "INTERNAL_ERROR",
}

_RETRYABLE_CATEGORIES = frozenset({"transient", "timeout"})

# errno-style codes that mean "the network hiccupped": the same call may well succeed if tried again.
TRANSIENT_CODES = frozenset(
    {"ETIMEDOUT", "ECONNRESET", "EAI_AGAIN", "ECONNREFUSED", "ENETDOWN", "ENETUNREACH", "EHOSTUNREACH", "EPIPE"}
)


class ToolError(BaseModel):
    """What went wrong with a call, in a shape a model (and a program) can act on.

    Attributes:
        code: A stable machine-readable code, such as ``VALIDATION_ERROR`` or ``RATE_LIMITED``.
        category: One of the eight categories; decides retries, breakers and fallbacks.
        retryable: Whether the same call may succeed if tried again unchanged.
        message: A sentence for the model: what failed and, where we know it, what to change.
        details: Extra JSON, such as validation issues or a ``retry_after_s``.

    Example:
        >>> ToolError.of("timeout", "took longer than 2s").retryable
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    category: ErrorCategory
    retryable: bool = False
    message: str
    details: JsonValue = None

    @classmethod
    def of(
        cls,
        category: ErrorCategory,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        details: JsonValue = None,
    ) -> ToolError:
        """Build an error with the category's default code and retryability unless given.

        Example:
            >>> ToolError.of("not_found", "Tool not found: x").code
            'NOT_FOUND'
        """
        return cls(
            code=code or DEFAULT_CODES[category],
            category=category,
            retryable=category in _RETRYABLE_CATEGORIES if retryable is None else retryable,
            message=message,
            details=details,
        )


class ArmorerError(Exception):
    """Base class of every exception armorer-ray raises."""


class ConfigError(ArmorerError, ValueError):
    """Raised at construction time for invalid options, tool definitions or registrations."""


class MissingExtraError(ArmorerError, ImportError):
    """Raised on first use of an optional backend whose extra is not installed; says what to install."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs an optional dependency: pip install 'armorer-ray[{extra}]'")
        self.extra = extra


class ToolFailure(ArmorerError):
    """Raised inside a tool (or by a layer of the pipeline) to choose the `ToolError` the model sees.

    Subclasses fix the category; ``code``, ``retryable`` and ``details`` may be overridden per raise.

    Example:
        >>> Transient("upstream returned 503", code="UPSTREAM_503").to_tool_error().retryable
        True
    """

    category: ClassVar[ErrorCategory] = "internal"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        retryable: bool | None = None,
        details: JsonValue = None,
    ) -> None:
        super().__init__(message)
        self.message = message or type(self).__name__
        self.code = code or self.default_code or DEFAULT_CODES[self.category]
        self.retryable = self.category in _RETRYABLE_CATEGORIES if retryable is None else retryable
        self.details = details

    def to_tool_error(self) -> ToolError:
        """The `ToolError` this failure stands for."""
        return ToolError(
            code=self.code, category=self.category, retryable=self.retryable, message=self.message, details=self.details
        )


class ActionRequired(ArmorerError):
    """Raised by a tool body to pause its call until a person approves it or gives input.

    The pipeline answers the call with an ``action_required`` result and a resume token, exactly as when a
    policy pauses it; `Toolbox.resume` runs the call again with ``ctx.approval`` set. Imported MCP tools raise
    it when the remote server pauses a call, so a remote pause is a local pause.

    Example:
        >>> ActionRequired("a supervisor must approve").kind
        'approval'
    """

    def __init__(self, message: str, *, kind: Literal["approval", "input"] = "approval",
                 schema: dict[str, JsonValue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind: Literal["approval", "input"] = kind
        self.schema = schema

    def __reduce__(self) -> tuple[Any, ...]:
        return _action_required, (self.message, self.kind, self.schema)


def _action_required(message: str, kind: Literal["approval", "input"],
                     schema: dict[str, JsonValue] | None) -> ActionRequired:
    return ActionRequired(message, kind=kind, schema=schema)


class InvalidArguments(ToolFailure):
    """The arguments (or the output, in strict output validation) do not fit the schema."""

    category = "validation"


class Denied(ToolFailure):
    """A policy or permission check refused the call."""

    category = "permission"


class NotFound(ToolFailure):
    """The tool, or something the tool looked for, does not exist."""

    category = "not_found"


class Conflict(ToolFailure):
    """The call conflicts with current state (budget exhausted, already resumed, version clash)."""

    category = "conflict"


class Transient(ToolFailure):
    """A passing failure (network, overload, rate limit); retrying later may succeed."""

    category = "transient"


class TimedOut(ToolFailure):
    """The call ran past its deadline and was stopped."""

    category = "timeout"


class Cancelled(ToolFailure):
    """The call was cancelled by its caller or an abort signal before it finished."""

    category = "cancelled"


class SandboxError(ToolFailure):
    """A sandboxed body could not run or report back: its process crashed, or what crosses to or from it
    does not pickle (the code says which: ``SANDBOX_CRASHED``, ``SANDBOX_NOT_PICKLABLE``, ``SANDBOX_ERROR``)."""

    default_code = "SANDBOX_ERROR"


SandboxLimit = Literal["wall", "cpu", "memory", "output"]

# Time limits are timeouts (a wall-clock overrun may pass on a retry; spent CPU will be spent again); memory and
# output size are internal: the same call will hit them again.
_SANDBOX_LIMITS: Mapping[str, tuple[ErrorCategory, str, bool]] = {
    "wall": ("timeout", "SANDBOX_WALL_TIME", True),
    "cpu": ("timeout", "SANDBOX_CPU_TIME", False),
    "memory": ("internal", "SANDBOX_MEMORY", False),
    "output": ("internal", "SANDBOX_OUTPUT_SIZE", False),
}


class SandboxLimitExceeded(ToolFailure):
    """A sandboxed body ran past a resource limit and its process was stopped.

    The category follows the limit: ``wall`` → timeout, ``SANDBOX_WALL_TIME``, retryable; ``cpu`` → timeout,
    ``SANDBOX_CPU_TIME``; ``memory`` → internal, ``SANDBOX_MEMORY``; ``output`` → internal, ``SANDBOX_OUTPUT_SIZE``.
    ``details`` holds ``{"limit": ..., "value": ...}``.

    Example:
        >>> error = SandboxLimitExceeded("cpu", 2, "used more than 2s of CPU").to_tool_error()
        >>> error.category, error.code, error.retryable, error.details
        ('timeout', 'SANDBOX_CPU_TIME', False, {'limit': 'cpu', 'value': 2})
    """

    def __init__(self, limit: SandboxLimit, value: float, message: str) -> None:
        _category, code, retryable = _SANDBOX_LIMITS[limit]
        super().__init__(message, code=code, retryable=retryable, details={"limit": limit, "value": value})
        self.limit: SandboxLimit = limit
        self.value = value

    def to_tool_error(self) -> ToolError:
        """The `ToolError` for this limit (its category depends on the limit, unlike other failures)."""
        return ToolError(code=self.code, category=_SANDBOX_LIMITS[self.limit][0], retryable=self.retryable,
                         message=self.message, details=self.details)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.limit, self.value, self.message))


class ToolExecutionError(ArmorerError):
    """Raised by the raising call forms (`await tool(...)`, ``error_mode="fail_fast"``) when a call fails.

    Attributes:
        error: The `ToolError` of the failed call.
        result: The full `ToolResult`, when there is one.
    """

    def __init__(self, error: ToolError, result: ToolResult | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.error, self.result))


class StoreError(ArmorerError):
    """A Store or VectorStore backend failed; ``__cause__`` holds the driver's exception."""


class DeploymentError(ArmorerError):
    """No replica of a Deployment could take the call."""


class Backpressure(DeploymentError):
    """The queue in front of a toolbox or deployment is full; the call was shed. Retry later."""


def _message_of(value: object) -> str:
    if isinstance(value, BaseException):
        return str(value)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), default=_refuse)
    except (TypeError, ValueError):
        return str(value)


def _refuse(value: object) -> object:
    raise TypeError(type(value).__name__)


def classify_exception(exc: BaseException | object) -> ToolError:
    """Map anything a tool raised to the `ToolError` the model sees.

    Order: our own `ToolFailure` keeps its category; `TimeoutError` or a "timeout" in the message is a
    retryable timeout; network codes (``ECONNRESET``...), connection errors and "rate limit" are transient;
    everything else is internal, coded by the exception's ``code`` attribute or class name.

    Args:
        exc: The exception (or, for callers that received something odd, any value).

    Returns:
        A `ToolError` whose message names the exception class when that adds information.

    Example:
        >>> classify_exception(ConnectionResetError("peer went away")).category
        'transient'
        >>> classify_exception(KeyError("user")).message
        "KeyError: 'user'"
    """
    if isinstance(exc, ToolFailure):
        return exc.to_tool_error()
    if isinstance(exc, ToolExecutionError):
        return exc.error
    message = _message_of(exc)
    raw_code = getattr(exc, "code", None)
    code = raw_code if isinstance(raw_code, str) and raw_code else None
    name = type(exc).__name__ if isinstance(exc, BaseException) and type(exc) is not Exception else None
    prefixed = f"{name}: {message}" if name and message else (name or message or "Unknown error")
    if isinstance(exc, TimeoutError) or code == "TIMEOUT" or "timeout" in message.lower():
        return ToolError.of("timeout", prefixed, code=code or "TIMEOUT")
    if (
        isinstance(exc, ConnectionError)
        or (code is not None and code.upper() in TRANSIENT_CODES)
        or "rate limit" in message.lower()
    ):
        return ToolError.of("transient", prefixed, code=code or "TRANSIENT_ERROR")
    return ToolError.of("internal", prefixed, code=code or name or "INTERNAL_ERROR")
