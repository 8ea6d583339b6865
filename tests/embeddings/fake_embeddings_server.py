"""A local OpenAI-compatible ``POST /v1/embeddings`` server for testing `OpenAIEmbedder` over real HTTP.

Vectors come from `HashingEmbedder`, so a test can compare the client's output with the exact expected
rows. Tests can script failures (status, body, headers) returned before normal answers, shuffle the
order of ``data`` (clients must use ``index``), answer slowly, or answer with a wrong dimension.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
from tests.embeddings.fake_http import JsonHandler, serve_on_loopback


@dataclass
class Scripted:
    """One canned answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeEmbeddingsAPI:
    """What the server answers and what it saw."""

    dimension: int = 16
    served_dimension: int | None = None  # answer with vectors of this length instead (a misconfigured model)
    shuffle: bool = False
    delay_s: float = 0.0
    script: list[Scripted] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> Scripted:
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers)
            if self.script:
                return self.script.pop(0)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            texts = body["input"]
            embedder = HashingEmbedder(HashingOptions(dimension=self.served_dimension or self.dimension))
            vectors = embedder.embed_now(texts)
            data = [
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": base64.b64encode(vector.astype("<f4").tobytes()).decode()
                    if body.get("encoding_format") == "base64"
                    else vector.tolist(),
                }
                for index, vector in enumerate(vectors)
            ]
            if self.shuffle:
                random.Random(len(self.bodies)).shuffle(data)
            return Scripted(200, {"object": "list", "data": data, "model": body.get("model"), "usage": {}})
        finally:
            with self.lock:
                self.in_flight -= 1


def _handler(api: FakeEmbeddingsAPI) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            raw = self.read_body()
            if self.path != "/v1/embeddings":
                reply = Scripted(404, {"error": {"message": f"no route {self.path}"}})
            else:
                reply = api.answer(json.loads(raw), {key.lower(): value for key, value in self.headers.items()})
            self.send_json(reply.status, reply.body, reply.headers)

    return Handler


@contextmanager
def serve(api: FakeEmbeddingsAPI) -> Iterator[str]:
    """Serve ``api`` on a free loopback port; yields the base URL (``.../v1``)."""
    with serve_on_loopback(_handler(api), "fake-embeddings") as url:
        yield f"{url}/v1"
