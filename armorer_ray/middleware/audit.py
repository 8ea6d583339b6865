"""`AuditLog`: one JSON record per call, appended to a `Store` log, for security review."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from armorer_ray.errors import ConfigError, ToolError, classify_exception
from armorer_ray.json_values import canonical_json, digest, to_json_compatible
from armorer_ray.middleware.audit_chain import ChainReport, link_hash, verify
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.sanitize import ArgumentBounds

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next
    from armorer_ray.policy import PolicyContext
    from armorer_ray.stores.protocols import Store
    from armorer_ray.tools import Tool

__all__ = ["AuditLog", "ChainReport", "Redactor", "verify"]

Redactor = Callable[[dict[str, Any]], JsonValue]


class AuditLog:
    """Append one record per call to ``store``'s log ``log``: who called which tool, and how it ended.

    A record is a JSON object with ``time`` (when the call was admitted, seconds since the epoch), ``call_id``,
    ``tool`` (its id), ``tenant_id``, ``session_id``, ``user_id``, ``outcome`` (``success``, ``error``,
    ``action_required``), ``error_code``, ``error_category``, ``reason`` (a policy's, for refusals), ``duration_ms``,
    ``dry_run`` and ``arguments_digest``: the SHA-256 of the arguments' canonical JSON, or its HMAC under
    ``digest_key`` (use one when arguments may hold guessable secrets, which a plain hash does not hide). The
    arguments themselves are recorded only with ``record_arguments=True``, after ``redact`` when given.

    Every call the toolbox resolves gets exactly one record when the instance is listed both as middleware and
    among the toolbox's policies (``middleware=[audit], policy=[audit]``): as middleware it records the calls
    that reach the middleware chain, timeouts and cancellations included (a cancelled call is recorded with
    ``outcome`` ``cancelled``); as a policy, the calls that end before it: a validation failure, a policy's
    denial, a pause for approval (``after_execute``), and a call that never entered the pipeline: a name that
    resolves to no tool the caller may see, arguments over the toolbox's `ArgumentBounds`, a rejected approval,
    an exhausted budget (``after_refusal``, with ``tool`` None for a name that did not resolve).

    Records form a hash chain (``chain``, ``seq``, ``prev``, ``hash``; see `armorer_ray.middleware.audit_chain`):
    `verify` names the first record that was edited, removed or forged. A record that cannot be serialised (a
    value nested past what JSON encoders handle, a ``redact`` that returned something that is not JSON) is still
    written, with ``arguments`` replaced by a bounded description and ``unserialisable`` set, and an
    ``audit.failed`` event says why. Only a store that fails leaves no record (the event says so).

    A policy's ``reason`` is free text, and policies put argument values in it (``ConfinePaths`` names the path
    refused). Without ``record_arguments`` every argument value found in a reason is replaced by ``[redacted]``
    (values of 3 characters or more anywhere, shorter ones as whole words), so the log holds no argument value.

    Args:
        store: Any `armorer_ray.stores.Store`; read the records back with ``store.read_log(log)``.
        log: The log's name.
        record_arguments: Put the call's arguments (as sent) in each record.
        redact: ``(arguments) -> JSON`` applied to the arguments before they are recorded.
        digest_key: A secret key: ``arguments_digest`` becomes an HMAC-SHA256 under it.
        chain_key: A secret key: each record's ``hash`` becomes an HMAC-SHA256 under it (pass it to `verify`).
        clock: Wall clock in seconds, injectable for tests.

    Raises:
        ConfigError: for ``redact`` without ``record_arguments``, or an empty ``digest_key`` or ``chain_key``.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.stores import MemoryStore
        >>> from armorer_ray.testing import mock_tool
        >>> store = MemoryStore()
        >>> audit = AuditLog(store, record_arguments=True, redact=lambda args: {**args, "card": "****"})
        >>> box = Toolbox([mock_tool("pay", outcomes=["paid"])], middleware=[audit], policy=[audit])
        >>> box.execute_sync(ToolCall(name="pay", arguments={"card": "4111", "eur": 5}, user_id="ada")).result
        'paid'
        >>> [record] = asyncio.run(store.read_log("audit"))
        >>> record["tool"], record["user_id"], record["outcome"], record["arguments"]
        ('default:pay', 'ada', 'success', {'card': '****', 'eur': 5})
        >>> verify([record]).ok
        True
    """

    __slots__ = ("_in_middleware", "_lock", "_seq", "chain", "chain_key", "clock", "digest_key", "head", "log",
                 "record_arguments", "redact", "store")

    def __init__(self, store: Store, log: str = "audit", *, record_arguments: bool = False,
                 redact: Redactor | None = None, digest_key: bytes | None = None, chain_key: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if redact is not None and not record_arguments:
            raise ConfigError("AuditLog redact= applies to recorded arguments: pass record_arguments=True too")
        for name, key in (("digest_key", digest_key), ("chain_key", chain_key)):
            if key is not None and not (isinstance(key, bytes) and key):
                raise ConfigError(f"AuditLog {name} must be non-empty bytes")
        self.store, self.log = store, log
        self.record_arguments, self.redact = record_arguments, redact
        self.digest_key, self.chain_key, self.clock = digest_key, chain_key, clock
        self.chain = secrets.token_hex(8)  # this instance's chain; another process writing the log has its own
        self.head = ""  # the hash of the last record linked: keep it apart from the log to detect truncation
        self._seq = 0
        self._lock = threading.Lock()  # linking is synchronous: seq and prev are taken together
        self._in_middleware: dict[str, int] = {}  # call ids recorded by the middleware, for after_execute

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the inner layers, then append the call's record (a cancelled call's too, then re-raise).

        Returns:
            The inner result, unchanged.
        """
        started, t0 = self.clock(), time.perf_counter()
        marks = self._in_middleware
        marks[call.id] = marks.get(call.id, 0) + 1
        if len(marks) > _MAX_MARKS:  # used as middleware only, nothing clears the marks: keep the newest
            for oldest in marks:  # (``next`` is the inner layer here)
                del marks[oldest]
                break
        try:
            result = await next(call, ctx)
        except asyncio.CancelledError:
            duration_ms = (time.perf_counter() - t0) * 1000.0
            record = self.record(call, ctx.tool, "cancelled", ToolError.of("cancelled", "the caller stopped waiting"),
                                 started=started, duration_ms=duration_ms, dry_run=ctx.dry_run)
            # Shielded: the append must finish although the task that made it is being cancelled.
            await asyncio.shield(self._append(record, ctx.emit))
            self._forget(call.id)
            raise
        except BaseException:
            self._forget(call.id)
            raise
        duration_ms = (time.perf_counter() - t0) * 1000.0
        if result.error is not None and result.error.category == "cancelled":
            self._forget(call.id)  # the pipeline runs no after-policy for a cancelled call
        record = self.record(call, ctx.tool, result.outcome, result.error, started=started,
                             duration_ms=duration_ms, dry_run=ctx.dry_run)
        await self._append(record, ctx.emit)
        return result

    async def after_execute(self, ctx: PolicyContext) -> None:
        """As a policy: record the calls that ended before the middleware (validation, denial, pause)."""
        if self._in_middleware.get(ctx.call.id):
            self._forget(ctx.call.id)  # recorded as middleware already
            return
        if ctx.outcome == "denied":
            outcome = "error"
        elif ctx.outcome in ("action_required", "success", "error"):
            outcome = ctx.outcome
        else:
            outcome = "error"
        record = self.record(ctx.call, ctx.tool, outcome, ctx.error, started=self.clock(), reason=ctx.reason)
        await self._append(record, None)

    async def after_refusal(self, call: ToolCall, result: ToolResult) -> None:
        """As a policy: record a call that ended before the pipeline (not found, too large, rejected...)."""
        record = self.record(call, None, result.outcome, result.error, started=self.clock(),
                             duration_ms=result.duration_ms)
        await self._append(record, None)

    def _forget(self, call_id: str) -> None:
        left = self._in_middleware.get(call_id, 0) - 1
        if left > 0:
            self._in_middleware[call_id] = left
        else:
            self._in_middleware.pop(call_id, None)

    async def _append(self, record: dict[str, JsonValue], emit: Callable[[str, Any], object] | None) -> None:
        problem = _unserialisable(record)
        if problem is not None:
            record = _bounded(record, problem)
            if emit is not None:
                emit("audit.failed", {"error": ToolError.of("internal", f"audit record not serialisable: {problem}",
                                                            code="AUDIT_RECORD_UNSERIALISABLE"), "log": self.log})
        with self._lock:
            record["chain"], record["seq"], record["prev"] = self.chain, self._seq, self.head
            record["hash"] = self.head = link_hash(record, self.chain_key)
            self._seq += 1
        try:
            await self.store.append(self.log, record)
        except Exception as exc:
            if emit is None:
                raise  # as a policy: the pipeline logs a failed after_execute
            emit("audit.failed", {"error": classify_exception(exc), "log": self.log})

    def verify(self, records: list[JsonValue]) -> ChainReport:
        """`verify` with this log's ``chain_key``."""
        return verify(records, self.chain_key)

    def record(self, call: ToolCall, tool: Tool | None, outcome: str, error: ToolError | None, *, started: float,
               duration_ms: float | None = None, dry_run: bool | None = None,
               reason: str | None = None) -> dict[str, JsonValue]:
        """The record for one call (what `__call__` and `after_execute` append).

        Example:
            >>> from armorer_ray.testing import mock_tool
            >>> from armorer_ray.stores import MemoryStore
            >>> record = AuditLog(MemoryStore()).record(ToolCall(id="c1", name="t", arguments={"q": 1}),
            ...                                         mock_tool("t"), "success", None, started=0.0)
            >>> record["call_id"], record["outcome"], "arguments" in record, len(record["arguments_digest"])
            ('c1', 'success', False, 64)
        """
        record: dict[str, JsonValue] = {
            "time": started,
            "call_id": call.id,
            "tool": tool.id if tool is not None else None,
            "tenant_id": call.tenant_id,
            "session_id": call.session_id,
            "user_id": call.user_id,
            "outcome": outcome,
            "error_code": error.code if error is not None else None,
            "error_category": error.category if error is not None else None,
            "reason": reason if reason is None or self.record_arguments else _redacted(reason, call.arguments),
            "duration_ms": duration_ms,
            "dry_run": dry_run,
            "arguments_digest": self._safe_digest(call.arguments),
        }
        if self.record_arguments:
            arguments = dict(call.arguments) if isinstance(call.arguments, Mapping) else {"(text)": call.arguments}
            if _SAFE.check(arguments) is not None:  # beyond what converters can walk: described, not converted
                record["arguments"] = None
            else:
                try:
                    record["arguments"] = (self.redact(arguments) if self.redact is not None
                                           else to_json_compatible(arguments))
                except Exception as exc:  # the record is still written, without the arguments
                    record["arguments"] = f"<not recordable: {type(exc).__name__}>"
        return record

    def _safe_digest(self, arguments: object) -> str:
        if _SAFE.check(arguments) is None:
            try:
                return self.digest(arguments)  # type: ignore[arg-type]  # checked within bounds just above; digest takes JSON
            except Exception:
                pass
        # Too deep or too large to canonicalise safely: a digest of its shape, marked as such.
        return "unserialisable:" + hashlib.sha256(type(arguments).__name__.encode()).hexdigest()

    def digest(self, arguments: Mapping[str, Any]) -> str:
        """SHA-256 (or, with ``digest_key``, HMAC-SHA256) hex digest of the arguments' canonical JSON.

        Example:
            >>> from armorer_ray.stores import MemoryStore
            >>> plain, keyed = AuditLog(MemoryStore()), AuditLog(MemoryStore(), digest_key=b"k")
            >>> plain.digest({"pin": "1234"}) == plain.digest({"pin": "1234"}) != keyed.digest({"pin": "1234"})
            True
        """
        if self.digest_key is None:
            return digest(arguments)  # the same digest as a result's input_digest
        return hmac.new(self.digest_key, canonical_json(arguments).encode(), hashlib.sha256).hexdigest()


# What a record's arguments may hold to be converted and digested: recursive encoders fail near 255 levels.
_SAFE = ArgumentBounds(max_depth=200, max_items=1_000_000, max_chars=None)
_MAX_REASON_VALUES = 1000
_MAX_MARKS = 10_000


def _unserialisable(record: Mapping[str, JsonValue]) -> str | None:
    try:
        canonical_json(record)
    except Exception as exc:  # ValueError (nan from a redactor), RecursionError, TypeError...
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    try:
        import json

        json.dumps(record, allow_nan=False)
    except (ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def _bounded(record: dict[str, JsonValue], problem: str) -> dict[str, JsonValue]:
    # Keep every field that is plain data; the arguments (the only free-form part) become a short description.
    safe: dict[str, JsonValue] = {}
    for key, value in record.items():
        if key == "arguments":
            continue
        safe[key] = value if value is None or isinstance(value, str | int | bool) or (
            isinstance(value, float) and value == value and abs(value) != float("inf")) else str(value)[:200]
    safe["arguments"] = None
    safe["unserialisable"] = problem[:300]
    return safe


def _redacted(reason: str, arguments: object) -> str:
    """``reason`` with every argument value found in it replaced by ``[redacted]`` (iterative walk, bounded)."""
    values: set[str] = set()
    stack = [arguments]
    while stack and len(values) < _MAX_REASON_VALUES:
        value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if text:
                values.add(text)
    if stack:  # more values than we look at: keep nothing of the reason rather than some of the values
        return "[redacted: the reason may quote arguments]"
    for text in sorted(values, key=len, reverse=True):
        pattern = re.escape(text) if len(text) >= 3 else rf"(?<!\w){re.escape(text)}(?!\w)"
        reason = re.sub(pattern, "[redacted]", reason)
    return reason
