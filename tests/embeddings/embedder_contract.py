"""The `Embedder` contract: every embedder's test class subclasses `EmbedderContract` and supplies `embedder`.

```python
class TestMyEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return MyEmbedder(MyOptions())
```

A class-scoped fixture loads the model once for the whole class.
"""

from __future__ import annotations

import asyncio
import pickle

import numpy as np
import pytest

from armorer_ray.embeddings import Embedder, embed_batched, embed_sync
from armorer_ray.errors import ConfigError

EMAIL = "send an email message to a customer"
EMAIL_AGAIN = "email a customer a short message"
WEATHER = "get the weather forecast for a city"


class EmbedderContract:
    """Behaviour every `Embedder` must show."""

    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        raise NotImplementedError("override embedder in the embedder's test class")

    def test_is_an_embedder_with_a_name_and_dimension(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.model_id, str) and embedder.model_id
        assert isinstance(embedder.dimension, int) and embedder.dimension > 0

    async def test_returns_one_unit_float32_row_per_text(self, embedder: Embedder) -> None:
        vectors = await embedder.embed([EMAIL, EMAIL_AGAIN, WEATHER])
        assert vectors.shape == (3, embedder.dimension)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    async def test_no_texts_give_an_empty_matrix(self, embedder: Embedder) -> None:
        vectors = await embedder.embed([])
        assert vectors.shape == (0, embedder.dimension)
        assert vectors.dtype == np.float32

    async def test_rows_do_not_depend_on_batch_neighbours(self, embedder: Embedder) -> None:
        together = await embedder.embed([EMAIL, WEATHER])
        alone = np.concatenate([await embedder.embed([WEATHER]), await embedder.embed([EMAIL])])
        np.testing.assert_allclose(together, alone[::-1], atol=2e-3)

    async def test_paraphrases_are_closer_than_unrelated_texts(self, embedder: Embedder) -> None:
        email, again, weather = await embedder.embed([EMAIL, EMAIL_AGAIN, WEATHER])
        assert email @ again > email @ weather

    async def test_queries_land_near_their_documents(self, embedder: Embedder) -> None:
        [query] = await embedder.embed(["email a customer"], kind="query")
        documents = await embedder.embed([EMAIL, WEATHER], kind="document")
        assert int(np.argmax(documents @ query)) == 0

    async def test_refuses_a_bare_string_and_non_strings(self, embedder: Embedder) -> None:
        with pytest.raises(ConfigError):
            await embedder.embed(EMAIL)
        with pytest.raises(ConfigError):
            await embedder.embed([EMAIL, 3])  # type: ignore[list-item]

    async def test_batched_embedding_matches_one_call(self, embedder: Embedder) -> None:
        texts = [EMAIL, WEATHER, EMAIL_AGAIN, "book a flight", "cancel my order"]
        batched = await embed_batched(embedder, texts, batch_size=2, progress=True)
        np.testing.assert_allclose(batched, await embedder.embed(texts), atol=2e-3)

    async def test_concurrent_calls_each_get_their_own_rows(self, embedder: Embedder) -> None:
        first, second = await asyncio.gather(embedder.embed([EMAIL]), embedder.embed([WEATHER, EMAIL]))
        np.testing.assert_allclose(first[0], second[1], atol=2e-3)

    def test_sync_form_outside_an_event_loop(self, embedder: Embedder) -> None:
        assert embed_sync(embedder, [EMAIL]).shape == (1, embedder.dimension)

    def test_pickles_as_its_configuration(self, embedder: Embedder) -> None:
        copy = pickle.loads(pickle.dumps(embedder))
        assert copy.model_id == embedder.model_id
        np.testing.assert_allclose(embed_sync(copy, [WEATHER]), embed_sync(embedder, [WEATHER]), atol=2e-3)
