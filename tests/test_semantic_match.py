"""Embeddings in text filters: lexical first, then embedding similarity at the threshold (reference §14)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from armorer_ray import ConfigError, Toolbox, tool
from armorer_ray.embeddings.index import ToolIndex
from armorer_ray.embeddings.protocols import EmbedKind, Matrix
from armorer_ray.semantic_match import semantic_text_filter
from armorer_ray.text_match import TextQuery


class Topics:
    """Weather words and forecast tools share a direction; everything else points elsewhere."""

    model_id = "topics"
    dimension = 3

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
        def vector(text: str) -> list[float]:
            lowered = text.lower()
            if "weather" in lowered or "forecast" in lowered:
                return [1.0, 0.0, 0.0]
            if "rain" in lowered:
                return [0.8, 0.6, 0.0]  # cosine 0.8 with weather
            return [0.0, 0.0, 1.0]

        return np.asarray([vector(t) for t in texts], dtype=np.float32)


def box() -> Toolbox:
    return Toolbox([tool(name="forecast-tool", description="Tomorrow's sky.")(lambda city: city),
                    tool(name="send-email", description="Send an email.")(lambda to: to)])


def names(text: str | TextQuery, **options: float) -> list[str]:
    toolbox = box()
    matches = asyncio.run(semantic_text_filter(ToolIndex(toolbox, embedder=Topics()), text, **options))
    return toolbox.query(predicate=matches, select="name")  # type: ignore[no-any-return]


def test_a_tool_is_found_by_meaning_when_no_word_matches() -> None:
    assert names("weather") == ["forecast-tool"]  # the reference's pinned example


def test_lexical_matches_still_count_and_the_threshold_applies() -> None:
    assert names("email") == ["send-email"]
    assert names("rain") == ["forecast-tool"]  # 0.8 >= 0.7
    assert names("rain", threshold=0.9) == []
    assert names(TextQuery(query="rain", threshold=0.85)) == []


def test_blank_queries_match_all_and_bad_thresholds_are_refused() -> None:
    assert names("  ") == ["forecast-tool", "send-email"]
    with pytest.raises(ConfigError):
        names("x", threshold=2.0)
