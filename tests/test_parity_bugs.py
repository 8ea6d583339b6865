"""Regression tests for the Armorer-parity bugs of issue 18."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import numpy as np
import pytest

from armorer_ray import CallContext, ConfigError, Tool, Toolbox, tool
from armorer_ray.compose import parallel, pipe, preprocess, tap, when
from armorer_ray.embeddings.index import ToolIndex
from armorer_ray.embeddings.protocols import EmbedKind, Matrix

# -- composed tools pass the caller's timeout to their steps ------------------------------------------------------


def deadline_probe(name: str) -> Tool:
    @tool(name=name)
    def seen(value: float, ctx: CallContext) -> float | None:
        "Report the deadline the step runs under."
        return ctx.timeout_s

    return seen


@pytest.mark.parametrize("make", [
    lambda a, b: tap(a, lambda output, ctx: None),
    lambda a, b: when(lambda args, ctx: True, a, b),
    lambda a, b: preprocess(a, lambda args, ctx: args),
    lambda a, b: parallel(a, b),
    lambda a, b: pipe(a, b),
], ids=["tap", "when", "preprocess", "parallel", "pipe"])
def test_composed_tools_pass_the_callers_timeout_to_their_steps(make: object) -> None:
    composed = make(deadline_probe("a"), deadline_probe("b"))  # type: ignore[operator]
    result = composed.execute_sync({"value": 1}, timeout_s=7.5)
    assert result.outcome == "success", result.error
    assert result.result in (7.5, [7.5, 7.5])
    # Registered in a toolbox, the steps still see the call's deadline.
    box = Toolbox([composed])
    assert box.execute_sync({"name": composed.name, "arguments": {"value": 1}}, timeout_s=3.0).result in (
        3.0, [3.0, 3.0])


def test_a_composed_step_is_stopped_by_the_callers_deadline() -> None:
    release = asyncio.Event()

    @tool
    async def stall(value: int) -> int:
        "Wait until released."
        await release.wait()
        return value

    result = tap(stall, lambda output, ctx: None).execute_sync({"value": 1}, timeout_s=0.05)
    assert result.error is not None and result.error.category == "timeout"


# -- embeddings: all-zero vectors and wrong dimensions --------------------------------------------------------------


class ScriptedEmbedder:
    """Vectors from a function of each text; declares ``dimension`` whatever the function returns."""

    def __init__(self, dimension: int, vector: object) -> None:
        self._dimension = dimension
        self._vector = vector

    @property
    def model_id(self) -> str:
        return f"scripted-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
        return np.asarray([self._vector(text) for text in texts], dtype=np.float32)  # type: ignore[operator]


def catalogue() -> Toolbox:
    return Toolbox([tool(name="send-email", description="Send an email.")(lambda to: to),
                    tool(name="forecast", description="Weather for a city.")(lambda city: city)])


def test_an_all_zero_embedding_does_not_crash_search(caplog: pytest.LogCaptureFixture) -> None:
    index = ToolIndex(catalogue(), embedder=ScriptedEmbedder(4, lambda text: [0.0] * 4))
    with caplog.at_level(logging.WARNING, "armorer_ray.embeddings"):
        hits = asyncio.run(index.search("email", 3))
    assert [hit.name for hit in hits] == ["send-email"]
    assert "all zeros" in caplog.text


def test_vectors_of_the_wrong_dimension_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    index = ToolIndex(catalogue(), embedder=ScriptedEmbedder(4, lambda text: [1.0, 0.5, 0.25]))
    with caplog.at_level(logging.WARNING, "armorer_ray.embeddings"):
        hits = asyncio.run(index.search("weather", 3))
    assert [hit.name for hit in hits] == ["forecast"]
    assert "declared dimension 4" in caplog.text


def test_only_the_bad_vectors_are_skipped() -> None:
    def vector(text: str) -> list[float]:
        return [0.0, 0.0, 0.0, 0.0] if "email" in text else [1.0, 0.0, 0.0, 0.0]

    index = ToolIndex(catalogue(), embedder=ScriptedEmbedder(4, vector))
    hits = asyncio.run(index.search("city weather", 3))
    assert hits and hits[0].name == "forecast" and hits[0].similarity is not None


# -- tool construction ----------------------------------------------------------------------------------------------


def test_a_tool_body_that_is_not_callable_is_refused() -> None:
    with pytest.raises(ConfigError, match="a tool body must be a function"):
        Tool(123, name="n", description="d.")  # type: ignore[arg-type]


def test_an_empty_tool_name_is_refused_not_replaced_by_the_functions_name() -> None:
    def body() -> int:
        "Body."
        return 1

    with pytest.raises(ConfigError, match="non-empty string"):
        tool(name="")(body)
    with pytest.raises(ConfigError, match="non-empty string"):
        Tool(body, name="   ")
