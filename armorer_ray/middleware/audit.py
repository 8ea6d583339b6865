"""`AuditLog`: one JSON record per call, appended to a `Store` log, for security review."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from armorer_ray.errors import ConfigError, ToolError, classify_exception
from armorer_ray.json_values import canonical_json, digest, to_json_compatible
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next
    from armorer_ray.policy import PolicyContext
    from armorer_ray.stores.protocols import Store
    from armorer_ray.tools import Tool

__all__ = ["AuditLog", "Redactor"]

Redactor = Callable[[dict[str, Any]], JsonValue]


class AuditLog:
    """Append one record per call to ``store``'s log ``log``: who called which tool, and how it ended.

    A record is a JSON object with ``time`` (when the call was admitted, seconds since the epoch), ``call_id``,
    ``tool`` (its id), ``tenant_id``, ``session_id``, ``user_id``, ``outcome`` (``success``, ``error``,
    ``action_required``), ``error_code``, ``error_category``, ``reason`` (a policy's, for refusals), ``duration_ms``,
    ``dry_run`` and ``arguments_digest``: the SHA-256 of the arguments' canonical JSON, or its HMAC under
    ``digest_key`` (use one when arguments may hold guessable secrets, which a plain hash does not hide). The
    arguments themselves are recorded only with ``record_arguments=True``, after ``redact`` when given.

    As middleware it records every call that reaches the middleware chain. Calls refused before it (a policy's
    denial, a pause for approval) never get there; list the same instance among the toolbox's policies as well
    and its ``after_execute`` records those too, once each. Calls refused at validation and calls whose caller
    stopped waiting are not recorded.

    A record that cannot be written (the store is down, ``redact`` returned something that is not JSON) does not
    change the call's result: the layer emits an ``audit-error`` event with the error instead.

    Args:
        store: Any `armorer_ray.stores.Store`; read the records back with ``store.read_log(log)``.
        log: The log's name.
        record_arguments: Put the call's arguments (as sent) in each record.
        redact: ``(arguments) -> JSON`` applied to the arguments before they are recorded.
        digest_key: A secret key: ``arguments_digest`` becomes an HMAC-SHA256 under it.
        clock: Wall clock in seconds, injectable for tests.

    Raises:
        ConfigError: for ``redact`` without ``record_arguments``, or an empty ``digest_key``.

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
    """

    __slots__ = ("clock", "digest_key", "log", "record_arguments", "redact", "store")

    def __init__(self, store: Store, log: str = "audit", *, record_arguments: bool = False,
                 redact: Redactor | None = None, digest_key: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if redact is not None and not record_arguments:
            raise ConfigError("AuditLog redact= applies to recorded arguments: pass record_arguments=True too")
        if digest_key is not None and not (isinstance(digest_key, bytes) and digest_key):
            raise ConfigError("AuditLog digest_key must be non-empty bytes")
        self.store, self.log = store, log
        self.record_arguments, self.redact = record_arguments, redact
        self.digest_key, self.clock = digest_key, clock

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the inner layers, then append the call's record.

        Returns:
            The inner result, unchanged.
        """
        started, t0 = self.clock(), time.perf_counter()
        result = await next(call, ctx)
        duration_ms = (time.perf_counter() - t0) * 1000.0
        try:
            record = self.record(call, ctx.tool, result.outcome, result.error, started=started,
                                 duration_ms=duration_ms, dry_run=ctx.dry_run)
            await self.store.append(self.log, record)
        except Exception as exc:
            ctx.emit("audit-error", {"error": classify_exception(exc), "log": self.log})
        return result

    async def after_execute(self, ctx: PolicyContext) -> None:
        """As a policy: record calls a policy refused or paused (the others are recorded as middleware)."""
        if ctx.outcome not in ("denied", "action_required"):
            return
        outcome = "error" if ctx.outcome == "denied" else "action_required"
        record = self.record(ctx.call, ctx.tool, outcome, ctx.error, started=self.clock(), reason=ctx.reason)
        await self.store.append(self.log, record)

    def record(self, call: ToolCall, tool: Tool, outcome: str, error: ToolError | None, *, started: float,
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
            "tool": tool.id,
            "tenant_id": call.tenant_id,
            "session_id": call.session_id,
            "user_id": call.user_id,
            "outcome": outcome,
            "error_code": error.code if error is not None else None,
            "error_category": error.category if error is not None else None,
            "reason": reason,
            "duration_ms": duration_ms,
            "dry_run": dry_run,
            "arguments_digest": self.digest(call.arguments),
        }
        if self.record_arguments:
            arguments = dict(call.arguments)
            record["arguments"] = self.redact(arguments) if self.redact is not None else to_json_compatible(arguments)
        return record

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
