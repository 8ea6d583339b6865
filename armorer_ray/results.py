"""`ToolCall`, what a model asks for, and `ToolResult`, the one answer every call gets.

Both are pydantic models that round-trip exactly through JSON and pickle, because both cross Ray boundaries.
"""

from __future__ import annotations

import json
import operator
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from armorer_ray.errors import ErrorCategory, ToolError

__all__ = ["ActionRequest", "Caller", "Outcome", "OutputValidation", "ToolCall", "ToolResult", "build_result",
           "make_result", "model_from_values", "new_call_id"]

Outcome = Literal["success", "error", "action_required"]


def new_call_id() -> str:
    """A fresh random call id (UUID4 hex string).

    Example:
        >>> len(new_call_id())
        32
    """
    return uuid.uuid4().hex


class ToolCall(BaseModel):
    """A request to run one tool: ``{id, name, arguments}`` plus who is calling and how urgently.

    ``arguments`` may be given as a JSON object or as JSON text (as OpenAI sends it); text that is not a JSON
    object is kept as-is and reported as a validation error when the call runs, never raised here.

    Attributes:
        id: Call id; a fresh one is generated when omitted or empty.
        name: Tool name, id (``namespace:name@version``) or alias.
        arguments: The arguments, validated against the tool's parameter model when the call runs.
        tenant_id: Tenant the call is made for; travels to actors and appears in events.
        session_id: Conversation or agent session.
        user_id: End user on whose behalf the model acts.
        priority: Higher runs first when calls queue (backpressure); FIFO within one priority.
        trace_context: W3C trace-context carrier (``traceparent``...) so remote spans join the caller's trace.

    Example:
        >>> call = ToolCall(name="add", arguments='{"a": 1, "b": 2}')
        >>> call.arguments
        {'a': 1, 'b': 2}
        >>> ToolCall.model_validate_json(call.model_dump_json()) == call
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_call_id)
    name: str
    arguments: Any = Field(default_factory=dict)
    tenant_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    priority: int = 0
    trace_context: dict[str, str] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _fill_id(cls, value: object) -> object:
        return value if value else new_call_id()

    @field_validator("arguments", mode="before")
    @classmethod
    def _parse_arguments(cls, value: object) -> object:
        if value is None:
            return {}
        if isinstance(value, str | bytes):
            try:
                parsed = json.loads(value) if value.strip() else {}
            except (ValueError, RecursionError):  # RecursionError: hostile nesting past the decoder's limit
                return value  # reported as a validation error by the pipeline, with the parse failure
            return parsed
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)


class Caller(BaseModel):
    """Who calls: the fields of a `ToolCall` that calls made on the caller's behalf carry (workflow node calls).

    Attributes:
        tenant_id: Tenant the calls are made for.
        session_id: Conversation or agent session.
        user_id: End user on whose behalf the model acts.
        priority: Higher runs first when calls queue.
        trace_context: W3C trace-context carrier, so spans made for the calls join the caller's trace.

    Example:
        >>> caller = Caller(tenant_id="acme", user_id="ada")
        >>> call = caller.make_call("search", {"q": "x"}, id="run-1/search")
        >>> call.tenant_id, call.user_id, Caller.of(call) == caller
        ('acme', 'ada', True)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    priority: int = 0
    trace_context: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, call: ToolCall) -> Caller:
        """The caller of ``call``."""
        return cls(tenant_id=call.tenant_id, session_id=call.session_id, user_id=call.user_id,
                   priority=call.priority, trace_context=call.trace_context)

    def make_call(self, name: str, arguments: Any, *, id: str = "") -> ToolCall:
        """A `ToolCall` made by this caller (a fresh id when ``id`` is empty)."""
        return ToolCall(id=id, name=name, arguments=arguments, tenant_id=self.tenant_id, session_id=self.session_id,
                        user_id=self.user_id, priority=self.priority, trace_context=self.trace_context)


class ActionRequest(BaseModel):
    """What an ``action_required`` result waits for.

    Attributes:
        type: ``approval`` (a yes/no from a person) or ``input`` (data matching ``schema``).
        message: What to ask, in words.
        schema_: JSON Schema of the expected input, for ``input`` requests (serialised as ``schema``).
        resume_token: Pass to `Toolbox.resume` to run the paused call (exactly once).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type: Literal["approval", "input"]
    message: str
    schema_: dict[str, JsonValue] | None = Field(default=None, alias="schema")
    resume_token: str | None = None


class OutputValidation(BaseModel):
    """Whether the tool's return value matched its output model (present only when the tool has one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    success: bool
    error: str | None = None


class ToolResult(BaseModel):
    """The one answer to every call: exactly one per call, whatever happened.

    Attributes:
        call_id: Id of the call this answers.
        tool_name: The tool's name (for unknown tools: the name that was asked for).
        tool_id: The resolved tool's id, when one was found.
        outcome: ``success``, ``error`` or ``action_required``.
        result: The tool's raw return value on success, else None.
        content: What to show the model: the shaped output, the error message, or what is being asked for.
        error: Set exactly when ``outcome == "error"``.
        action: Set exactly when ``outcome == "action_required"``.
        output_validation: Output-model check, when the tool has an output model.
        dry_run: Whether the tool's dry-run handler produced this.
        input_digest: SHA-256 of the canonical JSON arguments, when digests are on.
        output_digest: SHA-256 of the canonical JSON output, when digests are on.
        started_at: Wall-clock start, seconds since the epoch.
        duration_ms: Time from admission to result.
        compression: Codec of ``content`` when compression middleware packed it (see `ToolResult.value`).
        attempts: How many times the body ran (retries count).
        migrated_from: The tool version the call's arguments were written for, when a declared migration upgraded
            them to the version that ran (see `armorer_ray.registry`).

    Example:
        >>> r = ToolResult.failure("c1", "lookup", ToolError.of("not_found", "no such user"))
        >>> (r.outcome, r.content, r.error.code)
        ('error', 'no such user', 'NOT_FOUND')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str
    tool_name: str
    tool_id: str | None = None
    outcome: Outcome
    result: Any = None
    content: Any = None
    error: ToolError | None = None
    action: ActionRequest | None = None
    output_validation: OutputValidation | None = None
    dry_run: bool = False
    input_digest: str | None = None
    output_digest: str | None = None
    started_at: float = 0.0
    duration_ms: float = 0.0
    compression: str | None = None
    attempts: int = 1
    migrated_from: str | None = None

    @property
    def tool_call_id(self) -> str:
        """Alias of ``call_id``, the name provider APIs use."""
        return self.call_id

    @property
    def ok(self) -> bool:
        """True for a successful outcome."""
        return self.outcome == "success"

    @property
    def error_category(self) -> ErrorCategory | None:
        """The error's category, or None when the call did not fail."""
        return self.error.category if self.error else None

    def value(self) -> Any:
        """The tool's output: ``result``, or ``content`` decompressed when compression middleware packed it.

        Raises:
            ToolExecutionError: when the call did not succeed.
        """
        from armorer_ray.errors import ToolExecutionError

        if self.outcome == "error" and self.error is not None:
            raise ToolExecutionError(self.error, self)
        if self.outcome == "action_required":
            raise ToolExecutionError(
                ToolError.of("conflict", f"Call is waiting for {self.action.type if self.action else 'action'}",
                             code="ACTION_REQUIRED"), self
            )
        if self.compression is not None:
            import importlib

            # Imported on use: only results packed by the compression middleware need the codecs.
            return importlib.import_module("armorer_ray.middleware.compression").decompress_content(self)
        return self.result

    @classmethod
    def failure(
        cls,
        call_id: str,
        tool_name: str,
        error: ToolError,
        *,
        tool_id: str | None = None,
        started_at: float | None = None,
        duration_ms: float = 0.0,
        input_digest: str | None = None,
        dry_run: bool = False,
    ) -> ToolResult:
        """An ``error`` result whose content is the error message."""
        return make_result(call_id, tool_name, tool_id, "error", None, error.message, error, None, None, dry_run,
                           input_digest, None, time.time() if started_at is None else started_at, duration_ms)

    @classmethod
    def from_exception(cls, call: ToolCall, exc: BaseException, *, tool_id: str | None = None) -> ToolResult:
        """An ``error`` result for ``call`` classifying ``exc`` (see `classify_exception`).

        Example:
            >>> from armorer_ray.errors import TimedOut
            >>> ToolResult.from_exception(ToolCall(name="t"), TimedOut("took longer than 1s")).error.category
            'timeout'
        """
        from armorer_ray.errors import classify_exception

        return cls.failure(call.id, call.name, classify_exception(exc), tool_id=tool_id)

    def replace(self, **changes: Any) -> ToolResult:
        """A copy with ``changes`` applied (results are frozen)."""
        return self.model_copy(update=changes)

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)


_RESULT_FIELDS = frozenset(ToolResult.model_fields)
# Every result built here has every field set, so all of them share one fields-set: pydantic never changes it in
# place (results are frozen; model_copy copies it before adding keys). One set less per result is ~0.6 KB of
# memory less, which a 1,000-call batch holding its results feels.
_ALL_SET = set(_RESULT_FIELDS)
_new = object.__new__
_set = object.__setattr__
_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {cls: tuple(cls.model_fields) for cls in (ToolCall, ToolResult)}
_VALUES = {cls: operator.itemgetter(*fields) for cls, fields in _FIELDS.items()}
_Model = TypeVar("_Model", ToolCall, ToolResult)


def model_from_values(cls: type[_Model], values: Sequence[Any], fields_set: Iterable[str] | None = None) -> _Model:
    """The `ToolCall` or `ToolResult` whose field values, in declaration order, are ``values``, built without
    validation (they were validated when the model they came from was made). For the Ray wire, see `_reduce`.

    Example:
        >>> call = ToolCall(id="c1", name="add", arguments={"a": 1})
        >>> model_from_values(ToolCall, [call.__dict__[name] for name in ToolCall.model_fields]) == call
        True
    """
    fields = _FIELDS[cls]
    model = _new(cls)
    _set(model, "__dict__", dict(zip(fields, values, strict=True)))
    _set(model, "__pydantic_fields_set__", set(fields if fields_set is None else fields_set))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def _reduce(model: ToolCall | ToolResult) -> tuple[Any, ...]:
    # Pickling calls and results is on every Ray hop (Deployment.submit, workflow nodes), and pydantic's own
    # __getstate__ route costs 20-45 µs each way; the field values as a tuple, rebuilt without validation, cost a
    # few µs. The set of fields given explicitly travels only when it is not all of them.
    cls = type(model)
    fields_set = model.__pydantic_fields_set__
    partial = None if len(fields_set) == len(_FIELDS[cls]) else tuple(fields_set)
    return model_from_values, (cls, _VALUES[cls](model.__dict__), partial)


def build_result(**fields: Any) -> ToolResult:
    """Build a `ToolResult` from trusted, complete field values without validation (the pipeline's hot path).

    ``model_construct`` costs about 10 µs per result in pydantic 2.14 because it re-walks every field; the
    pipeline already knows each value is well-typed, so it fills the instance directly. Every field must be
    given; tests compare results built here with validated ones through JSON and pickle.
    """
    if "migrated_from" not in fields:  # the one field added after the hot path was written; callers may omit it
        fields["migrated_from"] = None
    return _filled(fields)


def make_result(call_id: str, tool_name: str, tool_id: str | None, outcome: Outcome, result: Any, content: Any,
                error: ToolError | None, action: ActionRequest | None, output_validation: OutputValidation | None,
                dry_run: bool, input_digest: str | None, output_digest: str | None, started_at: float,
                duration_ms: float, attempts: int = 1) -> ToolResult:
    """`build_result` with positional arguments, for the pipeline's per-call results.

    Sixteen keyword arguments cost CPython about a microsecond to gather into a dict; a dict display with these
    positional values costs a sixth of that.

    Example:
        >>> make_result("c1", "t", None, "success", 1, 1, None, None, None, False, None, None, 0.0, 0.5).ok
        True
    """
    return _filled({
        "call_id": call_id, "tool_name": tool_name, "tool_id": tool_id, "outcome": outcome, "result": result,
        "content": content, "error": error, "action": action, "output_validation": output_validation,
        "dry_run": dry_run, "input_digest": input_digest, "output_digest": output_digest, "started_at": started_at,
        "duration_ms": duration_ms, "compression": None, "attempts": attempts, "migrated_from": None,
    })


def _filled(fields: dict[str, Any]) -> ToolResult:
    result = _new(ToolResult)
    _set(result, "__dict__", fields)
    _set(result, "__pydantic_fields_set__", _ALL_SET)
    _set(result, "__pydantic_extra__", None)
    _set(result, "__pydantic_private__", None)
    return result
