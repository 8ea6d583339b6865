"""Text matching modes: ``contains``, ``exact`` and ``fuzzy`` over chosen fields, with weights (reference §13).

`score_text_match` scores one tool for a `TextQuery`; a text criterion of `armorer_ray.query` keeps the tools
scoring above 0. Fields: ``name`` and ``description`` (normalised strings and their word tokens), and ``tags``,
``schema_keys`` and ``metadata_keys`` (entries compared whole, not split into words).

* ``contains``: a query word counts when it is a substring of the field (``mail`` finds ``send-email``);
* ``exact``: a query word counts when it equals the field or one of its words (or a whole entry);
* ``fuzzy``: a query word counts by its best similarity (``1 - levenshtein / longer length``) when that
  reaches ``threshold`` (default 0.7).

Example:
    >>> from armorer_ray import tool
    >>> send = tool(name="send-email", description="Send an email", tags=["read-only", "communication"],
    ...             metadata={"ownerTeam": "growth"})(lambda userId: None)
    >>> [score_text_match(send, TextQuery(query=q)).score > 0 for q in ("mail", "user id", "owner", "readonly")]
    [True, True, True, False]
    >>> [score_text_match(send, TextQuery(query=q, mode="exact")).score > 0 for q in ("email", "mail")]
    [True, False]
    >>> score_text_match(send, TextQuery(query="comunication", mode="fuzzy")).reasons
    ('tags(communication)',)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from armorer_ray.text import normalize_text, similarity, tokenize

if TYPE_CHECKING:
    from armorer_ray.tools import Tool

__all__ = ["TEXT_FIELDS", "TextField", "TextMatch", "TextQuery", "score_text_match", "text_matches"]

TextField = Literal["name", "description", "tags", "schema_keys", "metadata_keys"]
TEXT_FIELDS: tuple[TextField, ...] = ("name", "description", "tags", "schema_keys", "metadata_keys")
_REASON = {"tags": "tags", "schema_keys": "schema-keys", "metadata_keys": "metadata-keys"}


class TextQuery(BaseModel):
    """A text criterion: the words, how they match, which fields they search and how much each field weighs.

    Attributes:
        query: The words (blank: matches every tool).
        mode: ``contains`` (default), ``exact`` or ``fuzzy``.
        fields: Fields to search (empty: all).
        threshold: Least similarity a fuzzy match needs, clamped to [0, 1]; non-finite values mean 0.7.
        weights: Multiplier per field (default 1; negatives count as 0).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    mode: Literal["contains", "exact", "fuzzy"] = "contains"
    fields: tuple[TextField, ...] = ()
    threshold: float = 0.7
    weights: dict[TextField, float] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _camel_fields(cls, value: object) -> object:
        aliases = {"schemaKeys": "schema_keys", "metadataKeys": "metadata_keys"}
        return [aliases.get(v, v) for v in value] if isinstance(value, list | tuple) else value

    @field_validator("threshold", mode="before")
    @classmethod
    def _clamp(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return 0.7 if not math.isfinite(value) else min(1.0, max(0.0, float(value)))
        return value

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value
        return {k: max(0.0, float(v)) for k, v in value.items()
                if k in TEXT_FIELDS and isinstance(v, int | float) and math.isfinite(v)}

    def is_blank(self) -> bool:
        """Whether the query has no words (then it matches every tool)."""
        return not normalize_text(self.query.strip()).strip() or not tokenize(self.query)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """How one tool matched: total score, the fields that scored, and why."""

    score: float
    fields: tuple[str, ...]
    tag_matches: tuple[str, ...]
    schema_matches: tuple[str, ...]
    metadata_matches: tuple[str, ...]
    reasons: tuple[str, ...]


_NO_MATCH = TextMatch(0.0, (), (), (), (), ())


def _string_score(mode: str, tokens: Sequence[str], text: str, words: Sequence[str], threshold: float) -> float:
    if mode == "contains":
        return float(sum(1 for t in tokens if t in text))
    if mode == "exact":
        return float(sum(1 for t in tokens if t == text or t in words))
    total = 0.0
    for token in tokens:
        best = max((similarity(token, w) for w in words), default=0.0)
        if best >= threshold:
            total += best
    return total


def _entry_score(mode: str, tokens: Sequence[str], entries: Sequence[str],
                 threshold: float) -> tuple[float, list[str]]:
    total, hits = 0.0, []
    for token in tokens:
        best, raw_best = 0.0, ""
        for raw in entries:
            normalized = normalize_text(raw)
            if mode == "contains":
                score = 1.0 if token in normalized else 0.0
            elif mode == "exact" or token == normalized:
                score = 1.0 if token == normalized else 0.0
            else:
                similar = similarity(token, normalized)
                score = similar if similar >= threshold else 0.0
            if score > best:
                best, raw_best = score, raw
        if best > 0:
            total += best
            if raw_best not in hits:
                hits.append(raw_best)
    return total, hits


def score_text_match(tool: Tool, query: TextQuery | str) -> TextMatch:
    """Score ``tool`` for ``query`` (reference §13.4); a blank query scores 0 with no reasons.

    Args:
        tool: The tool.
        query: A `TextQuery`, or a string (``contains`` over every field).

    Returns:
        The `TextMatch`; the tool matches when ``score > 0``.
    """
    spec = query if isinstance(query, TextQuery) else TextQuery(query=query)
    if spec.is_blank():
        return _NO_MATCH
    tokens = list(dict.fromkeys(tokenize(spec.query)))
    fields = spec.fields or TEXT_FIELDS
    total, scored, reasons = 0.0, [], []
    found: dict[str, list[str]] = {}
    for field in fields:
        weight = spec.weights.get(field, 1.0)
        if weight <= 0:
            continue
        if field in ("name", "description"):
            raw = tool.name if field == "name" else tool.description
            score = _string_score(spec.mode, tokens, normalize_text(raw), tokenize(raw), spec.threshold)
            reason: str = field
        else:
            entries = (list(tool.tags) if field == "tags" else list(tool.parameters.model_fields)
                       if field == "schema_keys" else list(tool.metadata))
            score, hits = _entry_score(spec.mode, tokens, entries, spec.threshold)
            found[field] = hits
            reason = f"{_REASON[field]}({', '.join(hits)})"
        if score > 0:
            total += score * weight
            scored.append(field)
            reasons.append(reason)
    return TextMatch(total, tuple(scored), tuple(found.get("tags", ())), tuple(found.get("schema_keys", ())),
                     tuple(found.get("metadata_keys", ())), tuple(reasons))


def text_matches(query: TextQuery | str) -> Callable[[Tool], bool]:
    """A predicate: does a tool score above 0 for ``query``? (A blank query matches every tool.)

    Example:
        >>> from armorer_ray import tool
        >>> matches = text_matches("mail")
        >>> matches(tool(name="send-email", description="Send.")(lambda: 1))
        True
    """
    spec = query if isinstance(query, TextQuery) else TextQuery(query=query)
    if spec.is_blank():
        return lambda tool: True
    return lambda tool: score_text_match(tool, spec).score > 0
