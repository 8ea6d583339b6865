"""Composition: new tools out of tools: pipe, bind, tap, when, parallel, retry, preprocess, postprocess.

Each function returns an ordinary `Tool`: it registers, serialises, adapts and composes further like any
other. Its inner steps never bypass the pipeline: a step runs through the toolbox that runs the composed tool
when that toolbox holds the very same step (so the toolbox's policies and middleware apply to it), and
through the step's own `Tool.execute` otherwise. Steps carry the outer call's tenant, session, user, priority
and trace context, and ids ``<outer id>/<step index>``. A composed tool is read-only, idempotent, mutating or
dangerous according to its steps, so risk policies see through it. Dry runs reach every step as dry runs.

A step that fails fails the composed call with `PipelineError`: its message starts
``Pipeline failed at step <i> (<name>)`` and it keeps the step's category, code and retryability, so retries,
breakers and fallbacks treat it like the step's own failure. Multi-step tools emit ``step-start``,
``step-complete`` and ``step-error`` events (``step_index``, ``step_name``, ``input`` / ``output`` / ``error``,
``dry_run``) on the toolbox that runs them.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def parse_number(text: str) -> float:
    ...     "Parse a number from text."
    ...     return float(text)
    >>> @tool
    ... def double(value: float) -> float:
    ...     "Double a number."
    ...     return value * 2
    >>> doubled = pipe(parse_number, double)
    >>> doubled.name, doubled.execute_sync({"text": "21"}).result
    ('pipe(parse_number, double)', 42.0)
    >>> print(doubled.execute_sync({"text": "many"}).content)
    Pipeline failed at step 0 (parse_number): ValueError: could not convert string to float: 'many'
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue, create_model

from armorer_ray.cancellation import cancellation_message
from armorer_ray.context import CallContext
from armorer_ray.errors import Cancelled, ConfigError, ToolError, ToolExecutionError, ToolFailure
from armorer_ray.results import Caller, ToolResult
from armorer_ray.schema import model_from_fields
from armorer_ray.tools import Tool, ToolOptions

__all__ = [
    "PipelineError",
    "RetryState",
    "bind",
    "parallel",
    "pipe",
    "postprocess",
    "preprocess",
    "retry",
    "tap",
    "when",
]

Body = Callable[..., Awaitable[Any]]


class PipelineError(ToolFailure):
    """A step of a composed tool failed. Raised inside composed tools; callers see it as the call's error.

    The `ToolError` keeps the failed step's category, code and retryability; its message names the step, and
    its details hold ``step_index``, ``step_name`` and the step's own ``error``.

    Attributes:
        step_index: Position of the failed step (0-based).
        step_name: Name of the failed step's tool.
        error: The step's own error.

    Example:
        >>> err = PipelineError(1, "double", ToolError.of("timeout", "took too long"))
        >>> err.to_tool_error().message, err.to_tool_error().category
        ('Pipeline failed at step 1 (double): took too long', 'timeout')
    """

    def __init__(self, step_index: int, step_name: str, error: ToolError) -> None:
        super().__init__(
            f"Pipeline failed at step {step_index} ({step_name}): {error.message}",
            code=error.code,
            retryable=error.retryable,
            details={"step_index": step_index, "step_name": step_name, "error": error.model_dump(mode="json")},
        )
        self.step_index, self.step_name, self.error = step_index, step_name, error

    def to_tool_error(self) -> ToolError:
        """The `ToolError` the composed call ends with: the step's category under a message naming the step."""
        return ToolError(code=self.code, category=self.error.category, retryable=self.retryable,
                         message=self.message, details=self.details)


class _Relayed(ToolFailure):
    """Ends a composed call with an inner step's error, as it was (message optionally extended)."""

    def __init__(self, error: ToolError, message: str | None = None) -> None:
        super().__init__(message or error.message)
        self.error = error

    def to_tool_error(self) -> ToolError:
        return self.error.model_copy(update={"message": self.message})


@dataclass(frozen=True, slots=True)
class RetryState:
    """What `retry`'s ``should_retry`` and ``on_retry`` hooks see after a failed attempt.

    Attributes:
        attempt: The attempt that failed (1-based).
        error: Its error.
        ctx: The composed call's context.

    Example:
        >>> def only_timeouts(state: RetryState) -> bool:
        ...     return state.error.category == "timeout" and state.attempt < 3
    """

    attempt: int
    error: ToolError
    ctx: CallContext


# -- running steps -----------------------------------------------------------------------------------------


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _run(ctx: CallContext, index: int, step: Tool, arguments: Mapping[str, Any]) -> ToolResult:
    outer = ctx.call
    call = Caller.of(outer).make_call(step.id, dict(arguments), id=f"{outer.id}/{index}")
    # Steps inherit the composed call's deadline and, when the caller gave one, its abort signal (as the
    # reference's wrappers forward `timeout` and `signal`), so a step's own ctx.timeout_s is the caller's.
    signal = ctx.signal if ctx.state.get("external_signal") else None
    box = ctx.toolbox
    if box is not None and box.get_tool(step.id) is step:
        return await box.execute(call, dry_run=ctx.dry_run, timeout_s=ctx.timeout_s, signal=signal)
    return await step.execute(call, dry_run=ctx.dry_run, timeout_s=ctx.timeout_s, signal=signal)


def _error_of(result: ToolResult) -> ToolError:
    if result.error is not None:
        return result.error
    kind = result.action.type if result.action is not None else "action"
    return ToolError.of("conflict", f"the step is waiting for {kind}; steps of a composed tool cannot pause",
                        code="ACTION_REQUIRED")


async def _step(ctx: CallContext, index: int, step: Tool, arguments: Mapping[str, Any]) -> Any:
    """Run one step with events; its output, or `PipelineError`."""
    if ctx.signal.aborted:
        raise Cancelled(cancellation_message(ctx.signal.reason))
    base = {"step_index": index, "step_name": step.name, "dry_run": ctx.dry_run}
    ctx.emit("step-start", {**base, "input": dict(arguments)})
    result = await _run(ctx, index, step, arguments)
    if result.outcome == "success":
        output = result.value()
        ctx.emit("step-complete", {**base, "output": output})
        return output
    error = _error_of(result)
    # ``error`` is the step's ToolError; ``exception`` is an exception carrying it, as Armorer's step-error has.
    ctx.emit("step-error", {**base, "error": error, "exception": ToolExecutionError(error, result)})
    raise PipelineError(index, step.name, error)


def _feed(value: Any, step: Tool, index: int) -> dict[str, Any]:
    """Arguments for ``step`` from the previous step's output: an object as is, else its one parameter."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, BaseModel):
        return value.model_dump()
    fields = step.parameters.model_fields
    required = [name for name, info in fields.items() if info.is_required()]
    target = next(iter(fields)) if len(fields) == 1 else required[0] if len(required) == 1 else None
    if target is None:
        error = ToolError.of("validation", f"step {index - 1} returned {type(value).__name__}, but {step.name} "
                             "takes several arguments: return an object with their names")
        raise PipelineError(index, step.name, error)
    return {target: value}


def _arguments(ctx: CallContext) -> dict[str, Any]:
    return dict(ctx.call.arguments)


# -- building tools ----------------------------------------------------------------------------------------


def _make(body: Body, *, name: str, description: str, parameters: type[BaseModel], steps: Sequence[Tool],
          copy_from: Tool | None = None) -> Tool:
    options: ToolOptions = {"name": name, "description": description, "parameters": parameters, "dry_run": body,
                            "idempotent": all(step.idempotent for step in steps)}
    if all(step.risk.read_only for step in steps):
        options["read_only"] = True
    if any(step.risk.mutates for step in steps):
        options["mutates"] = True
    if any(step.risk.dangerous for step in steps):
        options["dangerous"] = True
    if copy_from is not None:
        options["tags"] = tuple(copy_from.options.get("tags", ()))
        options["metadata"] = dict(copy_from.metadata)
    return Tool(body, **options)


def _check_tools(what: str, tools: Sequence[object], least: int) -> list[Tool]:
    if len(tools) < least:
        raise ConfigError(f"{what}() requires at least {least} tool{'s' if least > 1 else ''}")
    for item in tools:
        if not isinstance(item, Tool):
            raise ConfigError(f"{what}() takes Tool objects, got {type(item).__name__}")
    return list(tools)  # type: ignore[arg-type]  # every item was checked to be a Tool in the loop above


def pipe(*tools: Tool, name: str | None = None, description: str | None = None,
         errors: Literal["step", "armorer"] = "step") -> Tool:
    """A tool that runs ``tools`` in order, each step's output becoming the next step's arguments.

    An object output (a mapping or a model) is the next step's arguments; any other value goes to the next
    step's only parameter (or its only required one). Each step validates its own input.

    Args:
        *tools: Two or more steps.
        name: Tool name (default ``pipe(a, b, ...)``).
        description: Tool description (default ``Composed pipeline: a → b → ...``).
        errors: ``step`` (default): a failure keeps the failed step's category and code (see `PipelineError`);
            ``armorer``: as Armorer, an ``internal`` error coded ``PipelineError``, message
            ``PipelineError: Pipeline failed at step <i> (<name>): ...``.

    Returns:
        The composed tool, taking the first step's arguments and returning the last step's output.

    Raises:
        ConfigError: for fewer than two tools, or a non-tool.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> fetch = mock_tool("fetch", impl=lambda url: {"text": f"<{url}>"})
        >>> words = mock_tool("words", impl=lambda text: len(text.split()))
        >>> pipe(fetch, words).execute_sync({"url": "a b"}).result
        2
    """
    steps = _check_tools("pipe", tools, 2)
    if errors not in ("step", "armorer"):
        raise ConfigError(f"pipe() errors must be 'step' or 'armorer', got {errors!r}")

    async def run_pipe(composition_ctx: CallContext, **_: Any) -> Any:
        value: Any = _arguments(composition_ctx)
        try:
            for index, step in enumerate(steps):
                value = await _step(composition_ctx, index, step, value if index == 0 else _feed(value, step, index))
        except PipelineError as exc:
            if errors == "step":
                raise
            raise ToolFailure(f"PipelineError: {exc.message}", code="PipelineError", retryable=False,
                              details=exc.details) from exc
        return value

    return _make(run_pipe, name=name or f"pipe({', '.join(s.name for s in steps)})",
                 description=description or f"Composed pipeline: {' → '.join(s.name for s in steps)}",
                 parameters=steps[0].parameters, steps=steps)


def bind(tool: Tool, bound: Mapping[str, JsonValue], *, name: str | None = None,
         description: str | None = None) -> Tool:
    """A tool with some arguments fixed: they leave the schema, and the bound values are always passed.

    Args:
        tool: The tool to bind.
        bound: Argument values to fix, by parameter name.
        name: Tool name (default ``bind(<name>)``).
        description: Tool description (default ``Bound tool: <description>``).

    Returns:
        The bound tool; tags and metadata are copied.

    Raises:
        ConfigError: for a non-mapping ``bound`` or names the tool has no parameter for.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... def search(query: str, index: str) -> str:
        ...     "Search an index."
        ...     return f"{index}: {query}"
        >>> docs = bind(search, {"index": "docs"})
        >>> sorted(docs.json_schema["properties"]), docs.execute_sync({"query": "ray"}).result
        (['query'], 'docs: ray')
    """
    _check_tools("bind", [tool], 1)
    if not isinstance(bound, Mapping):
        raise ConfigError(f"bind() expects a mapping of argument values, got {type(bound).__name__}")
    fields = tool.parameters.model_fields
    unknown = sorted(set(bound) - set(fields))
    if unknown:
        raise ConfigError(f"bind() cannot bind unknown keys: {', '.join(unknown)}")
    fixed = dict(bound)
    label = name or f"bind({tool.name})"
    kept = {key: (info.annotation, info) for key, info in fields.items() if key not in fixed}
    config = ConfigDict(extra=tool.parameters.model_config.get("extra") or "forbid", arbitrary_types_allowed=True)
    parameters = create_model(f"{tool.parameters.__name__}_bound", __config__=config, **kept)  # type: ignore[call-overload]  # pydantic types **fields per name; these are built at run time

    async def run_bound(composition_ctx: CallContext, **_: Any) -> Any:
        return await _step(composition_ctx, 0, tool, {**_arguments(composition_ctx), **fixed})

    return _make(run_bound, name=label, description=description or f"Bound tool: {tool.description}",
                 parameters=parameters, steps=[tool], copy_from=tool)


def tap(tool: Tool, effect: Callable[[Any, CallContext], Any], *, name: str | None = None,
        description: str | None = None) -> Tool:
    """A tool that runs ``tool``, then awaits ``effect(output, ctx)`` (sync or async), and returns the output.

    An effect that raises fails the call, so a tap can also assert.

    Args:
        tool: The tool to run.
        effect: Side effect on the output, such as logging or recording.
        name: Tool name (default ``tap(<name>)``).
        description: Tool description (default ``Tap tool: <description>``).

    Returns:
        The tapped tool; tags and metadata are copied.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> seen = []
        >>> lookup = tap(mock_tool("lookup", impl=lambda id: {"id": id}), lambda out, ctx: seen.append(out))
        >>> lookup.execute_sync({"id": 7}).result, seen
        ({'id': 7}, [{'id': 7}])
    """
    _check_tools("tap", [tool], 1)

    async def run_tap(composition_ctx: CallContext, **_: Any) -> Any:
        output = await _step(composition_ctx, 0, tool, _arguments(composition_ctx))
        await _resolve(effect(output, composition_ctx))
        return output

    return _make(run_tap, name=name or f"tap({tool.name})",
                 description=description or f"Tap tool: {tool.description}",
                 parameters=tool.parameters, steps=[tool], copy_from=tool)


def when(predicate: Callable[[dict[str, Any], CallContext], Any], yes: Tool, no: Tool | None = None, *,
         name: str | None = None, description: str | None = None) -> Tool:
    """A tool that runs ``yes`` when ``predicate(arguments, ctx)`` is true, else ``no`` (or echoes its input).

    Args:
        predicate: Sync or async test of the raw arguments and the context.
        yes: Tool for a true predicate (its schema is the composed tool's).
        no: Tool for a false predicate; without one the validated arguments are returned unchanged.
        name: Tool name (default ``when(yes, no)`` or ``when(yes)``).
        description: Tool description (default ``Conditional tool: yes or no``).

    Returns:
        The conditional tool.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> fast = mock_tool("fast", impl=lambda n: "fast")
        >>> slow = mock_tool("slow", impl=lambda n: "slow")
        >>> route = when(lambda args, ctx: args["n"] < 10, fast, slow)
        >>> route.execute_sync({"n": 3}).result, route.execute_sync({"n": 30}).result
        ('fast', 'slow')
    """
    steps = _check_tools("when", [yes] if no is None else [yes, no], 1)
    names = " or ".join(s.name for s in steps)

    async def run_when(composition_ctx: CallContext, **_: Any) -> Any:
        arguments = _arguments(composition_ctx)
        if await _resolve(predicate(arguments, composition_ctx)):
            return await _step(composition_ctx, 0, yes, arguments)
        if no is not None:
            return await _step(composition_ctx, 1, no, arguments)
        params = composition_ctx.params
        return params.model_dump() if isinstance(params, BaseModel) else arguments

    return _make(run_when, name=name or f"when({', '.join(s.name for s in steps)})",
                 description=description or f"Conditional tool: {names}", parameters=yes.parameters, steps=steps)


def parallel(*tools: Tool, name: str | None = None, description: str | None = None) -> Tool:
    """A tool that runs ``tools`` concurrently on the same arguments and returns their outputs in order.

    The first step to fail cancels the others and fails the call, naming its index.

    Args:
        *tools: Two or more steps.
        name: Tool name (default ``parallel(a, b, ...)``).
        description: Tool description (default ``Parallel tools: a | b | ...``).

    Returns:
        The composed tool, taking the first step's arguments.

    Raises:
        ConfigError: for fewer than two tools, or a non-tool.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> both = parallel(mock_tool("web", impl=lambda q: f"web:{q}"), mock_tool("docs", impl=lambda q: f"docs:{q}"))
        >>> both.execute_sync({"q": "ray"}).result
        ['web:ray', 'docs:ray']
    """
    steps = _check_tools("parallel", tools, 2)

    async def run_parallel(composition_ctx: CallContext, **_: Any) -> list[Any]:
        arguments = _arguments(composition_ctx)
        tasks = [asyncio.ensure_future(_step(composition_ctx, i, step, arguments)) for i, step in enumerate(steps)]
        try:
            for finished in asyncio.as_completed(tasks):
                await finished
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [task.result() for task in tasks]

    return _make(run_parallel, name=name or f"parallel({', '.join(s.name for s in steps)})",
                 description=description or f"Parallel tools: {' | '.join(s.name for s in steps)}",
                 parameters=steps[0].parameters, steps=steps)


def retry(tool: Tool, *, attempts: int = 3, delay_s: float = 0.0, backoff: Literal["fixed", "exponential"] = "fixed",
          max_delay_s: float | None = None, should_retry: Callable[[RetryState], Any] | None = None,
          on_retry: Callable[[RetryState], Any] | None = None,
          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, name: str | None = None,
          description: str | None = None) -> Tool:
    """A tool that runs ``tool`` until it succeeds or ``attempts`` are spent.

    After a failed attempt: stop if attempts are spent or ``should_retry(state)`` (sync or async; default: the
    error is retryable) says no; else call ``on_retry(state)``, wait ``delay_s`` (times ``2 ** (attempt - 1)``
    for exponential backoff, capped at ``max_delay_s``) and try again. The result's ``attempts`` counts the
    attempts; the final failure keeps the last error's category and code. Unlike the `Retry` middleware, this
    retries whatever ``should_retry`` allows, idempotent or not: the composition is the explicit choice.

    Args:
        tool: The tool to retry.
        attempts: Most attempts, first included.
        delay_s: Wait before each retry.
        backoff: ``fixed`` or ``exponential``.
        max_delay_s: Cap on one wait.
        should_retry: Decides whether a failure is worth another attempt.
        on_retry: Called before each retry.
        sleep: Awaitable sleep, injectable for tests.
        name: Tool name (default ``retry(<name>)``).
        description: Tool description (default ``Retry tool: <description>``).

    Returns:
        The retrying tool; tags and metadata are copied.

    Raises:
        ConfigError: for ``attempts`` below 1, a negative delay, or an unknown backoff.

    Example:
        >>> from armorer_ray import Transient
        >>> from armorer_ray.testing import mock_tool
        >>> flaky = mock_tool("flaky", outcomes=[Transient("503"), Transient("503"), "ok"])
        >>> result = retry(flaky, attempts=3).execute_sync()
        >>> result.result, result.attempts
        ('ok', 3)
    """
    _check_tools("retry", [tool], 1)
    if not isinstance(attempts, int) or attempts < 1:
        raise ConfigError(f"retry() expects attempts to be a positive integer, got {attempts!r}")
    if delay_s < 0:
        raise ConfigError(f"retry() expects delay_s to be at least 0, got {delay_s!r}")
    if max_delay_s is not None and max_delay_s < 0:
        raise ConfigError(f"retry() expects max_delay_s to be at least 0, got {max_delay_s!r}")
    if backoff not in ("fixed", "exponential"):
        raise ConfigError(f"retry() expects backoff 'fixed' or 'exponential', got {backoff!r}")

    async def run_retry(composition_ctx: CallContext, **_: Any) -> Any:
        ctx = composition_ctx
        arguments = _arguments(ctx)
        for attempt in range(1, attempts + 1):
            if ctx.signal.aborted:
                raise Cancelled(cancellation_message(ctx.signal.reason))
            result = await _run(ctx, attempt - 1, tool, arguments)
            if result.outcome == "success":
                ctx.attempt = attempt  # the composed result's `attempts`
                return result.value()
            state = RetryState(attempt, _error_of(result), ctx)
            worth_it = await _resolve(should_retry(state)) if should_retry is not None else state.error.retryable
            if attempt == attempts or not worth_it:
                suffix = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                raise _Relayed(state.error, state.error.message + suffix)
            if on_retry is not None:
                await _resolve(on_retry(state))
            delay = delay_s * (2 ** (attempt - 1) if backoff == "exponential" else 1)
            await sleep(min(delay, max_delay_s) if max_delay_s is not None else delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    return _make(run_retry, name=name or f"retry({tool.name})",
                 description=description or f"Retry tool: {tool.description}",
                 parameters=tool.parameters, steps=[tool], copy_from=tool)


def preprocess(tool: Tool, mapper: Callable[[dict[str, Any], CallContext], Any], *, name: str | None = None,
               description: str | None = None) -> Tool:
    """A tool that maps its arguments with ``mapper(arguments, ctx)`` (sync or async), then runs ``tool``.

    Its schema is a permissive object (any arguments pass to the mapper); ``tool`` validates what the mapper
    returns.

    Args:
        tool: The tool to run.
        mapper: Returns the arguments for ``tool`` (a mapping).
        name: Tool name (default ``preprocess(<name>)``).
        description: Tool description (default ``Preprocessed tool: <description>``).

    Returns:
        The preprocessing tool; tags and metadata are copied.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> greet = mock_tool("greet", impl=lambda name: f"hello {name}")
        >>> shout = preprocess(greet, lambda args, ctx: {"name": args["who"].upper()})
        >>> shout.execute_sync({"who": "ada"}).result
        'hello ADA'
    """
    _check_tools("preprocess", [tool], 1)
    label = name or f"preprocess({tool.name})"

    async def run_preprocess(composition_ctx: CallContext, **_: Any) -> Any:
        mapped = await _resolve(mapper(_arguments(composition_ctx), composition_ctx))
        if not isinstance(mapped, Mapping):
            error = ToolError.of("validation", f"the preprocessor returned {type(mapped).__name__}, not an object")
            raise PipelineError(0, tool.name, error)
        return await _step(composition_ctx, 0, tool, mapped)

    return _make(run_preprocess, name=label, description=description or f"Preprocessed tool: {tool.description}",
                 parameters=model_from_fields(label, {}, "allow"), steps=[tool], copy_from=tool)


def postprocess(tool: Tool, mapper: Callable[[Any, CallContext], Any], *, name: str | None = None,
                description: str | None = None) -> Tool:
    """A tool that runs ``tool``, then returns ``mapper(output, ctx)`` (sync or async).

    Args:
        tool: The tool to run.
        mapper: Maps the output.
        name: Tool name (default ``postprocess(<name>)``).
        description: Tool description (default ``Postprocessed tool: <description>``).

    Returns:
        The postprocessing tool, with ``tool``'s schema; tags and metadata are copied.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> users = mock_tool("users", impl=lambda: [{"name": "ada"}, {"name": "alan"}])
        >>> postprocess(users, lambda rows, ctx: [row["name"] for row in rows]).execute_sync().result
        ['ada', 'alan']
    """
    _check_tools("postprocess", [tool], 1)

    async def run_postprocess(composition_ctx: CallContext, **_: Any) -> Any:
        output = await _step(composition_ctx, 0, tool, _arguments(composition_ctx))
        return await _resolve(mapper(output, composition_ctx))

    return _make(run_postprocess, name=name or f"postprocess({tool.name})",
                 description=description or f"Postprocessed tool: {tool.description}",
                 parameters=tool.parameters, steps=[tool], copy_from=tool)
