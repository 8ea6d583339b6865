"""ToolIndex: incremental sync, persistence without re-embedding, filters, hybrid ranking, the search tool."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorer_ray import ConfigError, Toolbox, tool
from armorer_ray.embeddings import ToolFilter, load_vector_store
from armorer_ray.embeddings.index import FusionWeights, ToolIndex, _name_text, tool_text
from armorer_ray.embeddings.search_tool import create_search_tool
from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions


class CountingEmbedder(HashingEmbedder):
    """A real hashing embedder that counts the texts it embeds."""

    def __init__(self) -> None:
        super().__init__(HashingOptions(dimension=64))
        self.embedded: list[str] = []

    async def embed(self, texts: Sequence[str], *, kind: str = "document") -> np.ndarray:  # type: ignore[override]
        if kind == "document":
            self.embedded.extend(texts)
        return await super().embed(texts, kind=kind)  # type: ignore[arg-type]


def catalogue() -> list[object]:
    return [
        tool(name="send_email", description="Send an email message to a contact.", tags=["messaging"],
             metadata={"team": "growth"})(lambda to, body: to),
        tool(name="get_forecast", namespace="geo", description="Weather forecast for a city.", tags=["weather"])(
            lambda city: city),
        tool(name="refund_order", description="Refund a customer's order.", tags=["payments"], mutates=True,
             metadata={"team": "billing"})(lambda order_id: order_id),
        tool(name="list_invoices", description="List invoices of a customer account.", tags=["payments"],
             metadata={"team": "billing"})(lambda account: account),
    ]


async def test_sync_is_incremental_and_follows_the_toolbox() -> None:
    embedder = CountingEmbedder()
    box = Toolbox(catalogue())  # type: ignore[arg-type]
    index = ToolIndex(box, embedder=embedder)
    first = await index.sync()
    assert (first.added, first.updated, first.removed, first.unchanged) == (4, 0, 0, 0)
    # Each tool's text and its name view (name and parameter names) once; a second sync embeds nothing.
    assert (await index.sync()).unchanged == 4 and len(embedder.embedded) == 8
    box.register(tool(name="book_flight", description="Book a flight.")(lambda to: to))
    box.register(box.get_tool("send_email").replace(description="Send an email or a text message."),  # type: ignore[union-attr]
                 replace=True)
    box.unregister("get_forecast")
    hits = await index.search("book a flight")
    assert hits[0].name == "book_flight"
    # Only the new and the changed tool's texts, and the new tool's name view (send_email's name did not change).
    assert len(embedder.embedded) == 11
    assert await index.store.count() == 4


async def test_persisted_index_reloads_without_re_embedding_tool_texts(tmp_path: Path) -> None:
    path = tmp_path / "tools.npz"
    box = Toolbox(catalogue())  # type: ignore[arg-type]
    store = load_vector_store("memory", {"dimension": 64, "path": path})
    index = ToolIndex(box, embedder=CountingEmbedder(), store=store)
    await index.sync()
    await index.persist()
    again = CountingEmbedder()
    reloaded = ToolIndex(box, embedder=again, store=load_vector_store("memory", {"dimension": 64, "path": path}))
    report = await reloaded.sync()
    # The tool texts come back from the store; only the short name views (kept in memory) are embedded again.
    assert report.unchanged == 4 and sorted(again.embedded) == sorted(_name_text(t) for t in box.tools())
    assert (await reloaded.search("refund"))[0].name == "refund_order"


async def test_filters_apply_to_both_rankings() -> None:
    box = Toolbox(catalogue())  # type: ignore[arg-type]
    index = ToolIndex(box, embedder=CountingEmbedder())
    payments = await index.search("customer order invoice email", k=10, filters=ToolFilter(tags_any={"payments"}))
    assert {h.name for h in payments} == {"refund_order", "list_invoices"}
    geo = await index.search("weather", filters=ToolFilter(namespaces={"geo"}))
    assert [h.name for h in geo] == ["get_forecast"]
    growth = await index.search("send", filters=ToolFilter(metadata_eq={"team": "growth"}))
    assert [h.name for h in growth] == ["send_email"]


async def test_hits_explain_themselves_and_bad_input_is_refused() -> None:
    index = ToolIndex(catalogue(), embedder=CountingEmbedder())  # type: ignore[arg-type]
    [hit] = await index.search("refund my order", k=1)
    assert hit.name == "refund_order" and hit.lexical_rank == 1
    assert "terms: order, refund" in hit.reasons and hit.similarity is not None
    assert await index.search("   ") == []
    with pytest.raises(ConfigError):
        await index.search("x", k=0)
    with pytest.raises(ConfigError):
        await index.search(42)  # type: ignore[arg-type]


async def test_weights_can_switch_off_either_ranking() -> None:
    lexical_only = ToolIndex(catalogue(), embedder=CountingEmbedder(), weights=FusionWeights(vector=0))  # type: ignore[arg-type]
    assert all(h.vector_rank is None for h in await lexical_only.search("refund order", k=4))
    vector_only = ToolIndex(catalogue(), embedder=CountingEmbedder(), weights=FusionWeights(lexical=0))  # type: ignore[arg-type]
    assert all(h.lexical_rank is None for h in await vector_only.search("refund order", k=4))


async def test_dimension_mismatch_is_a_config_error() -> None:
    index = ToolIndex(catalogue(), embedder=CountingEmbedder(),  # type: ignore[arg-type]
                      store=load_vector_store("memory", {"dimension": 8}))
    with pytest.raises(ConfigError, match="dimension"):
        await index.sync()


async def test_search_tool_finds_tools_registered_later_and_never_itself() -> None:
    box = Toolbox(catalogue())  # type: ignore[arg-type]
    box.set_tool_index(ToolIndex(box, embedder=CountingEmbedder()))
    create_search_tool(box)
    box.register(tool(name="translate_text", description="Translate text into another language.")(lambda t: t))
    result = await box.execute({"name": "search_tools", "arguments": {"query": "translate this text", "k": 3}})
    assert result.result[0]["name"] == "translate_text"
    assert all(item["name"] != "search_tools" for item in result.result)
    assert result.result[0]["score"] > 0 and result.result[0]["reasons"]
    tagged = await box.execute({"name": "search_tools", "arguments": {"query": "customer", "tags": ["payments"]}})
    assert {item["name"] for item in tagged.result} <= {"refund_order", "list_invoices"}
    bad = await box.execute({"name": "search_tools", "arguments": {"query": ""}})
    assert bad.error is not None and bad.error.category == "validation"


async def test_default_embedder_finds_tools_by_meaning() -> None:
    box = Toolbox([
        *catalogue(),  # type: ignore[list-item]
        tool(name="get_stock_price", description="Current share price of a listed company.")(lambda ticker: 1),
    ])
    hits = await box.search("will it rain in Paris tomorrow?", k=2)
    assert hits[0].name == "get_forecast"
    assert "weather" not in tool_text(box.get_tool("get_stock_price"))  # type: ignore[arg-type]


def dining_and_travel() -> Toolbox:
    return Toolbox([
        tool(name="find_restaurant", description="Find a restaurant in a city by cuisine and rating.")(
            lambda city, cuisine: city),
        tool(name="search_restaurants", description="Search restaurants in a city by cuisine.")(
            lambda city, cuisine: city),
        tool(name="restaurant_reviews", description="Read the reviews and rating of a restaurant.")(lambda city: city),
        tool(name="restaurant_menu", description="Get the menu and dishes of a restaurant.")(lambda name: name),
        tool(name="vegetarian_dishes", description="List vegetarian dishes served by a restaurant.")(
            lambda name: name),
        tool(name="book_flight", description="Book a flight between two airports.")(lambda origin, destination: origin),
    ])


async def test_a_multi_part_request_gets_a_tool_for_each_part() -> None:
    request = ("Find an Italian restaurant in Rome with a high rating. The restaurant should serve vegetarian dishes "
               "on its menu. Check the reviews of the restaurant too. Then book a flight to Paris.")
    embedder = HashingEmbedder(HashingOptions(dimension=64))
    by_score = await ToolIndex(dining_and_travel(), embedder=embedder,
                               weights=FusionWeights(coverage=0)).search(request, k=3)
    covering = await ToolIndex(dining_and_travel(), embedder=embedder).search(request, k=3)
    # Ranked by combined score alone, the three restaurant parts crowd out the flight.
    assert "book_flight" not in [hit.name for hit in by_score]
    assert [hit.name for hit in covering][:2] == [hit.name for hit in by_score][:2]
    assert covering[2].name == "book_flight" and covering[2].score < by_score[2].score


def test_coverage_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="coverage"):
        FusionWeights(coverage=1.5)


WORDS = ["restaurant", "rating", "menu", "vegetarian", "reviews", "flight", "book", "city", "dishes", "Paris",
         "cheap", "search", "find", "airports", "cuisine"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=st.lists(st.lists(st.sampled_from(WORDS), min_size=3, max_size=8), min_size=1, max_size=5),
       k=st.integers(min_value=1, max_value=8))
async def test_part_coverage_only_reorders_and_keeps_the_best_hit_first(sentences: list[list[str]], k: int) -> None:
    request = ". ".join(" ".join(words) for words in sentences) + "."
    embedder = HashingEmbedder(HashingOptions(dimension=64))
    by_score = await ToolIndex(dining_and_travel(), embedder=embedder,
                               weights=FusionWeights(coverage=0)).search(request, k=k)
    covering = await ToolIndex(dining_and_travel(), embedder=embedder).search(request, k=k)
    names = [hit.name for hit in covering]
    assert len(names) == len(set(names)) == len(by_score) == min(k, 6)
    assert names[0] == by_score[0].name
    assert {hit.name: hit.score for hit in covering}.items() <= {
        hit.name: hit.score for hit in await ToolIndex(dining_and_travel(), embedder=embedder,
                                                        weights=FusionWeights(coverage=0)).search(request, k=6)}.items()
