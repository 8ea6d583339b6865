"""`ToolFilter`: which rows a vector query may return, and the reference semantics every backend follows.

Backends translate what they can into their native filter language and call `ToolFilter.matches` on
whatever comes back, so a clause a backend cannot express (or expresses slightly differently, such as
Milvus treating ``true == 1``) never changes the answer, only the cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_serializer

__all__ = ["JsonScalar", "ToolFilter", "row_tags", "scalars_equal"]

JsonScalar: TypeAlias = str | int | float | bool
"""A metadata value a filter can compare for equality."""


def scalars_equal(stored: object, wanted: JsonScalar) -> bool:
    """JSON equality of two scalars: numbers compare by value, but a bool is never a number.

    This is the rule every backend is held to; ``1 == 1.0`` because JSON has one number type, while
    ``True != 1`` because JSON booleans are not numbers (Python, Milvus and Qdrant's ``Range`` disagree).

    Args:
        stored: The value found in a row's metadata (any JSON value, or a missing-key sentinel).
        wanted: The scalar the filter asks for.

    Returns:
        Whether the two are equal JSON scalars.

    Example:
        >>> scalars_equal(1.0, 1), scalars_equal(True, 1), scalars_equal("1", 1)
        (True, False, False)
    """
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(wanted, bool) and isinstance(stored, bool) and stored is wanted
    if isinstance(wanted, int | float):
        return isinstance(stored, int | float) and stored == wanted
    return isinstance(stored, str) and stored == wanted


def _finite(value: JsonScalar) -> JsonScalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("metadata_eq values must be finite numbers")
    return value


class ToolFilter(BaseModel):
    """Restricts a vector query to rows whose metadata passes every clause; empty clauses pass all.

    Tags are read from ``metadata["tags"]`` (a list of strings; anything else counts as no tags) and the
    namespace from ``metadata["namespace"]`` (a string).

    Attributes:
        tags_any: The row has at least one of these tags.
        tags_all: The row has every one of these tags.
        tags_none: The row has none of these tags.
        namespaces: The row's namespace is one of these.
        metadata_eq: For each key, ``metadata[key]`` is the equal JSON scalar (see `scalars_equal`).

    Example:
        >>> f = ToolFilter(tags_any={"email", "sms"}, namespaces={"crm"}, metadata_eq={"dangerous": False})
        >>> f.matches({"namespace": "crm", "tags": ["email"], "dangerous": False})
        True
        >>> f.matches({"namespace": "crm", "tags": ["email"]})
        False
        >>> ToolFilter.model_validate_json(f.model_dump_json()) == f
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags_any: frozenset[str] = frozenset()
    tags_all: frozenset[str] = frozenset()
    tags_none: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    metadata_eq: Mapping[str, Annotated[JsonScalar, AfterValidator(_finite)]] = Field(default_factory=dict)

    # Sets serialize sorted so that equal filters give equal JSON (usable as a cache key).
    @field_serializer("tags_any", "tags_all", "tags_none", "namespaces")
    def _sorted(self, value: frozenset[str]) -> list[str]:
        return sorted(value)

    @field_serializer("metadata_eq")
    def _sorted_items(self, value: Mapping[str, JsonScalar]) -> dict[str, JsonScalar]:
        return dict(sorted(value.items()))

    def __hash__(self) -> int:
        # The generated hash would fail on the metadata_eq dict; the sorted JSON is canonical.
        return hash(self.model_dump_json())

    @property
    def is_empty(self) -> bool:
        """Whether the filter has no clause, so every row passes.

        Example:
            >>> ToolFilter().is_empty, ToolFilter(tags_all={"x"}).is_empty
            (True, False)
        """
        return not (self.tags_any or self.tags_all or self.tags_none or self.namespaces or self.metadata_eq)

    def matches(self, metadata: Mapping[str, JsonValue]) -> bool:
        """Whether a row with this metadata passes the filter: the reference semantics.

        Args:
            metadata: A row's metadata.

        Returns:
            True when every non-empty clause holds.

        Example:
            >>> ToolFilter(tags_none={"dangerous"}).matches({"tags": ["email", "dangerous"]})
            False
            >>> ToolFilter(metadata_eq={"version": 2}).matches({"version": 2.0})
            True
        """
        if self.tags_any or self.tags_all or self.tags_none:
            tags = row_tags(metadata)
            if self.tags_any and self.tags_any.isdisjoint(tags):
                return False
            if self.tags_all and not self.tags_all <= tags:
                return False
            if self.tags_none and not self.tags_none.isdisjoint(tags):
                return False
        if self.namespaces:
            namespace = metadata.get("namespace")
            if not isinstance(namespace, str) or namespace not in self.namespaces:
                return False
        return all(key in metadata and scalars_equal(metadata[key], wanted) for key, wanted in self.metadata_eq.items())

    def without(
        self,
        *,
        tags: bool = False,
        namespaces: bool = False,
        metadata_keys: frozenset[str] = frozenset(),
    ) -> ToolFilter:
        """A copy with some clauses dropped: what is left for a backend to post-filter.

        Args:
            tags: Drop the three tag clauses.
            namespaces: Drop the namespace clause.
            metadata_keys: Drop these ``metadata_eq`` keys.

        Returns:
            The remaining filter (possibly empty).

        Example:
            >>> ToolFilter(tags_any={"x"}, metadata_eq={"a": 1}).without(tags=True).model_dump()["metadata_eq"]
            {'a': 1}
        """
        return ToolFilter(
            tags_any=frozenset() if tags else self.tags_any,
            tags_all=frozenset() if tags else self.tags_all,
            tags_none=frozenset() if tags else self.tags_none,
            namespaces=frozenset() if namespaces else self.namespaces,
            metadata_eq={k: v for k, v in self.metadata_eq.items() if k not in metadata_keys},
        )


def row_tags(metadata: Mapping[str, JsonValue]) -> frozenset[str]:
    """The tags of a row: the strings in ``metadata["tags"]``, or none if it is not a list.

    Args:
        metadata: A row's metadata.

    Returns:
        The set of string tags.

    Example:
        >>> sorted(row_tags({"tags": ["b", "a", 3]})), row_tags({"tags": "a"})
        (['a', 'b'], frozenset())
    """
    tags = metadata.get("tags")
    if not isinstance(tags, list):
        return frozenset()
    return frozenset(tag for tag in tags if isinstance(tag, str))
