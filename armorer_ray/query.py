"""Querying tools: composable predicates over definitions, and BM25 lexical ranking of free text.

`ToolQuery` filters (tags, namespaces, versions, schema keys, metadata, risk, boolean groups, custom predicates);
a ``text`` criterion ranks the survivors with BM25 over each tool's name (split into words), description,
parameter names and descriptions, and tags. Semantic (vector) search lives in `armorer_ray.embeddings`.

Example:
    >>> from armorer_ray import tool, Toolbox
    >>> box = Toolbox([
    ...     tool(name="send_email", description="Send an email to a user.", tags=["messaging"])(lambda to: to),
    ...     tool(name="get_weather", description="Forecast for a city.", tags=["weather"])(lambda city: city),
    ... ])
    >>> [t.name for t in box.query(text="email someone")]
    ['send_email']
    >>> box.query(tags_none=["messaging"], select="name")
    ['get_weather']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, overload

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from typing_extensions import Unpack

from armorer_ray.errors import ConfigError
from armorer_ray.text import english_stopwords, search_terms, stem, tokenize
from armorer_ray.text_match import TextQuery, score_text_match

if TYPE_CHECKING:
    import numpy as np

    from armorer_ray.tools import Tool

__all__ = [
    "LexicalIndex",
    "MetadataFilter",
    "NumberRange",
    "QueryMatch",
    "Querying",
    "RiskFilter",
    "TextQuery",
    "ToolQuery",
    "ToolQueryFields",
    "ToolSummary",
    "query_tools",
    "tool_document",
]

logger = logging.getLogger("armorer_ray.query")

Select = Literal["tool", "name", "summary"]
QueryResults: TypeAlias = "list[Tool] | list[str] | list[ToolSummary]"
"""What a query returns, by ``select``: tools, names, or summaries."""


class NumberRange(BaseModel):
    """Inclusive numeric bounds; either may be omitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | None = None
    max: float | None = None


class MetadataFilter(BaseModel):
    """Conditions on a tool's metadata; a tool without metadata fails every one.

    Attributes:
        has: Keys that must be present.
        eq: Keys whose values must equal (deep equality).
        contains: Substring for strings, membership for lists, all-of for list needles.
        starts_with: String values with these prefixes.
        range: Numeric values within bounds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    has: tuple[str, ...] = ()
    eq: dict[str, JsonValue] = Field(default_factory=dict)
    contains: dict[str, JsonValue] = Field(default_factory=dict)
    starts_with: dict[str, str] = Field(default_factory=dict)
    range: dict[str, NumberRange] = Field(default_factory=dict)

    def matches(self, metadata: Mapping[str, JsonValue]) -> bool:
        """Whether ``metadata`` meets every condition."""
        if not metadata:
            return False
        if any(key not in metadata for key in self.has):
            return False
        if any(metadata.get(key, _MISSING) != value for key, value in self.eq.items()):
            return False
        for key, needle in self.contains.items():
            if needle is not None and not _contains(metadata.get(key, _MISSING), needle):
                return False
        for key, prefix in self.starts_with.items():
            value = metadata.get(key)
            if not isinstance(value, str) or not value.startswith(prefix):
                return False
        for key, bounds in self.range.items():
            value = metadata.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            if (bounds.min is not None and value < bounds.min) or (bounds.max is not None and value > bounds.max):
                return False
        return True


_MISSING = object()


def _contains(value: object, needle: JsonValue) -> bool:
    if isinstance(value, str) and isinstance(needle, str):
        return needle in value
    if isinstance(value, list):
        return all(item in value for item in needle) if isinstance(needle, list) else needle in value
    if isinstance(needle, list):
        return value in needle
    return value == needle


class RiskFilter(BaseModel):
    """Required values of risk flags (``None`` = no constraint)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    read_only: bool | None = None
    mutates: bool | None = None
    dangerous: bool | None = None


class ToolQuery(BaseModel):
    """Criteria that select tools; all given criteria must hold (AND), groups give OR and NOT.

    Tag comparisons are case-insensitive; empty lists mean "no constraint". A predicate that raises counts as
    "no match". A ``text`` string both filters (a tool must share a word with it, or contain one of its words
    in a name, description, tag, parameter name or metadata key: ``mail`` finds ``send-email``) and ranks
    (BM25 matches first). A `TextQuery` (or a mapping ``{query, mode, fields, threshold, weights}``) chooses
    the matching mode (``contains``, ``exact``, ``fuzzy``) and ranks by its score (see
    `armorer_ray.text_match`).

    ``schema_keys`` (when given, even empty) requires a tool with parameters, having each key
    (case-insensitive); ``schema_matches`` requires every field of a model to be a parameter (types are not
    compared). The reference's ``schema={"keys": [...], "matches": Model}`` is accepted too.

    Example:
        >>> ToolQuery(tags_any=["Search"], any_of=[ToolQuery(namespaces=["crm"]), ToolQuery(schema_keys=["q"])])
        ToolQuery(text=None, tags_any=('search',), ...)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    text: str | TextQuery | None = None
    tags_any: tuple[str, ...] = ()
    tags_all: tuple[str, ...] = ()
    tags_none: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    schema_keys: tuple[str, ...] | None = None
    schema_matches: type[BaseModel] | None = None
    metadata: MetadataFilter | None = None
    risk: RiskFilter | None = None
    deprecated: bool | None = None
    all_of: tuple[ToolQuery, ...] = ()
    any_of: tuple[ToolQuery, ...] = ()
    none_of: tuple[ToolQuery, ...] = ()
    predicate: Callable[[Any], bool] | None = Field(default=None, exclude=True)  # called with a Tool

    @model_validator(mode="before")
    @classmethod
    def _reference_schema(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "schema" in data:
            data = dict(data)
            schema = data.pop("schema")
            if not isinstance(schema, Mapping) or set(schema) - {"keys", "matches"}:
                raise ValueError('schema must be a mapping {"keys": [...], "matches": Model}')
            if "keys" in schema:
                data["schema_keys"] = schema["keys"]
            if "matches" in schema:
                data["schema_matches"] = schema["matches"]
        return data

    def model_post_init(self, __context: Any) -> None:
        for name in ("tags_any", "tags_all", "tags_none"):
            object.__setattr__(self, name, tuple(t.strip().lower() for t in getattr(self, name) if t.strip()))

    def matches(self, tool: Tool) -> bool:
        """Whether ``tool`` satisfies every criterion except ``text`` (which `query_tools` applies)."""
        tags = {t.lower() for t in tool.tags}
        if self.tags_any and not tags.intersection(self.tags_any):
            return False
        if self.tags_all and not tags.issuperset(self.tags_all):
            return False
        if self.tags_none and tags.intersection(self.tags_none):
            return False
        if self.namespaces and tool.namespace not in self.namespaces:
            return False
        if self.versions and (tool.version or "") not in self.versions:
            return False
        if self.schema_keys is not None:
            keys = {k.lower() for k in tool.parameters.model_fields}
            if not keys or any(k.lower() not in keys for k in self.schema_keys):
                return False
        if self.schema_matches is not None and not set(self.schema_matches.model_fields) <= set(
                tool.parameters.model_fields):
            return False
        if self.metadata is not None and not _safe(lambda: self.metadata.matches(tool.metadata)):  # type: ignore[union-attr]  # checked not None above; mypy does not narrow inside the lambda
            return False
        if self.risk is not None and not self._risk_matches(tool):
            return False
        if self.deprecated is not None and bool(tool.lifecycle and tool.lifecycle.deprecated) != self.deprecated:
            return False
        if self.all_of and not all(q.matches(tool) and q._text_matches(tool) for q in self.all_of):
            return False
        if self.any_of and not any(q.matches(tool) and q._text_matches(tool) for q in self.any_of):
            return False
        if self.none_of and any(q.matches(tool) and q._text_matches(tool) for q in self.none_of):
            return False
        predicate = self.predicate
        return predicate is None or _safe(lambda: bool(predicate(tool)))

    def _risk_matches(self, tool: Tool) -> bool:
        risk = self.risk
        assert risk is not None
        return all(
            wanted is None or wanted == actual
            for wanted, actual in ((risk.read_only, tool.risk.read_only), (risk.mutates, tool.risk.mutates),
                                   (risk.dangerous, tool.risk.dangerous))
        )

    def _text_matches(self, tool: Tool) -> bool:
        text = self.text
        if text is None:
            return True
        if isinstance(text, TextQuery):
            return text.is_blank() or score_text_match(tool, text).score > 0
        if not search_terms(text) and not tokenize(text):
            return True
        return bool(set(search_terms(text)) & set(tool_document(tool))) or _substring_match(tool, text)


class ToolQueryFields(TypedDict, total=False):
    """The `ToolQuery` fields as keyword criteria of `query_tools` and ``query`` (of a toolbox or toolset view).

    Sequences are stored as tuples; ``schema`` is the reference's ``{"keys": [...], "matches": Model}`` form.
    """

    text: str | TextQuery | Mapping[str, Any] | None
    tags_any: Sequence[str]
    tags_all: Sequence[str]
    tags_none: Sequence[str]
    namespaces: Sequence[str]
    versions: Sequence[str]
    schema_keys: Sequence[str] | None
    schema_matches: type[BaseModel] | None
    schema: Mapping[str, Any]
    metadata: MetadataFilter | Mapping[str, Any] | None
    risk: RiskFilter | Mapping[str, bool | None] | None
    deprecated: bool | None
    all_of: Sequence[ToolQuery | Mapping[str, Any]]
    any_of: Sequence[ToolQuery | Mapping[str, Any]]
    none_of: Sequence[ToolQuery | Mapping[str, Any]]
    predicate: Callable[[Tool], bool] | None


class _SummaryKeys(TypedDict):
    id: str
    name: str
    description: str
    tags: list[str]
    schema_keys: list[str]
    metadata: dict[str, JsonValue]
    risk: dict[str, Any]


class ToolSummary(_SummaryKeys, total=False):
    """One match of ``select="summary"``: a tool's listing without its code (``lifecycle`` and ``deprecated`` when
    it has a lifecycle, ``schema`` when asked for)."""

    lifecycle: dict[str, Any]
    deprecated: bool
    schema: dict[str, Any]


def _substring_match(tool: Tool, text: str) -> bool:
    # The substring fallback of a plain text string skips stopwords and words under three letters, which are
    # inside too many identifiers ("the" in "weather", "id" in "valid") to say anything.
    stopwords = english_stopwords()
    words = [w for w in tokenize(text) if len(w) >= 3 and w not in stopwords]
    return bool(words) and score_text_match(tool, TextQuery(query=" ".join(words))).score > 0


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception as exc:  # a user predicate that raises is "no match", never a crash
        logger.debug("query predicate raised %r; treating as no match", exc)
        return False


def tool_document(tool: Tool) -> list[str]:
    """The BM25 terms a tool is found by (`search_terms` of its name, description, parameter names and
    descriptions, and tags). Parameter descriptions alone add about 0.02 recall@5 on BFCL.

    Example:
        >>> from armorer_ray import tool
        >>> tool_document(tool(name="getUser", description="Fetch a user.", tags=["crm"])(lambda user_id: 1))
        ['get', 'user', 'fetch', 'user', 'user', 'id', 'crm']
    """
    words = search_terms(tool.name) + search_terms(tool.description)
    for name, info in tool.parameters.model_fields.items():
        words += search_terms(name)
        if info.description:
            words += search_terms(info.description)
    for tag in tool.tags:
        words += search_terms(tag)
    return words


@dataclass(frozen=True, slots=True)
class QueryMatch:
    """A tool found by text, with its BM25 score and the query words it shares."""

    tool: Tool
    score: float
    matched_terms: tuple[str, ...]


class LexicalIndex:
    """BM25 (bm25s) over `tool_document` of each tool; rebuilt when the tool set changes.

    Example:
        >>> from armorer_ray import tool
        >>> index = LexicalIndex([tool(name="send_email", description="Send mail.")(lambda: 1),
        ...                       tool(name="list_files", description="List files.")(lambda: 1)])
        >>> [(m.tool.name, m.matched_terms) for m in index.search("email")]
        [('send_email', ('email',))]
    """

    def __init__(self, tools: Sequence[Tool]) -> None:
        import bm25s

        self.tools = list(tools)
        self._documents = [tool_document(t) for t in self.tools]
        self._terms = [set(doc) for doc in self._documents]
        self._bm25 = bm25s.BM25()
        if self.tools:
            self._bm25.index(self._documents, show_progress=False)
        self._vocab: Mapping[str, int] = getattr(self._bm25, "vocab_dict", {}) or {}

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every tool for ``text`` (0 where no term is shared)."""
        import numpy as np

        words = [w for w in dict.fromkeys(search_terms(text)) if w in self._vocab]
        if not self.tools or not words:
            return np.zeros(len(self.tools), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(words), dtype=np.float32)

    def matched_terms(self, position: int, words: set[str]) -> tuple[str, ...]:
        """The query ``words`` (as typed, lowercased) whose stems occur in the tool's document, sorted."""
        terms = self._terms[position]
        return tuple(sorted(w for w in words if stem(w) in terms))

    def search(self, text: str, candidates: Iterable[int] | None = None, limit: int | None = None) -> list[QueryMatch]:
        """Tools sharing at least one word with ``text``, best first (ties keep registration order)."""
        scores = self.scores(text)
        stopwords = english_stopwords()
        words = {w for w in tokenize(text) if w not in stopwords}
        pool = range(len(self.tools)) if candidates is None else candidates
        hits = [(float(scores[i]), i) for i in pool if scores[i] > 0]
        hits.sort(key=lambda pair: (-pair[0], pair[1]))
        if limit is not None:
            hits = hits[:limit]
        return [QueryMatch(self.tools[i], s, self.matched_terms(i, words)) for s, i in hits]


def _summary(tool: Tool, include_schema: bool) -> ToolSummary:
    summary: ToolSummary = {
        "id": tool.id, "name": tool.name, "description": tool.description, "tags": list(tool.tags),
        "schema_keys": list(tool.parameters.model_fields), "metadata": dict(tool.metadata),
        "risk": tool.risk.model_dump(exclude_defaults=True),
    }
    if tool.lifecycle is not None:
        summary["lifecycle"] = tool.lifecycle.model_dump(exclude_defaults=True)
        if tool.lifecycle.deprecated:
            summary["deprecated"] = True
    if include_schema:
        summary["schema"] = tool.json_schema
    return summary


def _as_tools(tools: object) -> list[Tool]:
    from armorer_ray.tools import Tool

    if isinstance(tools, Tool):
        return [tools]
    listing = getattr(tools, "tools", None)
    if callable(listing):
        tools = listing()
    if isinstance(tools, str | bytes | Mapping) or not isinstance(tools, Iterable):
        raise ConfigError(f"query_tools expects a toolbox, a tool or an iterable of tools, got {type(tools).__name__}")
    pool = list(tools)
    for item in pool:
        if not isinstance(item, Tool):
            raise ConfigError(f"query_tools expects tools, got {type(item).__name__} in the input")
    return pool


def _rank(pool: list[Tool], matching: list[int], text: str | TextQuery, index: LexicalIndex | None) -> list[Tool]:
    if isinstance(text, TextQuery):
        if text.is_blank():
            return [pool[i] for i in matching]
        scored = [(score_text_match(pool[i], text).score, i) for i in matching]
        return [pool[i] for score, i in sorted(scored, key=lambda pair: -pair[0]) if score > 0]
    if not search_terms(text):
        return [pool[i] for i in matching]
    lexical = index if index is not None else LexicalIndex(pool)
    ranked = [m.tool for m in lexical.search(text, matching)]
    # Words BM25 does not share (``mail`` inside ``send-email``) still find tools by substring, after BM25's.
    seen = {id(t) for t in ranked}
    return ranked + [pool[i] for i in matching if id(pool[i]) not in seen and _substring_match(pool[i], text)]


@overload
def query_tools(tools: Iterable[Tool] | Tool, query: ToolQuery | Mapping[str, Any] | None = None, *, offset: int = 0,
                limit: int | None = None, select: Literal["tool"] = "tool", include_schema: bool = False,
                index: LexicalIndex | None = None, **criteria: Unpack[ToolQueryFields]) -> list[Tool]: ...
@overload
def query_tools(tools: Iterable[Tool] | Tool, query: ToolQuery | Mapping[str, Any] | None = None, *, offset: int = 0,
                limit: int | None = None, select: Literal["name"], include_schema: bool = False,
                index: LexicalIndex | None = None, **criteria: Unpack[ToolQueryFields]) -> list[str]: ...
@overload
def query_tools(tools: Iterable[Tool] | Tool, query: ToolQuery | Mapping[str, Any] | None = None, *, offset: int = 0,
                limit: int | None = None, select: Literal["summary"], include_schema: bool = False,
                index: LexicalIndex | None = None, **criteria: Unpack[ToolQueryFields]) -> list[ToolSummary]: ...
@overload
def query_tools(tools: Iterable[Tool] | Tool, query: ToolQuery | Mapping[str, Any] | None = None, *, offset: int = 0,
                limit: int | None = None, select: Select, include_schema: bool = False,
                index: LexicalIndex | None = None, **criteria: Unpack[ToolQueryFields]) -> QueryResults: ...


def query_tools(
    tools: Iterable[Tool] | Tool,
    query: ToolQuery | Mapping[str, Any] | None = None,
    *,
    offset: int = 0,
    limit: int | None = None,
    select: Select = "tool",
    include_schema: bool = False,
    index: LexicalIndex | None = None,
    **criteria: Unpack[ToolQueryFields],
) -> QueryResults:
    """Select tools matching ``query`` (or keyword criteria), ranked when there is text.

    Args:
        tools: A toolbox, a single tool, or any iterable of tools.
        query: A `ToolQuery` or a mapping of its fields; or pass its fields as keyword arguments instead.
        offset: Skip this many matches (paging).
        limit: Return at most this many (None or < 1: all).
        select: ``tool`` objects, ``name`` strings, or ``summary`` dicts.
        include_schema: Put each tool's JSON Schema in its summary (``schema``).
        index: A prebuilt `LexicalIndex` over exactly ``tools`` (toolboxes pass their cached one).
        **criteria: `ToolQuery` fields, when ``query`` is not given.

    Returns:
        Matches: in input order without text; with a text string, BM25 matches best first, then substring
        matches in input order; with a `TextQuery`, by its score.

    Raises:
        ConfigError: for an input that is not tools, a query that is not a `ToolQuery` or mapping, unknown
            criteria, or both ``query`` and keyword criteria.

    Example:
        >>> from armorer_ray import tool
        >>> send = tool(name="send-email", description="Deliver a message.")(lambda to: to)
        >>> query_tools(send, text="mail", select="name")
        ['send-email']
    """
    if query is not None and criteria:
        raise ConfigError("pass either a ToolQuery or keyword criteria, not both")
    if query is not None and not isinstance(query, ToolQuery | Mapping):
        raise ConfigError(f"query expects a ToolQuery object or a mapping, got {type(query).__name__}")
    pool = _as_tools(tools)
    try:
        if not isinstance(query, ToolQuery):
            query = ToolQuery(**(query or criteria))
    except Exception as exc:
        raise ConfigError(f"invalid query: {exc}") from exc
    matching = [i for i, t in enumerate(pool) if query.matches(t)]
    ordered = _rank(pool, matching, query.text, index) if query.text is not None else [pool[i] for i in matching]
    ordered = ordered[max(0, offset):]
    if limit is not None and limit >= 1:
        ordered = ordered[:limit]
    if select == "name":
        return [t.name for t in ordered]
    if select == "summary":
        return [_summary(t, include_schema) for t in ordered]
    return ordered


class Querying:
    """The typed ``query`` of toolboxes and toolset views, written once over ``tools()``.

    Subclasses give ``tools`` and may override ``_lexical_index`` (to cache the BM25 index) and ``_queried`` (to
    announce each query).
    """

    __slots__ = ()

    def tools(self) -> list[Tool]:
        raise NotImplementedError

    @overload
    def query(self, query: ToolQuery | Mapping[str, Any] | None = None, /, *, offset: int = 0,
              limit: int | None = None, select: Literal["tool"] = "tool", include_schema: bool = False,
              **criteria: Unpack[ToolQueryFields]) -> list[Tool]: ...
    @overload
    def query(self, query: ToolQuery | Mapping[str, Any] | None = None, /, *, offset: int = 0,
              limit: int | None = None, select: Literal["name"], include_schema: bool = False,
              **criteria: Unpack[ToolQueryFields]) -> list[str]: ...
    @overload
    def query(self, query: ToolQuery | Mapping[str, Any] | None = None, /, *, offset: int = 0,
              limit: int | None = None, select: Literal["summary"], include_schema: bool = False,
              **criteria: Unpack[ToolQueryFields]) -> list[ToolSummary]: ...
    @overload
    def query(self, query: ToolQuery | Mapping[str, Any] | None = None, /, *, offset: int = 0,
              limit: int | None = None, select: Select, include_schema: bool = False,
              **criteria: Unpack[ToolQueryFields]) -> QueryResults: ...

    def query(self, query: ToolQuery | Mapping[str, Any] | None = None, /, *, offset: int = 0,
              limit: int | None = None, select: Select = "tool", include_schema: bool = False,
              **criteria: Unpack[ToolQueryFields]) -> QueryResults:
        """The listed tools matching ``query`` or the keyword criteria, ranked by BM25 when ``text`` is given
        (see `query_tools`, whose arguments these are).

        Example:
            >>> from armorer_ray import Toolbox, tool
            >>> box = Toolbox([tool(name="a", description="A.", tags=["x"])(lambda: 1),
            ...                tool(name="b", description="B.", tags=["y"])(lambda: 1)])
            >>> box.query(tags_any=["X"], select="name")
            ['a']
        """
        tools = self.tools()
        spec = query if query is not None else criteria
        text = spec.text if isinstance(spec, ToolQuery) else spec.get("text") if isinstance(spec, Mapping) else None
        index = self._lexical_index(tools) if isinstance(text, str) and text else None
        matches = query_tools(tools, query, offset=offset, limit=limit, select=select, include_schema=include_schema,
                              index=index, **criteria)
        self._queried(query or criteria, matches)
        return matches

    def _lexical_index(self, tools: list[Tool]) -> LexicalIndex:
        """The BM25 index over ``tools`` (the current listing) that `query` ranks text with."""
        return LexicalIndex(tools)

    def _queried(self, query: ToolQuery | Mapping[str, Any], matches: QueryResults) -> None:
        """Called after each `query` with what was asked and found."""

