"""The one path every call takes, from an admitted `ToolCall` to exactly one `ToolResult`.

Steps (the toolbox has already resolved the tool and charged the budget):

1. events ``tool.started``, ``execute-start``; input digest; an already-aborted signal ends here (cancelled)
2. validate arguments against the tool's parameter model (``validation`` error on failure)
3. before-policies: risk flags, toolbox policies, tool policies (deny, or pause for approval / input)
4. middleware chain, toolbox layers outside tool layers
5. body through the executor, under the tool's concurrency limit, deadline and abort signal
6. output validation and shaping into ``content``; output digest
7. after-policies, events ``settled``, ``tool.finished``, ``complete`` / ``error``

When someone subscribes to ``timings`` by name (the profiler), each call also gets a clock that splits its time into the
stages above and a ``timings`` event after ``tool.finished``; with no listener the clock is never made.

Nothing in here raises for a tool's failure: every exception becomes a classified error result. Only the
caller's own cancellation propagates (as `asyncio.CancelledError`, after ``tool.finished`` is emitted).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import tracemalloc
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from armorer_ray.approvals import ApprovalBook, MemoryApprovalBook
from armorer_ray.cancellation import AbortSignal, cancellation_message
from armorer_ray.context import Approval, CallContext, ToolRunner
from armorer_ray.digests import wants_digest
from armorer_ray.errors import ActionRequired, ToolError, classify_exception
from armorer_ray.events import EventHub
from armorer_ray.executors import Executor, LocalExecutor
from armorer_ray.json_values import digest
from armorer_ray.middleware.base import Next, chain
from armorer_ray.options import ToolboxOptions
from armorer_ray.paused import PausedCall
from armorer_ray.policy import PolicyContext, compile_hooks, evaluate_after, evaluate_before
from armorer_ray.results import ActionRequest, OutputValidation, ToolCall, ToolResult, build_result
from armorer_ray.shaping import shape_output
from armorer_ray.streams.reducers import ChunkSink, collect_stream

if TYPE_CHECKING:
    from armorer_ray.tools import Tool

__all__ = ["STAGES", "CallOptions", "PausedCall", "Pipeline", "validation_error"]

_perf = time.perf_counter

STAGES = ("validation", "policy", "middleware", "body", "shaping", "after")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """How one call runs, besides its arguments: what `Toolbox.execute` takes per call, typed.

    Attributes:
        timeout_s: Deadline for the call, overriding the tool's and the toolbox's.
        signal: Abort signal; aborting cancels the call.
        dry_run: Run the tool's dry-run handler instead of its body.
        approval: A person's decision the call runs under (see `Toolbox.execute`).
        on_chunk: Where a streaming body's chunks go as they are produced (set by `Toolbox.stream`).

    Example:
        >>> CallOptions(timeout_s=2.0).dry_run
        False
    """

    timeout_s: float | None = None
    signal: AbortSignal | None = None
    dry_run: bool = False
    approval: Approval | None = None
    on_chunk: ChunkSink | None = None


DEFAULT_CALL_OPTIONS = CallOptions()


def validation_error(exc: ValidationError, what: str = "arguments") -> ToolError:
    """A ``validation`` `ToolError` listing each issue with its path, in words a model can act on.

    Example:
        >>> from pydantic import BaseModel
        >>> class P(BaseModel):
        ...     n: int
        >>> try:
        ...     P.model_validate({"n": "x"})
        ... except ValidationError as exc:
        ...     print(validation_error(exc).message)
        ValidationError: invalid arguments: n: Input should be a valid integer, unable to parse string as an integer
    """
    issues = [
        {"code": item["type"], "path": [str(p) if not isinstance(p, int) else p for p in item["loc"]],
         "message": item["msg"]}
        for item in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    parts = [f"{'.'.join(str(p) for p in issue['path']) or '(root)'}: {issue['message']}" for issue in issues]
    return ToolError(
        code="VALIDATION_ERROR",
        category="validation",
        retryable=False,
        message=f"ValidationError: invalid {what}: " + "; ".join(parts),
        details={"issues": issues},
    )


def arguments_error(arguments: object, exc: ValidationError) -> ToolError:
    """`validation_error`, unless the arguments are JSON text that does not parse: then say so, with where.

    A model whose answer was cut off sends truncated JSON; "field required" would send it looking for the
    wrong mistake.

    Example:
        >>> from pydantic import BaseModel
        >>> class P(BaseModel):
        ...     n: int
        >>> try:
        ...     P.model_validate('{"n": 1')
        ... except ValidationError as exc:
        ...     print(arguments_error('{"n": 1', exc).message)  # doctest: +ELLIPSIS
        ValidationError: arguments are not valid JSON (malformed or truncated): Expecting ',' delimiter: ...
    """
    if isinstance(arguments, str | bytes):
        try:
            json.loads(arguments)
        except ValueError as parse:
            return ToolError(code="VALIDATION_ERROR", category="validation", retryable=False,
                             message=f"ValidationError: arguments are not valid JSON (malformed or truncated): {parse}",
                             details={"issues": [{"code": "json_invalid", "path": [], "message": str(parse)}]})
        except RecursionError:  # hostile nesting past the decoder's limit
            return ToolError(code="VALIDATION_ERROR", category="validation", retryable=False,
                             message="ValidationError: arguments nest too deeply to be read as JSON",
                             details={"issues": [{"code": "json_invalid", "path": [], "message": "too deep"}]})
    if not isinstance(arguments, Mapping | BaseModel):
        kind = {list: "an array", str: "a string", bytes: "a string", bool: "a boolean", int: "a number",
                float: "a number"}.get(type(arguments), type(arguments).__name__)
        return ToolError(code="VALIDATION_ERROR", category="validation", retryable=False,
                         message=f"ValidationError: arguments must be a JSON object, got {kind}",
                         details={"issues": [{"code": "model_type", "path": [], "message": "not a JSON object"}]})
    return validation_error(exc)


class _Compiled:
    """Per-tool state the pipeline computes once per registration: policies, handler chain, limiter."""

    __slots__ = ("afters", "befores", "handler", "limiter", "output_adapter", "policies", "values")

    def __init__(self, pipeline: Pipeline, tool: Tool) -> None:
        options = pipeline.options
        self.policies = (*pipeline.policies, *tool.policy)
        self.befores, self.afters = compile_hooks(self.policies)
        self.values: Mapping[str, Any] = {**options.context, **tool.context} if tool.context else options.context
        limit = tool.concurrency or options.tool_concurrency
        self.limiter = asyncio.Semaphore(limit) if limit else None
        self.output_adapter: TypeAdapter[Any] | None = (
            TypeAdapter(tool.output_model) if tool.output_model is not None else None
        )
        layers = (*options.middleware, *tool.middleware)
        inner = pipeline._body_handler(tool, self)
        self.handler: Next = chain(layers, inner) if layers else inner


class Pipeline:
    """Runs admitted calls, compiled per tool from ``(options, tool)``. Built by a toolbox; not used directly.

    Args:
        options: The toolbox's options: policies, middleware, context, limits, executor, shaping, approval book.
        hub: Where the pipeline's events go.
        runner: What running calls see as ``ctx.toolbox`` (to resolve and run other tools); None: nothing.
    """

    def __init__(self, options: ToolboxOptions, hub: EventHub, runner: ToolRunner | None = None) -> None:
        self.options = options
        self.hub = hub
        self.runner = runner
        risk = options.risk
        self.policies = ((risk,) if risk.restricts else ()) + options.policies
        self.executor: Executor = options.executor if options.executor is not None else LocalExecutor()
        self.approvals: ApprovalBook = options.approvals if options.approvals is not None else MemoryApprovalBook()
        self.digests = options.digests
        self.derive_signal = options.body_signal == "derived"  # what a body under a deadline sees as ctx.signal
        self._compiled: dict[int, _Compiled] = {}

    def forget(self, tool: Tool) -> None:
        """Drop compiled state of a tool (after unregister or replace)."""
        self._compiled.pop(id(tool), None)

    def compiled(self, tool: Tool) -> _Compiled:
        found = self._compiled.get(id(tool))
        if found is None:
            found = self._compiled[id(tool)] = _Compiled(self, tool)
        return found

    # -- the path ------------------------------------------------------------------------------------

    def admit(self, tool: Tool, call: ToolCall, options: CallOptions) -> ToolResult | None:
        """The first step of a resolved call: a rejected approval's result, or None after the ``call`` events.

        The toolbox charges its budget between this and `run`.
        """
        approval = options.approval
        if approval is not None and not approval.granted:
            return rejected(call, tool, approval.reason)
        hub = self.hub
        if hub.wants("call"):
            hub.emit("call", {"tool": tool, "call": call})
        if tool.lifecycle is not None and tool.lifecycle.deprecated and hub.wants("log"):
            life = tool.lifecycle
            message = f"tool {tool.id} is deprecated" + (f"; use {life.replaced_by}" if life.replaced_by else "")
            hub.emit("log", {"level": "warn", "tool": tool, "call": call,
                             "message": message + (f": {life.message}" if life.message else "")})
        return None

    async def run(self, tool: Tool, call: ToolCall, options: CallOptions = DEFAULT_CALL_OPTIONS) -> ToolResult:
        """Run an admitted call to exactly one `ToolResult` (see the module docstring for the steps)."""
        timeout_s, signal, dry_run, approval = options.timeout_s, options.signal, options.dry_run, options.approval
        on_chunk = options.on_chunk
        started_at = time.time()
        t0 = _perf()
        hub = self.hub
        compiled = self.compiled(tool)
        clock = StageClock(t0) if hub.subscribed("timings") else None
        input_digest = (digest(call.arguments) if (tool.digests or self.digests)
                        and wants_digest(tool.digests, self.digests, "input") else None)
        if hub.wants("tool.started"):
            hub.emit("tool.started", {"tool": tool, "call": call, "params": call.arguments,
                                      "started_at": started_at, "input_digest": input_digest, "dry_run": dry_run})
        if signal is not None and signal.aborted:
            error = ToolError.of("cancelled", cancellation_message(signal.reason))
            return self._fail(tool, call, error, "cancelled", t0, started_at, input_digest, dry_run)
        if hub.wants("execute-start"):
            hub.emit("execute-start", {"tool": tool, "call": call, "params": call.arguments, "dry_run": dry_run})
        try:
            params = tool._validate(call.arguments)
        except ValidationError as exc:
            error = arguments_error(call.arguments, exc)
            if hub.wants("validate-error"):
                hub.emit("validate-error", {"tool": tool, "call": call, "params": call.arguments, "error": error})
            result = self._fail(tool, call, error, None, t0, started_at, input_digest, dry_run)
            if compiled.afters:
                await self._after(compiled, PolicyContext(tool, call, {}, compiled.values, approval), "error", result)
            return self._timed(clock, "validation", tool, call, self._finished(tool, call, result, "error"))
        if clock is not None:
            clock.lap("validation")
        if hub.wants("validate-success"):
            hub.emit("validate-success", {"tool": tool, "call": call, "params": call.arguments, "parsed": params})
        pctx = None
        if compiled.befores or compiled.afters:
            pctx = PolicyContext(tool, call, _as_dict(params), compiled.values, approval)
            if compiled.befores:
                paused = await self._before(compiled, pctx, timeout_s, dry_run, t0, started_at, input_digest)
                if paused is not None:
                    return self._timed(clock, "policy", tool, call, paused)
        own_signal = signal if signal is not None else AbortSignal()
        ctx = CallContext(call, tool, self.runner, compiled.values, own_signal, hub, dry_run, approval, params,
                          self.options.resources, 1, timeout_s or tool.timeout_s or self.options.timeout_s,
                          started_at)
        if signal is not None:
            ctx.external_signal = True
        if on_chunk is not None:
            ctx.sink = on_chunk  # Toolbox.stream reads the chunks
        if clock is not None:
            clock.lap("policy")
            ctx.stage_clock = clock
        try:
            result = await compiled.handler(call, ctx)
        except asyncio.CancelledError:
            if signal is None:  # a caller's own signal may be shared by a batch: never abort it for one call
                own_signal_abort(own_signal, "caller cancelled")
            error = ToolError.of("cancelled", "Cancelled: the caller stopped waiting")
            self._finished(tool, call, self._fail(tool, call, error, None, t0, started_at, input_digest, dry_run),
                           "cancelled")
            raise
        except Exception as exc:  # a middleware that raised instead of returning a result
            result = self._fail(tool, call, classify_exception(exc), None, t0, started_at, input_digest, dry_run)
        if clock is not None:
            clock.lap("middleware")  # the whole onion so far; the body and shaping inside it are taken out later
        if result.started_at != started_at or input_digest is not None:
            # Results made by middleware (a cache hit, a breaker) or carrying digests get this call's timing.
            result = _stamp(result, started_at, (_perf() - t0) * 1000.0, input_digest)
        if result.outcome == "success":
            if hub.wants("execute-success"):
                hub.emit("execute-success", {"tool": tool, "call": call, "result": result.result,
                                             "dry_run": dry_run})
            status = "success"
        elif result.outcome == "action_required":  # the body raised ActionRequired
            status = "paused"
        else:
            status = "cancelled" if result.error is not None and result.error.category == "cancelled" else "error"
            if hub.wants("execute-error"):
                hub.emit("execute-error", {"tool": tool, "call": call, "error": result.error, "dry_run": dry_run})
        if hub.wants("settled"):
            hub.emit("settled", _settled(tool, call, result, dry_run))
        if status != "cancelled" and pctx is not None and compiled.afters:
            await self._after(compiled, pctx, "action_required" if status == "paused" else status, result)
        result = self._finished(tool, call, result, status)
        return result if clock is None else self._timed(clock, "after", tool, call, result)

    # -- policy ----------------------------------------------------------------------------------------

    async def _before(
        self, compiled: _Compiled, pctx: PolicyContext, timeout_s: float | None, dry_run: bool, t0: float,
        started_at: float, input_digest: str | None,
    ) -> ToolResult | None:
        hub = self.hub
        tool, call = pctx.tool, pctx.call
        try:
            decision = await evaluate_before(compiled.befores, pctx)
        except Exception as exc:
            # A policy that crashes must not let the call through: fail closed, and say why.
            error = ToolError.of("permission", f"Policy check failed: {classify_exception(exc).message}",
                                 code="POLICY_ERROR")
            return self._finished(tool, call,
                                  self._fail(tool, call, error, None, t0, started_at, input_digest, dry_run), "denied")
        if decision.status == "allow":
            return None
        reason = decision.reason or "Policy denied"
        if decision.status == "deny":
            if hub.wants("policy-denied"):
                hub.emit("policy-denied", {"tool": tool, "call": call, "params": pctx.params, "reason": reason})
            error = ToolError.of("permission", reason, code="POLICY_DENIED")
            result = ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, started_at=started_at,
                                        duration_ms=(_perf() - t0) * 1000.0, input_digest=input_digest,
                                        dry_run=dry_run)
            if hub.wants("execute-error"):
                hub.emit("execute-error", {"tool": tool, "call": call, "error": error, "dry_run": dry_run})
            if hub.wants("settled"):
                hub.emit("settled", _settled(tool, call, result, dry_run))
            await self._after(compiled, pctx, "denied", result, reason=reason)
            return self._finished(tool, call, result, "denied")
        kind = "approval" if decision.status == "needs_approval" else "input"
        token = secrets.token_urlsafe(18)
        await self.approvals.put(token, PausedCall(call, tool.id, kind, timeout_s, dry_run))
        if hub.wants("policy-action-required"):
            hub.emit("policy-action-required", {"tool": tool, "call": call, "params": pctx.params,
                                                "reason": reason, "resume_token": token})
        result = build_result(
            call_id=call.id, tool_name=tool.name, tool_id=tool.id, outcome="action_required", result=None,
            content=reason, error=None,
            action=ActionRequest(type=kind, message=reason, schema_=decision.schema_, resume_token=token),
            output_validation=None, dry_run=dry_run, input_digest=input_digest, output_digest=None,
            started_at=started_at, duration_ms=(_perf() - t0) * 1000.0, compression=None, attempts=0,
        )
        await self._after(compiled, pctx, "action_required", result, reason=reason)
        return self._finished(tool, call, result, "paused")

    async def _after(self, compiled: _Compiled, pctx: PolicyContext, outcome: str, result: ToolResult,
                     reason: str | None = None) -> None:
        if not compiled.afters:
            return
        pctx.outcome, pctx.result, pctx.error, pctx.reason = outcome, result.result, result.error, reason
        for exc in await evaluate_after(compiled.afters, pctx):
            self.hub.emit("log", {"level": "warn", "message": "policy after_execute failed", "data": exc,
                                  "tool": pctx.tool, "call": pctx.call})

    # -- the body --------------------------------------------------------------------------------------

    def _body_handler(self, tool: Tool, compiled: _Compiled) -> Next:
        executor = self.executor

        async def run_body(call: ToolCall, ctx: CallContext) -> ToolResult:
            if call is not ctx.call:
                # A middleware rewrote the call: its arguments are validated like the original's.
                try:
                    ctx.params = tool._validate(call.arguments)
                except ValidationError as exc:
                    return ToolResult.failure(call.id, tool.name, validation_error(exc), tool_id=tool.id)
                ctx.call = call
            kwargs = tool.call_kwargs(ctx.params)
            limiter = compiled.limiter
            clock = ctx.stage_clock
            if clock is not None:
                clock.start_body()
            try:
                if ctx.timeout_s is None and not ctx.external_signal:
                    if limiter is None:
                        value = await executor.run(tool, kwargs, ctx)
                        if isinstance(value, _STREAMS):
                            value = await _collect(value, ctx)
                    else:
                        async with limiter:
                            value = await executor.run(tool, kwargs, ctx)
                            if isinstance(value, _STREAMS):
                                value = await _collect(value, ctx)
                elif limiter is None:
                    value = await self._invoke_stoppable(executor, tool, kwargs, ctx)
                else:
                    async with limiter:
                        value = await self._invoke_stoppable(executor, tool, kwargs, ctx)
            except _Stopped as stop:
                return ToolResult.failure(call.id, tool.name, stop.error, tool_id=tool.id, dry_run=ctx.dry_run)
            except ActionRequired as pause:
                return await self._pause_from_body(tool, call, ctx, pause)
            except Exception as exc:
                return ToolResult.failure(call.id, tool.name, classify_exception(exc), tool_id=tool.id,
                                          dry_run=ctx.dry_run)
            finally:
                if clock is not None:
                    clock.end_body()
            if clock is None:
                return self._success(tool, compiled, call, ctx, value)
            result = self._success(tool, compiled, call, ctx, value)
            clock.end_shaping()
            return result

        return run_body

    async def _pause_from_body(self, tool: Tool, call: ToolCall, ctx: CallContext,
                               pause: ActionRequired) -> ToolResult:
        """A body's `ActionRequired`: the call kept for `Toolbox.resume`, as a policy's pause keeps it."""
        token = secrets.token_urlsafe(18)
        await self.approvals.put(token, PausedCall(call, tool.id, pause.kind, ctx.timeout_s, ctx.dry_run))
        if self.hub.wants("policy-action-required"):
            self.hub.emit("policy-action-required", {"tool": tool, "call": call, "params": call.arguments,
                                                     "reason": pause.message, "resume_token": token})
        return build_result(
            call_id=call.id, tool_name=tool.name, tool_id=tool.id, outcome="action_required", result=None,
            content=pause.message, error=None,
            action=ActionRequest(type=pause.kind, message=pause.message, schema_=pause.schema, resume_token=token),
            output_validation=None, dry_run=ctx.dry_run, input_digest=None, output_digest=None,
            started_at=ctx.started_at, duration_ms=0.0, compression=None, attempts=1,
        )

    async def _invoke_stoppable(self, executor: Executor, tool: Tool, kwargs: dict[str, Any], ctx: CallContext) -> Any:
        # A deadline or an external abort signal: run the body as a task we can cancel on either.
        timeout_s = ctx.timeout_s
        # This run gets a signal of its own, aborted by its deadline or by the call's signal, never the reverse:
        # a deadline that aborted the call's signal would stop every later attempt (Retry) and, when the caller
        # passed one signal for a whole batch, every other call of the batch.
        call_signal = ctx.call_signal
        if call_signal is None:
            call_signal = ctx.call_signal = ctx.signal
        run_signal = AbortSignal()
        unlink = call_signal.add_listener(run_signal._abort)
        derived = self.derive_signal  # else (body_signal="caller") the body keeps the call's signal
        if derived:
            ctx.signal = run_signal
        task: Any = asyncio.ensure_future(_run_collecting(executor, tool, kwargs, ctx))
        remove = run_signal.add_listener(lambda _reason: task.cancel())
        try:
            try:
                done, _ = await asyncio.wait((task,), timeout=timeout_s)
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                remove()
            if task in done and not task.cancelled():
                return task.result()
            timed_out = not call_signal.aborted
            if timed_out:
                run_signal._abort(f"timed out after {timeout_s}s")  # first, so cooperative bodies see why
            task.cancel()
            # One loop turn lets the task see its cancellation, so a sync body's thread is interrupted now rather
            # than whenever the caller next yields; a body that ignores cancellation is not waited for.
            await asyncio.wait((task,), timeout=0)
        finally:
            unlink()
            if derived and not run_signal.aborted:
                ctx.signal = call_signal  # a timed-out run leaves its aborted signal, so its body sees why
        if not timed_out:
            raise _Stopped(ToolError.of("cancelled", cancellation_message(call_signal.reason)))
        raise _Stopped(ToolError.of("timeout", f"Tool \"{tool.name}\" timed out after {timeout_s}s", code="TIMEOUT"))

    def _success(self, tool: Tool, compiled: _Compiled, call: ToolCall, ctx: CallContext, value: Any) -> ToolResult:
        output_validation = None
        hub = self.hub
        if compiled.output_adapter is not None:
            try:
                value = compiled.output_adapter.validate_python(value)
                output_validation = OutputValidation(success=True)
                if hub.wants("output-validate-success"):
                    hub.emit("output-validate-success", {"tool": tool, "call": call, "result": value})
            except ValidationError as exc:
                error = validation_error(exc, "output")
                if hub.wants("output-validate-error"):
                    hub.emit("output-validate-error", {"tool": tool, "call": call, "result": value, "error": error})
                if tool.output_validation == "strict":
                    return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)
                output_validation = OutputValidation(success=False, error=error.message)
        try:
            content = shape_output(value, tool.output_shaping or self.options.output)
        except Exception as exc:
            error = ToolError.of("internal", f"Output could not be serialised: {exc}", code="OUTPUT_NOT_SERIALIZABLE")
            return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)
        return build_result(
            call_id=call.id, tool_name=tool.name, tool_id=tool.id, outcome="success", result=value,
            content=content, error=None, action=None, output_validation=output_validation, dry_run=ctx.dry_run,
            input_digest=None,
            output_digest=digest(value) if (tool.digests or self.digests)
            and wants_digest(tool.digests, self.digests, "output") else None,
            started_at=ctx.started_at, duration_ms=(time.time() - ctx.started_at) * 1000.0, compression=None,
            attempts=ctx.attempt,
        )

    # -- endings ---------------------------------------------------------------------------------------

    def _timed(self, clock: StageClock | None, stage: str, tool: Tool, call: ToolCall,
               result: ToolResult) -> ToolResult:
        if clock is not None:
            clock.lap(stage)
            self.hub.emit("timings", {"tool": tool, "call": call, "result": result, "stages_ms": clock.stages_ms(),
                                      "memory_bytes": clock.memory_bytes})
        return result

    def _fail(self, tool: Tool, call: ToolCall, error: ToolError, status: str | None, t0: float,
              started_at: float, input_digest: str | None, dry_run: bool) -> ToolResult:
        result = ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, started_at=started_at,
                                    duration_ms=(_perf() - t0) * 1000.0, input_digest=input_digest, dry_run=dry_run)
        if status is not None:  # an early ending (pre-aborted signal) still settles and finishes
            hub = self.hub
            if hub.wants("execute-error"):
                hub.emit("execute-error", {"tool": tool, "call": call, "error": error, "dry_run": dry_run})
            if hub.wants("settled"):
                hub.emit("settled", _settled(tool, call, result, dry_run))
            return self._finished(tool, call, result, status)
        if self.hub.wants("settled"):
            self.hub.emit("settled", _settled(tool, call, result, dry_run))
        return result

    def _finished(self, tool: Tool, call: ToolCall, result: ToolResult, status: str) -> ToolResult:
        hub = self.hub
        if hub.wants("tool.finished"):
            hub.emit("tool.finished", {"tool": tool, "call": call, "result": result, "status": status,
                                       "duration_ms": result.duration_ms, "error": result.error})
        kind = "error" if result.outcome == "error" else "complete"
        if hub.wants(kind):
            hub.emit(kind, {"tool": tool, "call": call, "result": result})
        return result


class StageClock:
    """Splits one call's time into pipeline stages (ms); made only while a ``timings`` listener exists.

    ``lap`` charges the time since the previous lap to a stage. The body and shaping run inside the middleware
    onion, possibly several times (retries), so they are summed apart and taken out of the onion's lap. When
    `tracemalloc` is tracing, the body's peak allocation is measured too: tracemalloc's peak is process-wide, so
    the figure is exact only when no other body runs at the same time.
    """

    __slots__ = ("_body_at", "_laps", "_last", "_memory_base", "_shaping_at", "body_ms", "memory_bytes",
                 "shaping_ms")

    def __init__(self, started: float) -> None:
        self._last = started
        self._laps: dict[str, float] = {}
        self._body_at = self._shaping_at = 0.0
        self._memory_base: int | None = None
        self.body_ms = self.shaping_ms = 0.0
        self.memory_bytes: int | None = None

    def lap(self, stage: str) -> None:
        now = _perf()
        self._laps[stage] = (now - self._last) * 1000.0
        self._last = now

    def start_body(self) -> None:
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
            self._memory_base = tracemalloc.get_traced_memory()[0]
        self._body_at = _perf()

    def end_body(self) -> None:
        self._shaping_at = now = _perf()
        self.body_ms += (now - self._body_at) * 1000.0
        if self._memory_base is not None and tracemalloc.is_tracing():
            peak = max(0, tracemalloc.get_traced_memory()[1] - self._memory_base)
            self.memory_bytes = max(peak, self.memory_bytes or 0)

    def end_shaping(self) -> None:
        self.shaping_ms += (_perf() - self._shaping_at) * 1000.0

    def stages_ms(self) -> dict[str, float]:
        """Time per stage reached, in pipeline order."""
        laps = dict(self._laps)
        if "middleware" in laps:
            laps["middleware"] = max(0.0, laps["middleware"] - self.body_ms - self.shaping_ms)
            laps["body"], laps["shaping"] = self.body_ms, self.shaping_ms
        return {stage: laps[stage] for stage in STAGES if stage in laps}


class _Stopped(Exception):
    """The body was stopped by a deadline or an abort; carries the error to report."""

    def __init__(self, error: ToolError) -> None:
        super().__init__(error.message)
        self.error = error


def _stamp(result: ToolResult, started_at: float, duration_ms: float, input_digest: str | None) -> ToolResult:
    # Results are frozen; copying the field dict is a third of the cost of model_copy(update=...).
    fields = dict(result.__dict__)
    fields["started_at"], fields["duration_ms"] = started_at, duration_ms
    if input_digest is not None:
        fields["input_digest"] = input_digest
    return build_result(**fields)


# A generator body streams: its chunks are drained inside the deadline and the concurrency limit, because the
# tool is still working until its last chunk.
_STREAMS = (types.AsyncGeneratorType, types.GeneratorType)


async def _collect(value: Any, ctx: CallContext) -> Any:
    return await collect_stream(value, ctx)


async def _run_collecting(executor: Executor, tool: Tool, kwargs: dict[str, Any], ctx: CallContext) -> Any:
    value = await executor.run(tool, kwargs, ctx)
    return await _collect(value, ctx) if isinstance(value, _STREAMS) else value


def _settled(tool: Tool, call: ToolCall, result: ToolResult, dry_run: bool) -> dict[str, Any]:
    # ``result`` is the ToolResult; ``value`` (the raw output) and ``error`` are what Armorer's settled carries.
    return {"tool": tool, "call": call, "result": result, "value": result.result, "error": result.error,
            "dry_run": dry_run}


def own_signal_abort(signal: AbortSignal, reason: str) -> None:
    """Abort a call's signal so a sync body polling it can stop."""
    signal._abort(reason)


def _as_dict(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    data = dict(params.__dict__)
    extra = getattr(params, "__pydantic_extra__", None)
    if extra:
        data.update(extra)
    return data


def rejected(call: ToolCall, tool: Tool, reason: str | None) -> ToolResult:
    """The result of a call a person rejected: a ``permission`` error, the body never run."""
    message = f"Approval rejected{': ' + reason if reason else ''}"
    return ToolResult.failure(call.id, tool.name, ToolError.of("permission", message, code="APPROVAL_REJECTED"),
                              tool_id=tool.id)
