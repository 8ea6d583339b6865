"""`CircuitBreaker`: stop calling a dependency that keeps failing, and probe it before trusting it again."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from armorer_ray.errors import ConfigError, ErrorCategory, ToolError
from armorer_ray.middleware.keys import KeyFunction, per_tool
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]

# Failures that say the dependency is unwell. A validation error or a denial says the *call* was wrong.
_UNHEALTHY: frozenset[ErrorCategory] = frozenset({"transient", "timeout", "internal"})


@dataclass(slots=True)
class _Circuit:
    state: CircuitState = "closed"
    generation: int = 0  # bumped on every transition, so a result from an older state is not counted
    consecutive: int = 0
    window: deque[tuple[float, bool]] = field(default_factory=deque)  # (finished at, failed)
    window_failures: int = 0
    opened_at: float = 0.0
    probes: int = 0
    probe_successes: int = 0


class CircuitBreaker:
    """Closed, open and half-open circuits per tool (or per key), built into the pipeline as a layer.

    Closed: calls pass; a failure whose category is in ``counts`` (transient, timeout, internal by default)
    counts against the circuit, anything else counts as the dependency answering. The circuit opens after
    ``failure_threshold`` consecutive failures, or when at least ``min_calls`` calls finished in the last
    ``window_s`` seconds and the share that failed reaches ``failure_rate``. Open: calls are answered at once
    with a ``transient`` error coded ``CIRCUIT_OPEN`` (``details.retry_after_s`` says when probing starts).
    After ``open_timeout_s`` the next call moves the circuit to half-open: up to ``half_open_probes`` calls go
    through as probes (others are refused); when all of them succeed the circuit closes, and any probe failure
    opens it again. Transitions emit ``circuit.opened``, ``circuit.half-open`` and ``circuit.closed`` events with
    ``circuit`` (the key), ``state`` and ``reason``.

    Args:
        failure_threshold: Consecutive failures that open the circuit (None: only the rate rule applies).
        failure_rate: Share of failures in the window, in (0, 1], that opens it (None: only the consecutive rule).
        window_s: Length of the failure-rate window.
        min_calls: Calls the window must hold before the rate rule applies.
        open_timeout_s: How long the circuit stays open before probing.
        half_open_probes: Probes admitted, and successes needed to close.
        key: ``(call, ctx) -> str``; one circuit per key (default `per_tool`).
        counts: Error categories counted as failures.
        clock: Monotonic clock in seconds, injectable for tests.

    Raises:
        ConfigError: for invalid thresholds or timings, or when neither rule is set.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, Transient
        >>> from armorer_ray.testing import mock_tool
        >>> flaky = mock_tool("flaky")
        >>> flaky.mock_reject(Transient("upstream 503"))
        >>> breaker = CircuitBreaker(failure_threshold=2, open_timeout_s=30)
        >>> box = Toolbox([flaky], middleware=[breaker])
        >>> [box.execute_sync(ToolCall(name="flaky")).error.code for _ in range(3)]
        ['TRANSIENT_ERROR', 'TRANSIENT_ERROR', 'CIRCUIT_OPEN']
        >>> breaker.state("default:flaky"), len(flaky.calls)
        ('open', 2)
    """

    __slots__ = ("_circuits", "clock", "counts", "failure_rate", "failure_threshold", "half_open_probes", "key",
                 "min_calls", "open_timeout_s", "window_s")

    def __init__(self, *, failure_threshold: int | None = 5, failure_rate: float | None = None,
                 window_s: float = 60.0, min_calls: int = 10, open_timeout_s: float = 30.0,
                 half_open_probes: int = 1, key: KeyFunction = per_tool,
                 counts: Collection[ErrorCategory] = _UNHEALTHY, clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold is None and failure_rate is None:
            raise ConfigError("CircuitBreaker needs failure_threshold, failure_rate, or both")
        if failure_threshold is not None and (not isinstance(failure_threshold, int) or failure_threshold < 1):
            raise ConfigError(f"CircuitBreaker failure_threshold must be a positive integer, got {failure_threshold!r}")
        if failure_rate is not None and not 0 < failure_rate <= 1:
            raise ConfigError(f"CircuitBreaker failure_rate must be in (0, 1], got {failure_rate!r}")
        for name, value in (("window_s", window_s), ("open_timeout_s", open_timeout_s)):
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"CircuitBreaker {name} must be a positive number, got {value!r}")
        for name, count in (("min_calls", min_calls), ("half_open_probes", half_open_probes)):
            if not isinstance(count, int) or count < 1:
                raise ConfigError(f"CircuitBreaker {name} must be a positive integer, got {count!r}")
        self.failure_threshold, self.failure_rate = failure_threshold, failure_rate
        self.window_s, self.min_calls = window_s, min_calls
        self.open_timeout_s, self.half_open_probes = open_timeout_s, half_open_probes
        self.key, self.counts, self.clock = key, frozenset(counts), clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, key: str) -> CircuitState:
        """The circuit's state (an open circuit whose timeout ran out turns half-open on its next call).

        Args:
            key: The circuit's key (the tool id with the default key function).

        Returns:
            ``closed`` for a key never seen.

        Example:
            >>> CircuitBreaker().state("default:search")
            'closed'
        """
        circuit = self._circuits.get(key)
        return circuit.state if circuit is not None else "closed"

    def states(self) -> dict[str, CircuitState]:
        """Every known circuit's state by key.

        Example:
            >>> CircuitBreaker().states()
            {}
        """
        return {key: circuit.state for key, circuit in self._circuits.items()}

    def reset(self, key: str | None = None) -> None:
        """Forget one circuit (closing it), or all of them.

        Example:
            >>> CircuitBreaker().reset()
        """
        if key is None:
            self._circuits.clear()
        else:
            self._circuits.pop(key, None)

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Refuse the call while the circuit is open, else run it and record how it went.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The inner result, or a ``CIRCUIT_OPEN`` error result.
        """
        key = self.key(call, ctx)
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = _Circuit()
        elif circuit.state != "closed":
            refusal = self._admit_probe(circuit, key, call, ctx)
            if refusal is not None:
                return refusal
        generation, state = circuit.generation, circuit.state
        try:
            result = await next(call, ctx)
        except asyncio.CancelledError:
            if state == "half_open" and circuit.generation == generation:
                circuit.probes -= 1  # a cancelled probe proved nothing; let another call probe
            raise
        if circuit.generation == generation:  # still the state the call was admitted under
            self._record(circuit, key, result, ctx, probe=state == "half_open")
        return result

    def _admit_probe(self, circuit: _Circuit, key: str, call: ToolCall, ctx: CallContext) -> ToolResult | None:
        now = self.clock()
        if circuit.state == "open":
            remaining = circuit.opened_at + self.open_timeout_s - now
            if remaining > 0:
                return self._refuse(call, ctx, key, remaining)
            self._move(circuit, "half_open", key, ctx, "open timeout elapsed")
        if circuit.probes >= self.half_open_probes:
            return self._refuse(call, ctx, key, self.open_timeout_s)
        circuit.probes += 1
        return None

    def _record(self, circuit: _Circuit, key: str, result: ToolResult, ctx: CallContext, probe: bool) -> None:
        error = result.error
        if error is not None and error.category == "cancelled":
            if probe:
                circuit.probes -= 1
            return
        failed = error is not None and error.category in self.counts
        if probe:
            if failed:
                self._move(circuit, "open", key, ctx, f"probe failed: {error.message if error else ''}")
            else:
                circuit.probe_successes += 1
                if circuit.probe_successes >= self.half_open_probes:
                    self._move(circuit, "closed", key, ctx, f"{circuit.probe_successes} probes succeeded")
            return
        now = self.clock()
        circuit.consecutive = circuit.consecutive + 1 if failed else 0
        window = circuit.window
        window.append((now, failed))
        circuit.window_failures += failed
        while window and window[0][0] <= now - self.window_s:
            circuit.window_failures -= window.popleft()[1]
        if self.failure_threshold is not None and circuit.consecutive >= self.failure_threshold:
            self._move(circuit, "open", key, ctx, f"{circuit.consecutive} consecutive failures")
        elif (self.failure_rate is not None and len(window) >= self.min_calls
              and circuit.window_failures / len(window) >= self.failure_rate):
            self._move(circuit, "open", key, ctx,
                       f"{circuit.window_failures} of {len(window)} calls failed in {self.window_s:g}s")

    def _move(self, circuit: _Circuit, state: CircuitState, key: str, ctx: CallContext, reason: str) -> None:
        circuit.state = state
        circuit.generation += 1
        circuit.probes = circuit.probe_successes = 0
        if state == "open":
            circuit.opened_at = self.clock()
        elif state == "closed":
            circuit.consecutive = circuit.window_failures = 0
            circuit.window.clear()
        event = {"open": "circuit.opened", "half_open": "circuit.half-open", "closed": "circuit.closed"}[state]
        ctx.emit(event, {"circuit": key, "state": state, "reason": reason})

    def _refuse(self, call: ToolCall, ctx: CallContext, key: str, retry_after_s: float) -> ToolResult:
        tool = ctx.tool
        retry_after = math.ceil(retry_after_s * 1000) / 1000
        error = ToolError.of(
            "transient",
            f'Circuit open for tool "{tool.name}": it failed repeatedly; not calling it for {retry_after:g}s.',
            code="CIRCUIT_OPEN",
            details={"retry_after_s": retry_after, "circuit": key},
        )
        return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)
