"""Tools: named, described, validated callables with tags, metadata and risk flags.

Make one with `tool` on a sync or async function (schema from type hints and docstring), or with
``Tool(fn, parameters=Model | {field: type}, ...)``. A tool runs through the same pipeline whether it is
called on its own (``await tool.execute(call)``) or through a `Toolbox`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast, overload

from pydantic import BaseModel, ConfigDict, JsonValue, model_validator
from typing_extensions import Unpack

from armorer_ray._sync import run_sync
from armorer_ray.deprecations import moved_names
from armorer_ray.digests import DigestSetting
from armorer_ray.errors import ConfigError, ToolError, ToolExecutionError
from armorer_ray.events import EventHub, Listener
from armorer_ray.identity import DEFAULT_NAMESPACE, ToolId, ToolIdentity, format_tool_id
from armorer_ray.json_values import assert_json_value, sorted_json
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.schema import ExtraArguments, json_schema, model_from_fields, read_function
from armorer_ray.shaping import OutputShaping

if TYPE_CHECKING:
    from armorer_ray.cancellation import AbortSignal
    from armorer_ray.context import Approval
    from armorer_ray.middleware.base import Middleware
    from armorer_ray.pipeline import Pipeline
    from armorer_ray.policy import Policies

__all__ = ["Tool", "ToolLifecycle", "ToolOptions", "ToolRisk", "lazy", "tool", "with_context"]

_TAG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class ToolRisk(BaseModel):
    """Risk flags: what running a tool can do to the world. The one place risk is read from.

    A tool resolves its `risk` once, when it is built, from three spellings of each flag:

    ========== ======================= ================================= =========================
    flag       option (`tool`/`Tool`)  metadata key (a JSON boolean)      tag
    ========== ======================= ================================= =========================
    read_only  ``read_only=True``      ``readOnly`` or ``read_only``      ``readonly``, ``read-only``
    mutates    ``mutates=True``        ``mutates``                        ``mutating``
    dangerous  ``dangerous=True``      ``dangerous``                      ``dangerous``
    ========== ======================= ================================= =========================

    When spellings disagree, the precedence is Armorer's (reference §10), written down once here:

    1. A flag's option beats its metadata key; a metadata value that is not a boolean is ignored.
    2. ``mutates``: as declared by option or metadata; else False if ``read_only`` is declared True; else
       True if tagged ``mutating``; else False.
    3. ``read_only``: False when mutating (mutation wins); else as declared by option or metadata; else True
       if tagged ``readonly`` or ``read-only``; else False.
    4. ``dangerous``: True if any spelling says so (a False never hides a ``dangerous`` tag).

    Everything that acts on risk reads these fields and nothing else: `RiskPolicy` (and so the OpenAI Agents
    gate), MCP annotations, the cache's default, query filters, the search index's row metadata (so
    `ToolFilter` risk keys), the UI and the CLI. A set flag also adds its
    tag (``readonly``, ``mutating``, ``dangerous``) after the user's tags, so tag filters see it.

    Attributes:
        read_only: Only reads; safe to repeat and to cache.
        mutates: Changes state somewhere (writes, sends, deletes).
        dangerous: Irreversible or costly; toolboxes can refuse these with ``allow_dangerous=False``.
        permissions: Free-form permission names the tool needs.

    Example:
        >>> @tool(tags=["readonly"])
        ... def lookup(key: str) -> str:
        ...     "Look a key up."
        ...     return key
        >>> lookup.risk
        ToolRisk(read_only=True, mutates=False, dangerous=False, permissions=())
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    read_only: bool = False
    mutates: bool = False
    dangerous: bool = False
    permissions: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ToolRisk:
        if self.read_only and self.mutates:
            raise ValueError("a tool cannot be both read-only and mutating")
        return self


# The tag each set flag adds to the tool's tags (see ToolRisk), unless the user tagged it in any spelling already
# (a tool tagged "read-only" keeps exactly its tags, as in Armorer, where text search then sees only those).
_RISK_TAGS = (("mutates", "mutating", frozenset({"mutating"})),
              ("read_only", "readonly", frozenset({"readonly", "read-only"})),
              ("dangerous", "dangerous", frozenset({"dangerous"})))


def _declared(options: ToolOptions, metadata: Mapping[str, JsonValue], option: str, *keys: str) -> bool | None:
    """A risk flag as the option, else the first boolean metadata key, declares it; None when neither does."""
    if option in options:
        return bool(options[option])  # type: ignore[literal-required]  # option is one of the ToolOptions risk keys, passed as a variable
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, bool):
            return value
    return None


def _resolve_risk(options: ToolOptions, metadata: Mapping[str, JsonValue], tags: Iterable[str]) -> ToolRisk:
    """The risk of a tool from its options, metadata and tags, by the precedence `ToolRisk` documents.

    Example:
        >>> _resolve_risk({"read_only": True}, {}, ["mutating"]).mutates  # a declared read_only beats the tag
        False
        >>> _resolve_risk({}, {"readOnly": True, "mutates": True}, []).read_only  # mutation wins
        False
    """
    tagged = {tag.lower() for tag in tags}
    read_only = _declared(options, metadata, "read_only", "readOnly", "read_only")
    mutates = _declared(options, metadata, "mutates", "mutates")
    if mutates is None:
        mutates = False if read_only else "mutating" in tagged
    if read_only is None:
        read_only = bool(tagged & {"readonly", "read-only"})
    return ToolRisk(read_only=read_only and not mutates, mutates=mutates,
                    dangerous=bool(_declared(options, metadata, "dangerous", "dangerous")) or "dangerous" in tagged,
                    permissions=tuple(options.get("permissions", ())))


class ToolLifecycle(BaseModel):
    """Deprecation state of a tool version (``lifecycle=`` of `tool`).

    Named ``Lifecycle`` before; that name is the start/drain/stop protocol of `armorer_ray.lifecycle`, and the
    old name still works, with a `DeprecationWarning` naming the fix, for one release.

    Example:
        >>> ToolLifecycle(deprecated=True, replaced_by="ops:report@2").replaced_by
        'ops:report@2'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    deprecated: bool = False
    message: str | None = None
    replaced_by: str | None = None


if TYPE_CHECKING:
    Lifecycle = ToolLifecycle  # the deprecated name, for type checkers (run time: the module __getattr__ below)


# Lifecycle, the old name of ToolLifecycle, resolves with a warning naming the fix (see armorer_ray.deprecations).
__getattr__ = moved_names(__name__)


class ToolOptions(TypedDict, total=False):
    """Keyword options shared by `tool` and `Tool`.

    Keys:
        name: Tool name (default: the function's name).
        description: What the tool does, for the model (default: the docstring's text).
        parameters: Parameter model, or ``{field: type | (type, default) | Field(...)}``; default from the signature.
        output_model: Model (or type) the return value is validated against.
        output_validation: ``report`` (note a mismatch in ``output_validation``) or ``strict`` (fail the call).
        namespace: Identity namespace (default ``"default"``).
        version: Identity version, semver recommended.
        title: Display title (default: the name).
        examples: Example argument objects, shown to models in exports.
        tags: Lowercase kebab-case tags.
        metadata: JSON metadata (validated now; ``concurrency`` and the risk keys of `ToolRisk` are read),
            or a function of no arguments returning it (called once, now; see `armorer_ray.creation` for async ones).
        read_only: Risk flag (see `ToolRisk`); also makes the tool idempotent unless ``idempotent`` says otherwise.
        mutates: Risk flag (see `ToolRisk`).
        dangerous: Risk flag (see `ToolRisk`).
        permissions: Permission names the tool needs.
        idempotent: Safe to run twice with the same arguments (retries, replica failover rely on this).
        timeout_s: Default deadline per call; the body is cancelled past it.
        concurrency: Most calls of this tool in flight at once, per toolbox (None or < 1 = unlimited).
        dry_run: Function with the same parameters, run instead of the body when a dry run is asked.
        output: How to shape the output into ``content``.
        digests: Put SHA-256 digests on results: True (input and output) or `armorer_ray.digests.Digests` per side.
        policy: Tool-level policy (or several), evaluated after the toolbox's.
        middleware: Tool-level middleware, inside the toolbox's.
        lifecycle: Deprecation state.
        threaded: Run a sync body in a worker thread (default) instead of on the event loop.
        extra_arguments: ``forbid`` / ``reject`` (default) refuse unknown arguments; ``ignore`` / ``strip`` drop them
            (Armorer's behaviour); ``allow`` passes them. Applies to parameters built here, not to a given model.
        context: Extra context values for this tool, merged over the toolbox's.
    """

    name: str
    description: str
    parameters: type[BaseModel] | Mapping[str, Any]
    output_model: Any  # a type form (a model, or e.g. list[int]); typing has no type for type forms
    output_validation: Literal["report", "strict"]
    namespace: str
    version: str
    title: str
    examples: Sequence[Mapping[str, JsonValue]]
    tags: Iterable[str]
    metadata: Mapping[str, JsonValue] | Callable[[], Mapping[str, JsonValue]]
    read_only: bool
    mutates: bool
    dangerous: bool
    permissions: Sequence[str]
    idempotent: bool
    timeout_s: float
    concurrency: int
    dry_run: Callable[..., Any]
    output: OutputShaping
    digests: DigestSetting
    policy: Policies
    middleware: Sequence[Middleware]
    lifecycle: ToolLifecycle
    threaded: bool
    extra_arguments: ExtraArguments
    context: Mapping[str, Any]


def _is_async_callable(fn: object) -> bool:
    method = type(fn).__dict__.get("__call__") if not inspect.isfunction(fn) else None
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(method)


def _validate_tags(name: str, tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise ConfigError(f'Tool "{name}": tag must be a string')
        tag = raw.strip()
        if not tag:
            raise ConfigError(f'Tool "{name}": tag must not be empty')
        if not _TAG.match(tag):
            raise ConfigError(
                f'Tool "{name}": tag "{tag}" must be kebab-case (lowercase letters, digits, hyphen)'
            )
        if tag not in out:
            out.append(tag)
    return out


class Tool:
    """A validated callable for models.

    Args:
        fn: The body: a sync or async function, an import string ``"package.module:function"`` (loaded on
            first call; give ``parameters``), or a `lazy` loader.
        **options: See `ToolOptions`.

    Raises:
        ConfigError: for a missing description, bad tags, non-JSON metadata, or an unusable signature.

    Example:
        >>> from pydantic import BaseModel
        >>> class Point(BaseModel):
        ...     x: int
        ...     y: int
        >>> norm = Tool(lambda x, y: abs(x) + abs(y), name="manhattan", description="L1 norm.", parameters=Point)
        >>> norm.execute_sync({"x": 3, "y": -4}).result
        7
    """

    __slots__ = (
        "_body",
        "_context_param",
        "_events",
        "_extra_allowed",
        "_field_names",
        "_id",
        "_is_async",
        "_json_schema",
        "_solo",
        "_validate",
        "concurrency",
        "context",
        "description",
        "digests",
        "dry_run_fn",
        "examples",
        "idempotent",
        "identity",
        "lifecycle",
        "metadata",
        "middleware",
        "options",
        "output_model",
        "output_shaping",
        "output_validation",
        "parameters",
        "policy",
        "risk",
        "tags",
        "threaded",
        "timeout_s",
        "title",
    )

    def __init__(self, fn: Callable[..., Any] | str, **options: Unpack[ToolOptions]) -> None:
        self.options: ToolOptions = options
        self._body: Callable[..., Any] | str = fn
        if not (callable(fn) or isinstance(fn, str)):
            raise ConfigError(f"a tool body must be a function, a lazy loader or an import string, got "
                              f"{type(fn).__name__}")
        if "name" in options and not (isinstance(options["name"], str) and options["name"].strip()):
            raise ConfigError(f"a tool name must be a non-empty string, got {options['name']!r}")
        name = options.get("name") or getattr(fn, "__name__", None)
        if not name or not isinstance(name, str) or name == "<lambda>":
            raise ConfigError("a tool needs a name: pass name=... (lambdas and import strings have none)")
        extra = options.get("extra_arguments", "forbid")
        parameters = options.get("parameters")
        description = options.get("description")
        self._context_param: str | None = None
        if parameters is None and not callable(fn):
            raise ConfigError(f"tool {name!r}: an import-string body needs parameters=... (it is loaded lazily)")
        if parameters is None or not isinstance(fn, str):
            # With explicit parameters only the context parameter and docstring are read: building a model
            # per tool would cost a millisecond each for catalogues of thousands of tools.
            sig = (read_function(fn, name, extra, build_model=parameters is None)
                   if callable(fn) and not isinstance(fn, _Lazy) else None)
            if sig is not None:
                self._context_param = sig.context_param
                description = description or sig.description
                if parameters is None:
                    parameters = sig.model
            elif parameters is None:
                parameters = {}
        if isinstance(parameters, Mapping):
            parameters = model_from_fields(name, parameters, extra)
        elif not (isinstance(parameters, type) and issubclass(parameters, BaseModel)):
            raise ConfigError(
                f"tool {name!r}: parameters must be a pydantic model or a mapping of fields, "
                f"got {type(parameters).__name__}"
            )
        if not description or not isinstance(description, str) or not description.strip():
            raise ConfigError(f"tool {name!r} needs a description: pass description=... or write a docstring")
        self.identity = ToolIdentity(
            namespace=options.get("namespace", DEFAULT_NAMESPACE), name=name, version=options.get("version")
        )
        self._id = format_tool_id(self.identity)
        self.description = description.strip()
        self.title = options.get("title") or name
        self.parameters: type[BaseModel] = parameters
        self._validate = parameters.__pydantic_validator__.validate_python
        self._field_names = tuple(parameters.model_fields)
        self._extra_allowed = parameters.model_config.get("extra") == "allow"
        self.output_model = options.get("output_model")
        self.output_validation = options.get("output_validation", "report")
        self.examples = tuple(dict(example) for example in options.get("examples", ()))
        raw_metadata = options.get("metadata")
        if callable(raw_metadata):  # a metadata factory: called once, and its value kept so copies do not re-run it
            raw_metadata = raw_metadata()
            if inspect.isawaitable(raw_metadata):
                getattr(raw_metadata, "close", lambda: None)()
                raise ConfigError(f"tool {name!r}: an async metadata factory needs `await create_tool(...)` "
                                  "(armorer_ray.creation)")
            if not isinstance(raw_metadata, Mapping):
                raise ConfigError(f"tool {name!r}: the metadata factory returned {type(raw_metadata).__name__}, "
                                  "not a mapping")
            self.options = options = cast(ToolOptions, {**options, "metadata": dict(raw_metadata)})
        metadata = dict(raw_metadata or {})
        assert_json_value(metadata, "metadata")
        self.metadata: dict[str, JsonValue] = metadata
        user_tags = _validate_tags(name, options.get("tags", ()))
        self.risk = _resolve_risk(options, metadata, user_tags)
        risk_tags = [tag for flag, tag, spellings in _RISK_TAGS
                     if getattr(self.risk, flag) and spellings.isdisjoint(user_tags)]
        self.tags: tuple[str, ...] = (*user_tags, *risk_tags)
        idempotent = options.get("idempotent")
        self.idempotent: bool = self.risk.read_only if idempotent is None else idempotent
        self.timeout_s = options.get("timeout_s")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigError(f"tool {name!r}: timeout_s must be positive, got {self.timeout_s}")
        raw_limit = options.get("concurrency", metadata.get("concurrency"))
        self.concurrency: int | None = (
            int(raw_limit) if isinstance(raw_limit, int | float) and raw_limit >= 1 else None
        )
        self.dry_run_fn = options.get("dry_run")
        self.output_shaping = options.get("output")
        self.digests = options.get("digests", False)
        from armorer_ray.policy import as_policies

        self.policy = as_policies(options.get("policy"))
        self.middleware = tuple(options.get("middleware", ()))
        self.lifecycle = options.get("lifecycle")
        self.threaded = options.get("threaded", True)
        self.context: Mapping[str, Any] = dict(options.get("context") or {})
        self._is_async = _is_async_callable(fn)
        self._json_schema: dict[str, Any] | None = None
        self._solo: Pipeline | None = None  # the pipeline `execute` runs calls through, made on first use
        self._events: EventHub | None = None

    # -- identity and classification -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.identity.name

    @property
    def namespace(self) -> str:
        """The tool's namespace."""
        return self.identity.namespace

    @property
    def version(self) -> str | None:
        """The tool's version, if any."""
        return self.identity.version

    @property
    def id(self) -> ToolId:
        """``namespace:name[@version]``."""
        return self._id

    @property
    def is_mutating(self) -> bool:
        """``risk.mutates`` (see `ToolRisk` for how it is declared)."""
        return self.risk.mutates

    @property
    def is_dangerous(self) -> bool:
        """``risk.dangerous``."""
        return self.risk.dangerous

    @property
    def is_read_only(self) -> bool:
        """``risk.read_only``."""
        return self.risk.read_only

    # -- schema and serialisation ----------------------------------------------------------------------

    @property
    def json_schema(self) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the parameters, keys sorted."""
        if self._json_schema is None:
            self._json_schema = json_schema(self.parameters)
        return self._json_schema

    @property
    def output_json_schema(self) -> dict[str, Any] | None:
        """JSON Schema of the output model, if any."""
        if self.output_model is None:
            return None
        if isinstance(self.output_model, type) and issubclass(self.output_model, BaseModel):
            return json_schema(self.output_model, mode="serialization")
        from pydantic import TypeAdapter

        schema = TypeAdapter(self.output_model).json_schema(mode="serialization")
        return sorted_json({**schema, "$schema": "https://json-schema.org/draft/2020-12/schema"})  # type: ignore[no-any-return]  # sorted_json returns JsonValue; a schema object stays a dict

    def to_json(self) -> dict[str, Any]:
        """Provider-neutral JSON definition (``schemaVersion`` 2020-12), keys sorted.

        Example:
            >>> @tool(tags=["math"], version="1.0.0")
            ... def add(a: int, b: int) -> int:
            ...     "Add two integers."
            ...     return a + b
            >>> definition = add.to_json()
            >>> definition["id"], definition["tags"], definition["schema"]["required"]
            ('default:add@1.0.0', ['math'], ['a', 'b'])
        """
        out: dict[str, Any] = {
            "schemaVersion": "2020-12",
            "id": self.id,
            "identity": self.identity.model_dump(exclude_none=True),
            "display": {"title": self.title, "description": self.description},
            "name": self.name,
            "description": self.description,
            "schema": self.json_schema,
            "aliases": [],
        }
        if self.examples:
            out["display"]["examples"] = list(self.examples)
        if self.tags:
            out["tags"] = list(self.tags)
        if self.metadata:
            out["metadata"] = sorted_json(self.metadata)
        risk = self.risk.model_dump(exclude_defaults=True)
        if risk:
            out["risk"] = sorted_json(risk)
        if self.lifecycle is not None:
            out["lifecycle"] = self.lifecycle.model_dump(exclude_defaults=True)
        output_schema = self.output_json_schema
        if output_schema is not None:
            out["outputSchema"] = output_schema
        return dict(sorted(out.items()))

    @property
    def events(self) -> EventHub:
        """This tool's own event hub: the events of its calls, run alone or in any toolbox (made on first use)."""
        if self._events is None:
            self._events = EventHub(tool_hub=True)
        return self._events

    def on(self, event_type: str | Iterable[str], listener: Listener, *, once: bool = False) -> Callable[[], None]:
        """Subscribe to the events of this tool's calls, as `Toolbox.on` does for a toolbox's.

        Returns:
            The unsubscribe function.

        Example:
            >>> @tool
            ... def ping() -> str:
            ...     "Reply pong."
            ...     return "pong"
            >>> seen = []
            >>> stop = ping.on("settled", lambda event: seen.append(event.detail["value"]))
            >>> _ = ping.execute_sync(); stop(); seen
            ['pong']
        """
        return self.events.on(event_type, listener, once=once)

    def describe(self) -> str:
        """``**name**: description``, for prompts."""
        return f"**{self.name}**: {self.description}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Tool({self.id!r})"

    # -- copies ----------------------------------------------------------------------------------------

    def replace(self, **changes: Unpack[ToolOptions]) -> Tool:
        """A new tool with ``changes`` applied to this tool's options (the body is kept).

        Example:
            >>> @tool
            ... def ping() -> str:
            ...     "Reply pong."
            ...     return "pong"
            >>> ping.replace(namespace="ops", version="2").id
            'ops:ping@2'
        """
        merged = cast(ToolOptions, {**self.options, **changes})
        return Tool(self._body, **merged)

    def __reduce__(self) -> tuple[Any, ...]:
        # Two cases, and no per-process state (the solo pipeline, the event hub, locks) travels in either:
        # 1. A module-level @tool replaced its function in the module, so pickle cannot find the function by
        #    name; the tool itself is found there instead, and goes by reference like any global.
        # 2. Anything else is rebuilt over there from its frozen `_ToolSpec`.
        module, qualname = getattr(self._body, "__module__", None), getattr(self._body, "__qualname__", "")
        if module and module != "__main__" and "<" not in qualname and _lookup(module, qualname) is self:
            return (_import_tool, (module, qualname))
        return (_ToolSpec.build, (self._spec(),))

    def _spec(self) -> _ToolSpec:
        # A body pickled by value (cloudpickle) brings only the globals its code uses, so its hints may not
        # resolve over there: the model built here from them travels too. A body pickled by reference is
        # imported whole over there, so its hints resolve as here, and plain pickle, which cannot pickle a model
        # class made at run time, keeps working.
        derived = "parameters" not in self.options and not _pickles_by_reference(self._body)
        return _ToolSpec(self._body, self.options.copy(), self.parameters if derived else None, self._context_param)

    # -- running ---------------------------------------------------------------------------------------

    def validate_arguments(self, arguments: object) -> BaseModel:
        """Validate ``arguments`` into the parameter model (raises pydantic's ``ValidationError``)."""
        return self._validate(arguments)  # type: ignore[no-any-return]  # pydantic's validator returns Any; it is the parameter model

    def call_kwargs(self, params: BaseModel) -> dict[str, Any]:
        """Keyword arguments for the body from validated parameters (extras included when allowed)."""
        kwargs = dict(params.__dict__)  # exactly the declared fields; extras live in __pydantic_extra__
        if self._extra_allowed and params.__pydantic_extra__:
            kwargs.update(params.__pydantic_extra__)
        return kwargs

    def resolve_body(self, dry_run: bool = False) -> Callable[..., Any]:
        """The function to run: the dry-run handler, or the body (importing an import-string body on first use).

        Raises:
            ToolFailure: when a dry run is asked and the tool has none, or an import-string body fails to load.
        """
        if dry_run:
            if self.dry_run_fn is None:
                from armorer_ray.errors import ToolFailure

                raise ToolFailure("Tool does not support dryRun", code="DRY_RUN_UNSUPPORTED")
            return self.dry_run_fn
        body = self._body
        if isinstance(body, str):
            body = self._body = _import_string(self.name, body)
            self._is_async = _is_async_callable(body)
        return body

    def _solo_pipeline(self) -> Pipeline:
        if self._solo is None:
            # The pipeline sits above tools (it runs them), so it is imported when a tool first runs on its own.
            from armorer_ray.events import EventHub
            from armorer_ray.options import ToolboxOptions
            from armorer_ray.pipeline import Pipeline

            self._solo = Pipeline(ToolboxOptions(name=self.name), EventHub())
        return self._solo

    async def execute(self, call: ToolCall | Mapping[str, Any] | None = None, /, *, timeout_s: float | None = None,
                      signal: AbortSignal | None = None, dry_run: bool = False,
                      approval: Approval | None = None) -> ToolResult:
        """Run one call through the pipeline, as a toolbox holding only this tool would; never raises for the
        tool's own failure.

        Args:
            call: A `ToolCall` (its ``name`` may be omitted in a mapping), or plain arguments when the mapping
                is not shaped ``{id?, name?, arguments}``.
            timeout_s: Deadline for the call, overriding the tool's.
            signal: Abort signal; aborting cancels the call.
            dry_run: Run the dry-run handler instead of the body.
            approval: A person's decision the call runs under, as for `Toolbox.execute`.

        Returns:
            The `ToolResult`; a call naming another tool fails with ``not_found``.
        """
        from armorer_ray.pipeline import CallOptions

        target = self._as_call(call)
        if target.name not in (self.name, self._id, f"{self.namespace}:{self.name}"):
            error = ToolError.of("not_found", f"Tool not found: {target.name}. Available tools: {self.name}")
            return ToolResult.failure(target.id, target.name, error)
        from armorer_ray.sanitize import DEFAULT_BOUNDS

        too_large = DEFAULT_BOUNDS.check(target.arguments)  # what a toolbox checks before validation, too
        if too_large is not None:
            error = ToolError.of("validation", too_large, code="ARGUMENTS_TOO_LARGE")
            return ToolResult.failure(target.id, self.name, error, tool_id=self.id)
        pipeline = self._solo_pipeline()
        options = CallOptions(timeout_s, signal, dry_run, approval)
        refused = pipeline.admit(self, target, options)
        return refused if refused is not None else await pipeline.run(self, target, options)

    def execute_sync(self, call: ToolCall | Mapping[str, Any] | None = None, /, *, timeout_s: float | None = None,
                     signal: AbortSignal | None = None, dry_run: bool = False,
                     approval: Approval | None = None) -> ToolResult:
        """Blocking form of `execute`, for scripts (refuses inside a running event loop)."""
        return run_sync(self.execute(call, timeout_s=timeout_s, signal=signal, dry_run=dry_run, approval=approval),
                        "tool.execute")

    def _as_call(self, call: ToolCall | Mapping[str, Any] | None) -> ToolCall:
        if isinstance(call, ToolCall):
            return call
        if call is None:
            return ToolCall(name=self.name)
        if isinstance(call, Mapping) and "arguments" in call and set(call) <= {"id", "name", "arguments"} and (
            call.get("name", self.name) == self.name
        ):
            return ToolCall(id=call.get("id") or "", name=self.name, arguments=call["arguments"])
        return ToolCall(name=self.name, arguments=dict(call))

    async def __call__(self, **arguments: Any) -> Any:
        """Run with keyword arguments and return the raw output.

        Raises:
            ToolExecutionError: when the call fails (its ``error`` is the `ToolError`). A call paused for
                approval returns None.
        """
        result = await self.execute(ToolCall(name=self.name, arguments=arguments))
        if result.outcome == "error" and result.error is not None:
            raise ToolExecutionError(result.error, result)
        return result.value() if result.outcome == "success" else None


def _lookup(module: str, qualname: str) -> object:
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _import_tool(module: str, qualname: str) -> Tool:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return cast(Tool, found)


def _pickles_by_reference(body: object) -> bool:
    """Whether pickle (and cloudpickle) would send ``body`` as a name to import rather than by value."""
    if isinstance(body, str):
        return True
    module = getattr(body, "__module__", None)
    qualname = getattr(body, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or _lookup(module, qualname) is not body:
        return False
    # Modules registered with cloudpickle.register_pickle_by_value travel by value even when importable. Either
    # cloudpickle is imported already, or nothing has been registered with it.
    for name in ("ray.cloudpickle", "cloudpickle"):
        cloudpickle = sys.modules.get(name)
        if cloudpickle is not None and module in cloudpickle.list_registry_pickle_by_value():
            return False
    return True


@dataclass(frozen=True, slots=True)
class _ToolSpec:
    """What a `Tool` is rebuilt from in another process: its body and options, as given to the constructor, plus
    what the constructor derived from the body's hints when they may not resolve there.

    Attributes:
        body: The function, lazy loader or import string.
        options: The `ToolOptions` (a metadata factory already replaced by its value).
        parameters: The parameter model built from the signature, when the body travels by value; else None
            (the options give the model, or the hints resolve over there).
        context_param: The name of the `CallContext` parameter, found here (None for none).
    """

    body: Callable[..., Any] | str
    options: ToolOptions
    parameters: type[BaseModel] | None
    context_param: str | None

    def build(self) -> Tool:
        """The tool again: the constructor over the same body and options (with the model, when one travelled)."""
        if self.parameters is None:
            built = Tool(self.body, **self.options)
        else:
            # Given a model, the constructor needs no hints (it tolerates unresolvable ones); the options stay as sent.
            built = Tool(self.body, **cast(ToolOptions, {**self.options, "parameters": self.parameters}))
            built.options = self.options
        built._context_param = self.context_param
        return built


def _import_string(name: str, target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        from armorer_ray.errors import ToolFailure

        raise ToolFailure(f'Tool "{name}" could not load its body {target!r}: {exc}', code="BODY_LOAD_FAILED") from exc
    if not callable(value):
        from armorer_ray.errors import ToolFailure

        raise ToolFailure(f'Tool "{name}" body {target!r} is not callable', code="BODY_LOAD_FAILED")
    return value  # type: ignore[no-any-return]  # an imported attribute is Any; it was checked callable


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(fn: None = None, /, **options: Unpack[ToolOptions]) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(fn: Callable[..., Any] | None = None, /, **options: Unpack[ToolOptions]) -> Tool | Callable[..., Tool]:
    """Make a `Tool` from a function, with or without options.

    Example:
        >>> @tool(tags=["math"], read_only=True)
        ... async def add(a: int, b: int) -> int:
        ...     '''Add two integers.
        ...
        ...     Args:
        ...         a: First addend.
        ...         b: Second addend.
        ...     '''
        ...     return a + b
        >>> add.tags, add.json_schema["properties"]["a"]
        (('math', 'readonly'), {'description': 'First addend.', 'type': 'integer'})
    """
    if fn is not None:
        return Tool(fn, **options)

    def decorate(function: Callable[..., Any]) -> Tool:
        return Tool(function, **options)

    return decorate


class _Lazy:
    """An async function that loads the real function on first call (see `lazy`)."""

    __slots__ = ("_fn", "_loader", "_lock")

    def __init__(self, loader: Callable[[], Any]) -> None:
        self._loader = loader
        self._fn: Callable[..., Any] | None = None
        self._lock: asyncio.Lock | None = None

    async def load(self) -> Callable[..., Any]:
        if self._fn is not None:
            return self._fn
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # concurrent first calls share one load
            if self._fn is None:
                loaded = self._loader()
                if inspect.isawaitable(loaded):
                    loaded = await loaded
                if not callable(loaded):
                    raise TypeError("lazy loader must resolve to a function")
                self._fn = loaded
        return self._fn

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = await self.load()
        outcome = fn(*args, **kwargs)
        return await outcome if inspect.isawaitable(outcome) else outcome

    def __getstate__(self) -> dict[str, Any]:
        return {"loader": self._loader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["loader"])  # type: ignore[misc]  # unpickling re-runs __init__ on the bare instance pickle made


def lazy(loader: Callable[[], Any]) -> Callable[..., Any]:
    """An async function that calls ``loader()`` (sync or async) on first use and forwards to what it returns.

    A failed load is not memoised, so the next call tries again. Give the tool ``parameters=`` explicitly,
    since the signature is unknown until the body loads.

    Example:
        >>> body = lazy(lambda: (lambda text: text.upper()))
        >>> shout = Tool(body, name="shout", description="Upper-case text.", parameters={"text": str})
        >>> shout.execute_sync({"text": "hi"}).result
        'HI'
    """
    return _Lazy(loader)


def with_context(target: Tool, values: Mapping[str, Any]) -> Tool:
    """A copy of ``target`` whose context has ``values`` merged over the toolbox's (these keys win).

    Example:
        >>> from armorer_ray.context import CallContext
        >>> @tool
        ... def region(ctx: CallContext) -> str:
        ...     "Report the region."
        ...     return ctx["region"]
        >>> with_context(region, {"region": "eu-west"}).execute_sync().result
        'eu-west'
    """
    return target.replace(context={**target.context, **values})
