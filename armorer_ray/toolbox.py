"""`Toolbox`: the registry of tools and the entry point that executes calls through the pipeline."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from pydantic import JsonValue, ValidationError
from typing_extensions import Unpack

from armorer_ray._sync import run_sync
from armorer_ray.approvals import ApprovalBook, MemoryApprovalBook, owns_pause
from armorer_ray.cancellation import AbortSignal
from armorer_ray.context import Approval
from armorer_ray.digests import DigestSetting
from armorer_ray.errors import ConfigError, Conflict, ToolError, ToolExecutionError, classify_exception
from armorer_ray.events import EventHub, Listener
from armorer_ray.executors import Executor, LocalExecutor
from armorer_ray.identity import ToolId
from armorer_ray.lifecycle import Health, LifecycleHook, run_hooks
from armorer_ray.middleware.base import Middleware
from armorer_ray.options import Budget, ToolboxOptions, ToolboxSettings
from armorer_ray.pipeline import DEFAULT_CALL_OPTIONS, CallOptions, Pipeline, rejected, validation_error
from armorer_ray.policy import CallerLike, RiskPolicy, RoutedCall, call_routers, visibility_rules
from armorer_ray.query import LexicalIndex, Querying, QueryResults, ToolQuery
from armorer_ray.resolution import Resolver
from armorer_ray.results import ToolCall, ToolResult, new_call_id
from armorer_ray.sanitize import bounds_of
from armorer_ray.shaping import OutputShaping
from armorer_ray.streams.reducers import ChunkSink
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from armorer_ray.embeddings.filters import ToolFilter
    from armorer_ray.embeddings.fusion import Turn
    from armorer_ray.embeddings.index import SearchHit, ToolIndex

__all__ = ["Budget", "CallInput", "Toolbox", "ToolboxOptions", "ToolboxSettings", "combine_toolboxes"]

CallInput = ToolCall | Mapping[str, Any]
ErrorMode = Literal["collect", "fail_fast"]
_DEFAULT_OPTIONS = ToolboxOptions()


@dataclass(frozen=True, slots=True)
class _Entry:
    tool: Tool
    aliases: tuple[str, ...]


class Toolbox(Querying):
    """A registry of tools that executes model calls through one pipeline.

    Args:
        tools: Tools to register, in order.
        options: Everything else the toolbox is configured with (see `ToolboxOptions`).
        **settings: The keyword shorthand for options (see `ToolboxSettings`): ``policy``, ``middleware``,
            ``context``, ``read_only``, ``allow_mutation``, ``allow_dangerous``, ``budget``, ``timeout_s``,
            ``tool_concurrency``, ``executor``, ``resources``, ``digests``, ``output``, ``approvals``,
            ``on_start``, ``on_drain``, ``on_stop``, ``body_signal``, ``name``; given with ``options``, they
            override it.

    Raises:
        ConfigError: for conflicting registrations or invalid options.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     "Add two integers."
        ...     return a + b
        >>> toolbox = Toolbox([add])
        >>> toolbox.execute_sync(ToolCall(name="add", arguments={"a": 2, "b": 3})).result
        5
        >>> toolbox.execute_sync(ToolCall(name="add", arguments={"a": "two"})).error.category
        'validation'
    """

    def __init__(self, tools: Iterable[Tool] = (), options: ToolboxOptions | None = None,
                 **settings: Unpack[ToolboxSettings]) -> None:
        base = options if options is not None else _DEFAULT_OPTIONS
        if not isinstance(base, ToolboxOptions):
            raise ConfigError(f"options must be a ToolboxOptions, got {type(base).__name__}")
        opts = base.with_settings(**settings)
        # Per-process defaults are made here and written into the options, so every copy made from them
        # (extend, combine_toolboxes) shares this toolbox's approval book and thread pool.
        defaults: dict[str, object] = {}
        if opts.executor is None:
            defaults["executor"] = LocalExecutor()
        if opts.approvals is None:
            defaults["approvals"] = MemoryApprovalBook()
        self._options = opts.model_copy(update=defaults) if defaults else opts
        self._visibility = visibility_rules(self._options.policies)
        self._resolver = Resolver(self._visibility)
        self._bounds = bounds_of(self._options.policies)  # raw-argument cost caps, checked before validation
        # Policies with after_refusal(call, result) hear of calls that end before the pipeline (AuditLog).
        self._refusal_hooks = tuple(hook for hook in (getattr(p, "after_refusal", None)
                                                      for p in self._options.policies) if callable(hook))
        # Policies that route calls before resolution (Versioning: version negotiation and argument migrations).
        self._routers = call_routers(self._options.policies)
        self.events = EventHub()
        self._pipeline = Pipeline(self._options, self.events, self)
        self._entries: dict[str, _Entry] = {}
        self._by_name: dict[str, list[str]] = {}
        self._aliases: dict[str, str] = {}
        self._created = time.monotonic()
        self._admitted = 0
        self._version = 0  # bumped on every registry change; caches built over the tool set compare it
        self._lexical: tuple[int, LexicalIndex] | None = None
        self._index: ToolIndex | None = None
        self._in_flight = 0
        self._idle_waiter: asyncio.Future[None] | None = None  # created only while drain() waits
        self._state: Literal["new", "started", "draining", "stopped"] = "new"
        self.register(*tools)

    # -- registry --------------------------------------------------------------------------------------

    def register(self, *tools: Tool, replace: bool = False, aliases: Sequence[str] = ()) -> Toolbox:
        """Add tools. An id already registered is refused unless ``replace=True`` (then it is swapped in place).

        Tools with the same name but different namespace or version coexist; a bare name resolves to the most
        recently registered of them.

        Raises:
            ConfigError: for a non-Tool, a duplicate id without ``replace``, or an alias owned by another tool.
        """
        for item in tools:
            if not isinstance(item, Tool):
                raise ConfigError(f"Toolbox accepts Tool objects (use @tool or Tool(...)), got {type(item).__name__}")
            tool_id = item.id
            previous = self._entries.get(tool_id)
            if previous is not None and not replace:
                raise ConfigError(f"Tool already registered: {tool_id} (pass replace=True to swap it)")
            for alias in aliases:
                owner = self._aliases.get(alias)
                if owner is not None and owner != tool_id and not replace:
                    raise ConfigError(f"Alias already registered: {alias} (owned by {owner})")
            if previous is not None:
                self._pipeline.forget(previous.tool)
            self._entries[tool_id] = _Entry(item, tuple(aliases))
            names = self._by_name.setdefault(item.name, [])
            if tool_id in names:
                names.remove(tool_id)
            names.append(tool_id)
            for alias in aliases:
                self._aliases[alias] = tool_id
            self._version += 1
            self._announce_change()
        return self

    def unregister(self, name_or_id: str) -> Tool:
        """Remove a tool (by id, alias or name) and return it.

        Raises:
            KeyError: when nothing matches.
        """
        found = self.get_tool(name_or_id)
        if found is None:
            raise KeyError(f"Tool not found: {name_or_id}")
        tool_id = found.id
        del self._entries[tool_id]
        self._by_name[found.name].remove(tool_id)
        if not self._by_name[found.name]:
            del self._by_name[found.name]
        for alias in [a for a, owner in self._aliases.items() if owner == tool_id]:
            del self._aliases[alias]
        self._pipeline.forget(found)
        self._version += 1
        self._announce_change()
        return found

    def _announce_change(self) -> None:
        # "tools.changed" lets live listings (MCP listChanged) follow registrations; free when nobody listens.
        if self.events.wants("tools.changed"):
            self.events.emit("tools.changed", {"version": self._version})

    def get_tool(self, name_or_id: str, *, caller: CallerLike | None = None) -> Tool | None:
        """Resolve an exact id, an alias, ``namespace:name`` (highest version), or a bare name (latest registered).

        A bare name that tools of several namespaces share resolves to nothing (the call's answer says it is
        ambiguous and lists the ids): running one of them silently would be a guess.

        Args:
            name_or_id: What a call names.
            caller: Resolve only among the tools the toolbox's visibility rules show this caller (see
                `is_visible`); None: among every registered tool.

        Example:
            >>> from armorer_ray import tool
            >>> v1 = tool(name="echo", version="1.0.0", description="Echo v1.")(lambda text: text)
            >>> v2 = v1.replace(version="1.2.0", description="Echo v1.2.")
            >>> Toolbox([v2, v1]).get_tool("default:echo").version
            '1.2.0'
        """
        for router in self._routers:
            routed = router.route_name(name_or_id)
            if routed is not None:
                found = self._resolution().resolve(routed, caller)
                if found is not None:
                    return found
        return self._resolution().resolve(name_or_id, caller)

    def _resolution(self) -> Resolver:
        # Indexes are rebuilt lazily after a registry change; every lookup and listing reads them (O(1) a name).
        resolver = self._resolver
        if resolver.version != self._version:
            resolver.refresh(self._version, list(self._entries), {i: e.tool for i, e in self._entries.items()},
                             {n: tuple(ids) for n, ids in self._by_name.items()}, dict(self._aliases))
        return resolver

    def tools(self, *, caller: CallerLike | None = None) -> list[Tool]:
        """Registered tools in registration order; with ``caller``, only those its visibility rules show it.

        Every listing made for a caller (tenant views, the search tool, not-found errors, exports) goes through
        this one rule, so none of them can show a tool a call by that caller could not resolve.
        """
        if caller is None:
            return [entry.tool for entry in self._entries.values()]
        return list(self._resolution().tools(caller))

    def is_visible(self, tool: Tool, caller: CallerLike) -> bool:
        """Whether every visibility rule of the toolbox shows ``tool`` to ``caller`` (True when there are none).

        Visibility rules are the ``visible(tool, caller)`` methods of the toolbox's policies (such as
        `armorer_ray.tenancy.TenantAccess`). A call names a hidden tool in vain: it resolves as not found,
        before validation, so its answer is the same as for a tool that does not exist.

        Example:
            >>> from armorer_ray import Caller
            >>> from armorer_ray.testing import mock_tool
            >>> class StaffOnly:
            ...     def visible(self, tool, caller):
            ...         return "staff" not in tool.tags or caller.user_id == "ada"
            >>> payroll = mock_tool("payroll", tags=["staff"])
            >>> box = Toolbox([payroll], policy=StaffOnly())
            >>> box.is_visible(payroll, Caller(user_id="ada")), box.is_visible(payroll, Caller(user_id="bob"))
            (True, False)
            >>> box.execute_sync(ToolCall(name="payroll", user_id="bob")).error.category
            'not_found'
        """
        return all(rule(tool, caller) for rule in self._visibility)

    def aliases(self, tool_id: str) -> tuple[str, ...]:
        """Aliases registered for a tool id."""
        entry = self._entries.get(tool_id)
        return entry.aliases if entry else ()

    def get_missing_tools(self, names: Iterable[str]) -> list[str]:
        """The names (or ids) that do not resolve, in the order given."""
        return [name for name in names if self.get_tool(name) is None]

    def has_all_tools(self, names: Iterable[str]) -> bool:
        """Whether every name resolves (True for none)."""
        return not self.get_missing_tools(names)

    def __contains__(self, name_or_id: object) -> bool:
        return isinstance(name_or_id, str) and self.get_tool(name_or_id) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools())

    def __repr__(self) -> str:
        return f"Toolbox({self.name!r}, tools={len(self)})"

    def extend(self, *tools: Tool) -> Toolbox:
        """A new toolbox with the same options and these tools added (later ids replace earlier ones).

        The new toolbox shares this one's options, approval book and executor included, so a call paused on
        either can be resumed on the other.

        Example:
            >>> from armorer_ray.approvals import MemoryApprovalBook
            >>> book = MemoryApprovalBook()
            >>> Toolbox(approvals=book).extend().approvals is book
            True
        """
        clone = Toolbox(options=self._options)
        for entry in self._entries.values():
            clone.register(entry.tool, aliases=entry.aliases)
        clone.register(*tools, replace=True)
        return clone

    # -- options ---------------------------------------------------------------------------------------

    @property
    def options(self) -> ToolboxOptions:
        """Everything this toolbox is configured with; its defaults (executor, approval book) filled in."""
        return self._options

    @property
    def name(self) -> str:
        """A label for logs, deployments and the UI."""
        return self._options.name

    @property
    def risk(self) -> RiskPolicy:
        """The risk flags, as the policy that enforces them."""
        return self._options.risk

    @property
    def middleware(self) -> tuple[Middleware, ...]:
        """Toolbox middleware, outermost first."""
        return self._options.middleware

    @property
    def context(self) -> Mapping[str, Any]:
        """Values merged into every call's context."""
        return self._options.context

    @property
    def budget(self) -> Budget | None:
        """Limits on calls and time over the toolbox's life."""
        return self._options.budget

    @property
    def timeout_s(self) -> float | None:
        """Default per-call deadline for tools that set none."""
        return self._options.timeout_s

    @property
    def tool_concurrency(self) -> int | None:
        """Default per-tool in-flight limit for tools that set none."""
        return self._options.tool_concurrency

    @property
    def executor(self) -> Executor:
        """Where bodies run."""
        return cast(Executor, self._options.executor)  # set by __init__ when the options had none

    @property
    def resources(self) -> Mapping[str, Any]:
        """Named resource pools handed to tools as ``ctx.resources``."""
        return self._options.resources

    @property
    def digests(self) -> DigestSetting:
        """Whether every result carries SHA-256 digests of its input and output."""
        return self._options.digests

    @property
    def output(self) -> OutputShaping | None:
        """Default output shaping for tools that set none."""
        return self._options.output

    @property
    def approvals(self) -> ApprovalBook:
        """Where paused calls wait for `resume`."""
        return cast(ApprovalBook, self._options.approvals)  # set by __init__ when the options had none

    @property
    def hooks(self) -> dict[str, tuple[LifecycleHook, ...]]:
        """Lifecycle hooks by moment: ``start``, ``drain``, ``stop``."""
        return self._options.hooks

    @property
    def version(self) -> int:
        """A counter bumped on every registration change (for caches built over the tool set)."""
        return self._version

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index over the current tools, rebuilt only after the tool set changes."""
        if self._lexical is None or self._lexical[0] != self._version:
            self._lexical = (self._version, LexicalIndex(self.tools()))
        return self._lexical[1]

    def _lexical_index(self, tools: list[Tool]) -> LexicalIndex:
        return self.lexical_index()

    def _queried(self, query: ToolQuery | Mapping[str, Any], matches: QueryResults) -> None:
        if self.events.wants("query"):
            self.events.emit("query", {"query": query, "results": matches})

    def tool_index(self) -> ToolIndex:
        """The hybrid search index over this toolbox (the embedded defaults, created on first use).

        Replace it with `set_tool_index` to choose another embedder or vector store.
        """
        if self._index is None:
            from armorer_ray.embeddings.index import ToolIndex

            self._index = ToolIndex(self)
        return self._index

    def set_tool_index(self, index: ToolIndex) -> None:
        """Use ``index`` for `search` (built over this toolbox, with any embedder and store)."""
        self._index = index

    async def search(self, query: str, k: int = 5, filters: ToolFilter | None = None, *,
                     context: Sequence[Turn] | None = None) -> list[SearchHit]:
        """The ``k`` tools that best match a natural-language ``query`` (hybrid lexical + semantic ranking).

        The index follows registrations: tools added or changed since the last search are embedded first.

        Args:
            query: What the agent wants to do.
            k: How many tools to return.
            filters: Tags, namespaces or metadata the tools must have.
            context: Earlier turns of the conversation (strings or chat messages), oldest first.

        Returns:
            Hits (``name``, ``id``, ``score``, ``reasons``...), best first.
        """
        return await self.tool_index().search(query, k, filters, context=context)

    def search_sync(self, query: str, k: int = 5, filters: ToolFilter | None = None, *,
                    context: Sequence[Turn] | None = None) -> list[SearchHit]:
        """Blocking form of `search`."""
        return run_sync(self.search(query, k, filters, context=context), "toolbox.search")

    # -- events ----------------------------------------------------------------------------------------

    def on(self, event_type: str | Iterable[str], listener: Listener, *, once: bool = False) -> Callable[[], None]:
        """Subscribe to events (see `armorer_ray.events`); returns the unsubscribe function."""
        return self.events.on(event_type, listener, once=once)

    # -- execution -------------------------------------------------------------------------------------

    @overload
    async def execute(self, calls: CallInput, /, *, concurrency: int | None = None,
                      mode: Literal["parallel", "sequential"] = "parallel", error_mode: ErrorMode = "collect",
                      timeout_s: float | None = None, signal: AbortSignal | None = None,
                      dry_run: bool = False, approval: Approval | None = None) -> ToolResult: ...
    @overload
    async def execute(self, calls: Sequence[CallInput], /, *, concurrency: int | None = None,
                      mode: Literal["parallel", "sequential"] = "parallel", error_mode: ErrorMode = "collect",
                      timeout_s: float | None = None, signal: AbortSignal | None = None,
                      dry_run: bool = False, approval: Approval | None = None) -> list[ToolResult]: ...

    async def execute(
        self,
        calls: CallInput | Sequence[CallInput],
        /,
        *,
        concurrency: int | None = None,
        mode: Literal["parallel", "sequential"] = "parallel",
        error_mode: ErrorMode = "collect",
        timeout_s: float | None = None,
        signal: AbortSignal | None = None,
        dry_run: bool = False,
        approval: Approval | None = None,
    ) -> ToolResult | list[ToolResult]:
        """Run one call, or a batch, and return one `ToolResult` per call (a list, in input order, for a batch).

        Args:
            calls: A `ToolCall` or mapping ``{id?, name, arguments?}``, or a sequence of them.
            concurrency: Most batch calls in flight at once (None: all).
            mode: ``sequential`` runs a batch one call at a time.
            error_mode: ``fail_fast`` raises `ToolExecutionError` on the first failed call and cancels the rest.
            timeout_s: Per-call deadline, overriding the tool's and the toolbox's.
            signal: Abort signal; aborting cancels running calls with a ``cancelled`` result.
            dry_run: Run each tool's dry-run handler instead of its body.
            approval: Run the call(s) as a person already decided, as `resume` runs a paused call: a granted
                `Approval` lets any policy's ``needs_approval`` through (a ``deny`` still denies; ``needs_input``
                policies read ``ctx.approval.input``), a rejected one fails each call with ``APPROVAL_REJECTED``
                without running it. For trusted code acting on a person's decision (a workflow resume, a review
                queue); adapters and other model-facing paths never set it.

        Returns:
            The result, or the results in input order.

        Raises:
            ToolExecutionError: only with ``error_mode="fail_fast"``.

        Example:
            >>> from armorer_ray import Approval, Decision, tool
            >>> @tool
            ... def publish(page: str) -> str:
            ...     "Publish a page."
            ...     return f"published {page}"
            >>> box = Toolbox([publish], policy=lambda ctx: Decision.needs_approval("publish?"))
            >>> call = {"id": "p1", "name": "publish", "arguments": {"page": "home"}}
            >>> box.execute_sync(call).outcome
            'action_required'
            >>> box.execute_sync(call, approval=Approval(True, by="ada")).result
            'published home'
            >>> box.execute_sync(call, approval=Approval(False, reason="not today")).error.code
            'APPROVAL_REJECTED'
        """
        if timeout_s is None and signal is None and not dry_run and approval is None:
            options = DEFAULT_CALL_OPTIONS  # the common case makes no options object per call
        else:
            options = CallOptions(timeout_s, signal, dry_run, approval)
        if type(calls) is ToolCall or isinstance(calls, Mapping):
            result = await self._execute_one(calls, options)
            if error_mode == "fail_fast" and result.error is not None:
                raise ToolExecutionError(result.error, result)
            return result
        if isinstance(calls, str | bytes):
            raise ConfigError("execute() takes a ToolCall, a mapping, or a sequence of them, not a string")
        batch = cast(list[CallInput], list(calls))
        limit = 1 if mode == "sequential" else concurrency
        if limit is not None and limit < 1:
            raise ConfigError(f"concurrency must be at least 1, got {limit}")
        return await self._execute_batch(batch, options, limit, error_mode)

    async def _execute_batch(self, batch: list[CallInput], options: CallOptions, limit: int | None,
                             error_mode: ErrorMode) -> list[ToolResult]:
        gate = asyncio.Semaphore(limit) if limit else None

        async def one(item: CallInput) -> ToolResult:
            if gate is None:
                return await self._execute_one(item, options)
            async with gate:
                return await self._execute_one(item, options)

        tasks = [asyncio.ensure_future(one(item)) for item in batch]
        if error_mode == "collect":
            try:
                return list(await asyncio.gather(*tasks))
            except asyncio.CancelledError:
                for task in tasks:
                    task.cancel()
                raise
        try:
            for finished in asyncio.as_completed(tasks):
                result = await finished
                if result.error is not None:
                    raise ToolExecutionError(result.error, result)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [task.result() for task in tasks]

    def stream(self, call: CallInput, /, *, timeout_s: float | None = None, signal: AbortSignal | None = None,
               dry_run: bool = False, max_buffered: int = 16) -> AsyncGenerator[object, None]:
        """Run one call and iterate over its output as it is produced: each chunk, then the `ToolResult`.

        A generator tool's chunks arrive as it yields them (see `armorer_ray.streaming`); any other call yields
        only its result. The result is the one `execute` would return, its value reduced from the chunks.

        Args:
            call: A `ToolCall`, or a mapping ``{id?, name, arguments?}``.
            timeout_s: Deadline for the whole call, last chunk included.
            signal: Abort signal; aborting cancels the call.
            dry_run: Run the tool's dry-run handler instead of its body.
            max_buffered: Chunks produced but not yet read before the body waits (backpressure).

        Returns:
            An async iterator of chunks ending with exactly one `ToolResult`. Leaving it early cancels the call.

        Raises:
            ConfigError: when ``max_buffered`` is below 1.

        Example:
            >>> import asyncio
            >>> from armorer_ray import tool
            >>> @tool
            ... async def count(n: int):
            ...     "Count up to n."
            ...     for i in range(n):
            ...         yield i
            >>> async def read():
            ...     return [item async for item in Toolbox([count]).stream({"name": "count", "arguments": {"n": 3}})]
            >>> *chunks, result = asyncio.run(read())
            >>> chunks, result.result
            ([0, 1, 2], [0, 1, 2])
        """
        if max_buffered < 1:
            raise ConfigError(f"max_buffered must be at least 1, got {max_buffered}")
        from armorer_ray.streams.calls import stream_chunks

        def run(sink: ChunkSink) -> Awaitable[ToolResult]:
            return self._execute_one(call, CallOptions(timeout_s, signal, dry_run, on_chunk=sink))

        return stream_chunks(run, call, max_buffered)

    async def call_tool(self, call: ToolCall, options: CallOptions = DEFAULT_CALL_OPTIONS) -> ToolResult:
        """Run one call with typed options: the `armorer_ray.toolsets.Toolset` form of `execute`.

        Example:
            >>> import asyncio
            >>> from armorer_ray.testing import mock_tool
            >>> asyncio.run(Toolbox([mock_tool("a")]).call_tool(ToolCall(name="a"), CallOptions(dry_run=False))).outcome
            'success'
        """
        return await self._execute_one(call, options)

    @overload
    def execute_sync(self, calls: CallInput, /, *, concurrency: int | None = None,
                     mode: Literal["parallel", "sequential"] = "parallel", error_mode: ErrorMode = "collect",
                     timeout_s: float | None = None, signal: AbortSignal | None = None,
                     dry_run: bool = False, approval: Approval | None = None) -> ToolResult: ...
    @overload
    def execute_sync(self, calls: Sequence[CallInput], /, *, concurrency: int | None = None,
                     mode: Literal["parallel", "sequential"] = "parallel", error_mode: ErrorMode = "collect",
                     timeout_s: float | None = None, signal: AbortSignal | None = None,
                     dry_run: bool = False, approval: Approval | None = None) -> list[ToolResult]: ...

    def execute_sync(self, calls: CallInput | Sequence[CallInput], /, *, concurrency: int | None = None,
                     mode: Literal["parallel", "sequential"] = "parallel", error_mode: ErrorMode = "collect",
                     timeout_s: float | None = None, signal: AbortSignal | None = None,
                     dry_run: bool = False, approval: Approval | None = None) -> ToolResult | list[ToolResult]:
        """Blocking form of `execute`, for scripts and the CLI; refuses inside a running event loop."""
        run = self.execute(calls, concurrency=concurrency, mode=mode, error_mode=error_mode,
                           timeout_s=timeout_s, signal=signal, dry_run=dry_run, approval=approval)
        # `run` is a union of two coroutine types, which run_sync's T joins to object; it returns one of the two.
        return cast(ToolResult | list[ToolResult], run_sync(run, "toolbox.execute"))

    async def _execute_one(self, item: CallInput, options: CallOptions) -> ToolResult:
        try:
            return await self._admit(item, options)
        except Exception as exc:  # a failed call returns a result, whatever broke: a batch's other results survive
            raw_id = item.id if isinstance(item, ToolCall) else item.get("id") if isinstance(item, Mapping) else None
            raw_name = item.name if isinstance(item, ToolCall) else (
                item.get("name") if isinstance(item, Mapping) else None)
            return ToolResult.failure(str(raw_id or new_call_id()), str(raw_name or ""), classify_exception(exc))

    async def _admit(self, item: CallInput, options: CallOptions) -> ToolResult:
        too_large = None
        if isinstance(item, Mapping) and isinstance(item.get("arguments"), str | bytes):
            too_large = self._bounds.check(item["arguments"])  # refused unparsed: text past the bound
            if too_large is not None:
                item = {**item, "arguments": {}}
        try:
            call = item if isinstance(item, ToolCall) else ToolCall.model_validate(item)
        except ValidationError as exc:
            raw_id = item.get("id") if isinstance(item, Mapping) else None
            raw_name = item.get("name") if isinstance(item, Mapping) else None
            return ToolResult.failure(str(raw_id or new_call_id()), str(raw_name or ""),
                                      validation_error(exc, "tool call"))
        routed = self._route(call) if self._routers else None
        if isinstance(routed, ToolResult):
            return await self._refused(call, routed)
        found: Tool | None
        if routed is not None:
            call, found = routed.call, routed.tool
        else:
            found = self.get_tool(call.name, caller=call)
        hub = self.events
        if found is None:
            if hub.wants("not-found"):
                hub.emit("not-found", {"call": call})
            # Hidden tools are left out of the listing too: the answer must not reveal that they exist.
            known = self._resolution().listing(call)
            sharing = self._resolution().sharing(call.name, call)
            message = (f"Tool name {call.name!r} is ambiguous: call one of {', '.join(sharing)} by id"
                       if sharing else f"Tool not found: {call.name}. Available tools: {known}")
            error = ToolError.of("not_found", message)
            return await self._refused(call, ToolResult.failure(call.id, call.name, error))
        if too_large is None:
            too_large = self._bounds.check(call.arguments)  # iterative: no recursion on hostile nesting
        if too_large is not None:
            error = ToolError.of("validation", too_large, code="ARGUMENTS_TOO_LARGE")
            return await self._refused(call, ToolResult.failure(call.id, found.name, error, tool_id=found.id))
        refused = self._pipeline.admit(found, call, options)
        if refused is not None:
            return await self._refused(call, refused)
        exceeded = self._charge_budget() if self.budget is not None else None
        if exceeded is not None:
            if hub.wants("budget-exceeded"):
                hub.emit("budget-exceeded", {"tool": found, "call": call, "reason": exceeded})
            result = ToolResult.failure(call.id, found.name, ToolError.of("conflict", exceeded,
                                                                          code="BUDGET_EXCEEDED"), tool_id=found.id)
            if hub.wants("error"):
                hub.emit("error", {"tool": found, "call": call, "result": result})
            return await self._refused(call, result)
        signal = options.signal
        pre_aborted = signal is not None and signal.aborted  # the pipeline ends it at once, before any layer
        self._in_flight += 1
        try:
            result = await self._pipeline.run(found, call, options)
            if routed is not None and routed.migrated_from is not None:
                result = result.replace(migrated_from=routed.migrated_from)
            return await self._refused(call, result) if pre_aborted else result
        finally:
            self._in_flight -= 1
            if not self._in_flight and self._idle_waiter is not None:
                if not self._idle_waiter.done():
                    self._idle_waiter.set_result(None)
                self._idle_waiter = None

    def _route(self, call: ToolCall) -> RoutedCall | ToolResult | None:
        def resolve(tool_id: str) -> Tool | None:
            return self._resolution().resolve(tool_id, call)  # only what this call's caller may see

        for router in self._routers:
            routed = router.route_call(call, self.events, resolve)
            if routed is not None:
                return routed
        return None

    async def _refused(self, call: ToolCall, result: ToolResult) -> ToolResult:
        # A call that ends before the pipeline (not found, too large, rejected, over budget) is still a call.
        for hook in self._refusal_hooks:
            try:
                await hook(call, result)
            except Exception as exc:
                if self.events.wants("log"):
                    self.events.emit("log", {"level": "warn", "message": "policy after_refusal failed",
                                             "data": exc, "call": call})
        return result

    def _charge_budget(self) -> str | None:
        budget = self.budget
        if budget is None:
            return None
        if budget.max_calls is not None and self._admitted >= budget.max_calls:
            return f"Budget exceeded: max calls {budget.max_calls}"
        if budget.max_duration_s is not None and time.monotonic() - self._created >= budget.max_duration_s:
            return f"Budget exceeded: max duration {budget.max_duration_s}s"
        self._admitted += 1
        return None

    # -- approvals -------------------------------------------------------------------------------------

    async def resume(self, token: str, *, approved: bool = True, input: JsonValue = None,
                     by: str | None = None, reason: str | None = None,
                     caller: CallerLike | None = None) -> ToolResult:
        """Resume a call paused for approval or input; the paused call runs at most once.

        Args:
            token: ``result.action.resume_token`` of the ``action_required`` result.
            approved: False rejects the call (a ``permission`` error coded ``APPROVAL_REJECTED``).
            input: What a ``needs_input`` pause asked for; policies and the body see it as ``ctx.approval.input``.
            by: Who approved, for audit.
            reason: Why it was rejected.
            caller: Who resumes. A token is bound to the tenant (and the user, when the call had one) whose call
                paused: resuming a call that had a tenant or user needs a ``caller`` with the same ids (a
                `TenantView` passes its own), and any other caller gets the answer an unknown token gets.

        Returns:
            The result of the resumed call.

        Raises:
            Conflict: when the token is unknown, was already used, or belongs to another tenant or user.

        Example:
            >>> from armorer_ray import tool, Decision
            >>> @tool(mutates=True)
            ... def wire(amount: int) -> str:
            ...     "Wire money."
            ...     return f"sent {amount}"
            >>> gate = lambda ctx: Decision.needs_approval("large transfer") if ctx.params["amount"] > 100 else None
            >>> box = Toolbox([wire], policy=gate)
            >>> paused = box.execute_sync({"name": "wire", "arguments": {"amount": 500}})
            >>> paused.outcome
            'action_required'
            >>> box.resume_sync(paused.action.resume_token).result
            'sent 500'
        """
        paused = await self.approvals.take(token)
        if paused is not None and not owns_pause(paused.call, caller):
            await self.approvals.put(token, paused)  # put back for its owner; the answer is that of a bad token
            paused = None
        if paused is None:
            raise Conflict(f"resume token {token[:8]}... is unknown or was already used", code="RESUME_TOKEN_INVALID")
        found = self.get_tool(paused.tool_id)
        if found is None:
            return ToolResult.failure(paused.call.id, paused.call.name,
                                      ToolError.of("not_found", f"Tool not found: {paused.tool_id}"))
        if not approved:
            return rejected(paused.call, found, reason)
        options = CallOptions(paused.timeout_s, None, paused.dry_run, Approval(True, input, by))
        return await self._execute_one(paused.call, options)

    def resume_sync(self, token: str, *, approved: bool = True, input: JsonValue = None, by: str | None = None,
                    reason: str | None = None, caller: CallerLike | None = None) -> ToolResult:
        """Blocking form of `resume`."""
        return run_sync(self.resume(token, approved=approved, input=input, by=by, reason=reason, caller=caller),
                        "toolbox.resume")

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Calls currently running."""
        return self._in_flight

    async def start(self) -> None:
        """Run ``on_start`` hooks once."""
        if self._state == "new":
            self._state = "started"
            await run_hooks(self.hooks["start"], self)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait for calls in flight to finish (up to ``timeout_s``), then run ``on_drain`` hooks once."""
        if self._state in ("draining", "stopped"):
            return
        self._state = "draining"
        if self._in_flight:
            if self._idle_waiter is None:
                self._idle_waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._idle_waiter), timeout_s)
            except asyncio.TimeoutError:
                pass
        await run_hooks(self.hooks["drain"], self)

    async def stop(self) -> None:
        """Run ``on_stop`` hooks once and close what the toolbox owns (resource pools, thread pool)."""
        if self._state == "stopped":
            return
        self._state = "stopped"
        await run_hooks(self.hooks["stop"], self)
        for pool in self.resources.values():
            close = getattr(pool, "drain", None) or getattr(pool, "close", None)
            if close is not None:
                outcome = close()
                if isinstance(outcome, Awaitable):
                    await outcome
        shutdown = getattr(self.executor, "shutdown", None)
        if shutdown is not None:
            shutdown()

    async def health(self) -> Health:
        """Whether the toolbox can take calls; never raises."""
        if self._state == "stopped":
            return Health(ok=False, detail="stopped")
        if self._state == "draining":
            return Health(ok=False, detail="draining")
        return Health(ok=True, detail=f"{len(self)} tools, {self._in_flight} in flight")

    async def probe(self, call: ToolCall | None = None, *, timeout_s: float = 5.0) -> Health:
        """Health that exercises the tool path: run ``call``, or a built-in no-op, through the pipeline.

        The built-in no-op (``armorer:probe``) is not registered and not charged to the budget, but passes
        policies, middleware and the executor like any call. A probe fails only on an ``internal``,
        ``transient``, ``timeout`` or ``cancelled`` error: a policy denial still proves the path works.

        Args:
            call: A probe call of the user's (it is charged to the budget like any call), or None.
            timeout_s: Deadline for the probe's body.

        Returns:
            ``Health(ok=False)`` when the toolbox is draining or stopped or the probe failed; never raises.

        Example:
            >>> import asyncio
            >>> asyncio.run(Toolbox().probe()).ok
            True
        """
        state = await self.health()
        if not state.ok:
            return state
        try:
            if call is None:
                probe = _probe_tool()
                result = await self._pipeline.run(probe, ToolCall(name=probe.name), CallOptions(timeout_s))
            else:
                result = await self.execute(call, timeout_s=timeout_s)
        except Exception as exc:  # a probe reports; it never raises
            return Health(ok=False, detail=f"probe raised {type(exc).__name__}: {exc}")
        if result.error is not None and result.error.category in _PROBE_FAILURES:
            return Health(ok=False, detail=f"probe {result.tool_name!r} failed: {result.error.message}")
        return Health(ok=True, detail=f"probe {result.tool_name!r}: {result.outcome}")

    async def __aenter__(self) -> Toolbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.drain()
        await self.stop()

    # -- serialisation ---------------------------------------------------------------------------------

    def to_json(self) -> list[dict[str, Any]]:
        """Provider-neutral JSON definitions of every tool, with their aliases (fresh copies)."""
        out = []
        for entry in self._entries.values():
            definition = entry.tool.to_json()
            definition["aliases"] = sorted(entry.aliases)
            out.append(definition)
        return out

    def ids(self) -> list[ToolId]:
        """Ids of the registered tools."""
        return [entry.tool.id for entry in self._entries.values()]


PROBE_TOOL_ID = "armorer:probe"
"""Id of the built-in no-op that `Toolbox.probe` runs; layers that must not count probes can skip it."""

_PROBE_FAILURES = frozenset({"internal", "transient", "timeout", "cancelled"})


@functools.cache
def _probe_tool() -> Tool:
    # Made on first use, so importing the package builds no tool.
    return Tool(_noop, name="probe", namespace="armorer", read_only=True,
                description="Do nothing; proves the call path works.")


async def _noop() -> None:
    return None


def combine_toolboxes(*toolboxes: Toolbox) -> Toolbox:
    """One toolbox with every tool of the given ones; later ids replace earlier ones, contexts merge in order.

    The first toolbox's options (policy, middleware, limits) apply to the combination.

    Raises:
        ConfigError: when called with no toolbox.

    Example:
        >>> from armorer_ray import tool
        >>> a = Toolbox([tool(name="echo", description="Echo A.")(lambda text: "a")], context={"x": 1})
        >>> b = Toolbox([tool(name="echo", description="Echo B.")(lambda text: "b")], context={"y": 2})
        >>> both = combine_toolboxes(a, b)
        >>> both.get_tool("echo").description, dict(both.context)
        ('Echo B.', {'x': 1, 'y': 2})
    """
    if not toolboxes:
        raise ConfigError("combine_toolboxes() requires at least 1 Toolbox")
    context: dict[str, Any] = {}
    for box in toolboxes:
        context.update(box.context)
    combined = Toolbox(options=toolboxes[0].options.model_copy(update={"context": context}))
    for box in toolboxes:
        for entry in box._entries.values():
            combined.register(entry.tool, replace=True, aliases=entry.aliases)
    return combined
