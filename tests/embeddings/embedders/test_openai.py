"""The OpenAI-compatible client runs the Embedder contract over real HTTP against a loopback server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import numpy as np
import pytest

from armorer_ray.embeddings import Embedder, OpenAIEmbedder, OpenAIEmbedderOptions
from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
from armorer_ray.errors import StoreError, TimedOut, Transient
from tests.embeddings.embedder_contract import EmbedderContract
from tests.embeddings.fake_embeddings_server import FakeEmbeddingsAPI, Scripted, serve

pytest.importorskip("httpx", reason="the OpenAI-compatible embedder needs httpx: pip install 'armorer-ray[web]'")

DIM = 16


@pytest.fixture
def api() -> FakeEmbeddingsAPI:
    return FakeEmbeddingsAPI(dimension=DIM)


@pytest.fixture
def base_url(api: FakeEmbeddingsAPI) -> Iterator[str]:
    with serve(api) as url:
        yield url


def client(base_url: str, **options: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        OpenAIEmbedderOptions.model_validate({"base_url": base_url, "model": "m", "dimension": DIM, **options})
    )


def expected(texts: list[str]) -> np.ndarray:
    return HashingEmbedder(HashingOptions(dimension=DIM)).embed_now(texts)


class TestOpenAIEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Iterator[Embedder]:
        with serve(FakeEmbeddingsAPI(dimension=64, shuffle=True)) as url:
            yield OpenAIEmbedder(OpenAIEmbedderOptions(base_url=url, model="m", dimension=64, batch_size=2))


async def test_batches_requests_and_restores_order_by_index(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.shuffle = True
    texts = [f"text number {i}" for i in range(10)]
    vectors = await client(base_url, batch_size=3).embed(texts)
    # Batches go out concurrently, so the server may see them in any order.
    assert sorted(len(body["input"]) for body in api.bodies) == [1, 3, 3, 3]
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)


async def test_base64_encoding_decodes_to_the_same_vectors(api: FakeEmbeddingsAPI, base_url: str) -> None:
    vectors = await client(base_url, encoding_format="base64").embed(["alpha beta", "gamma"])
    assert api.bodies[0]["encoding_format"] == "base64"
    np.testing.assert_allclose(vectors, expected(["alpha beta", "gamma"]), atol=1e-6)


async def test_sends_the_api_key_extra_headers_and_dimensions(api: FakeEmbeddingsAPI, base_url: str) -> None:
    embedder = client(base_url, api_key="sk-test", headers={"OpenAI-Organization": "org-1"}, request_dimensions=True)
    await embedder.embed(["x"])
    assert api.headers[0]["authorization"] == "Bearer sk-test"
    assert api.headers[0]["openai-organization"] == "org-1"
    assert api.bodies[0]["dimensions"] == DIM
    assert api.bodies[0]["model"] == "m"
    assert "sk-test" not in repr(embedder)


async def test_prefixes_follow_the_kind(api: FakeEmbeddingsAPI, base_url: str) -> None:
    embedder = client(base_url, query_prefix="query: ", document_prefix="passage: ")
    await embedder.embed(["a"], kind="query")
    await embedder.embed(["b"])
    assert [body["input"] for body in api.bodies] == [["query: a"], ["passage: b"]]


async def test_caps_requests_in_flight(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.delay_s = 0.05
    await client(base_url, batch_size=1, max_concurrent_requests=2).embed([f"t{i}" for i in range(6)])
    assert len(api.bodies) == 6
    assert api.max_in_flight <= 2


async def test_rate_limit_is_a_retryable_transient_with_retry_after(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.script.append(Scripted(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "7"}))
    with pytest.raises(Transient, match="Rate limit reached") as caught:
        await client(base_url).embed(["x"])
    error = caught.value.to_tool_error()
    assert (error.code, error.retryable, error.details) == ("RATE_LIMITED", True, {"status": 429, "retry_after_s": 7.0})


async def test_server_errors_are_transient(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.script.append(Scripted(503, b"upstream overloaded"))
    with pytest.raises(Transient, match="503: upstream overloaded"):
        await client(base_url).embed(["x"])


async def test_client_errors_are_store_errors_with_the_server_message(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.script.append(Scripted(401, {"error": {"message": "Incorrect API key provided"}}))
    with pytest.raises(StoreError, match="401: Incorrect API key provided"):
        await client(base_url).embed(["x"])


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"index": 0, "embedding": [0.1] * DIM}]},
        {"data": "nope"},
        {"data": [{"index": 5, "embedding": [1.0] * DIM}] * 2},
    ],
    ids=["too-few", "malformed", "bad-index"],
)
async def test_malformed_answers_are_store_errors(api: FakeEmbeddingsAPI, base_url: str, body: object) -> None:
    api.script.append(Scripted(200, body))
    with pytest.raises(StoreError):
        await client(base_url).embed(["x", "y"])


async def test_wrong_dimension_from_the_server_is_a_store_error(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.served_dimension = DIM * 2
    with pytest.raises(StoreError, match="dimension=16"):
        await client(base_url).embed(["x"])


async def test_slow_server_is_timed_out(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.delay_s = 1.0
    with pytest.raises(TimedOut):
        await client(base_url, timeout_s=0.1).embed(["x"])


async def test_refused_connection_is_transient() -> None:
    with socket.socket() as probe:  # a port that was just free and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Transient, match="ConnectError"):
        await client(f"http://127.0.0.1:{port}/v1").embed(["x"])


async def test_a_given_client_is_used_and_left_open(api: FakeEmbeddingsAPI, base_url: str) -> None:
    import httpx

    async with httpx.AsyncClient() as shared:
        embedder = OpenAIEmbedder(OpenAIEmbedderOptions(base_url=base_url, model="m", dimension=DIM), client=shared)
        await embedder.embed(["x"])
        await embedder.aclose()
        assert not shared.is_closed
        await embedder.embed(["y"])
    assert len(api.bodies) == 2


async def test_embedding_keeps_the_event_loop_free(api: FakeEmbeddingsAPI, base_url: str) -> None:
    api.delay_s = 0.2
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await client(base_url).embed(["x"])
    ticker.cancel()
    assert ticks > 1


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAIEmbedderOptions(base_url="api.openai.com/v1", model="m", dimension=4)
