"""`ClientVectorStore`: what our stores over a driver client share, so each backend module holds only its driver.

On top of `CheckedVectorStore`'s checks: the client opens on first use (once, however many calls race for it)
and is released when opening fails half-way or on `close`; the driver's exceptions become `StoreError`; and a
query pushes what it can into the backend's filter language, then re-checks every hit and over-fetches past
the rest (`verified_query`). A backend module is left with connecting, its filter language and one driver
call per operation.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import ClassVar, Generic, TypeVar

from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.rows import Hit, Vector
from armorer_ray.embeddings.stores._checked import CheckedVectorStore, OptionsT
from armorer_ray.embeddings.stores._common import driver_errors, verified_query

HandleT = TypeVar("HandleT")
NativeT = TypeVar("NativeT")
T = TypeVar("T")


class ClientVectorStore(CheckedVectorStore[OptionsT], Generic[OptionsT, HandleT, NativeT]):
    """A `CheckedVectorStore` over a driver client (``HandleT``), opened on first use and released by `close`.

    A subclass sets ``backend`` (the name every `StoreError` starts with) and ``max_fetch`` (the most rows one
    search may ask for), and implements `_connect`, `_prepare`, `_disconnect`, `_translate` into its filter
    language (``NativeT``) and `_search`; its other operations run inside `_using`, or `_in_thread` for a
    blocking driver.
    """

    backend: ClassVar[str]
    max_fetch: ClassVar[int]

    def __init__(self, options: OptionsT) -> None:
        super().__init__(options)
        self._handle: HandleT | None = None
        # Made on first use, so that a store nobody has used yet still pickles.
        self._opening: asyncio.Lock | None = None

    @abstractmethod
    async def _connect(self) -> HandleT:
        """Open the client: from here on, `_disconnect` releases it."""

    @abstractmethod
    async def _prepare(self, handle: HandleT) -> None:
        """Create the collection if it is missing, and check the length of its vectors (`check_stored_dimension`).

        Raises:
            ConfigError: If the stored vectors have another dimension.
        """

    @abstractmethod
    async def _disconnect(self, handle: HandleT) -> None:
        """Release what `_connect` opened."""

    @abstractmethod
    def _translate(self, where: ToolFilter) -> tuple[NativeT | None, ToolFilter]:
        """The native filter for ``where`` (None when it has no clause to push down), and the clauses left over."""

    @abstractmethod
    async def _search(self, handle: HandleT, vector: Vector, size: int, native: NativeT | None) -> list[Hit]:
        """The ``size`` rows most similar to ``vector`` under ``native``, best first, scored by cosine similarity."""

    def _errors(self) -> AbstractContextManager[None]:
        """The block that turns driver exceptions into `StoreError`; a backend may sort some into `ConfigError`."""
        return driver_errors(self.backend)

    async def _open(self) -> HandleT:
        """The handle, connecting once even when several calls race to be first."""
        handle = self._handle
        if handle is None:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                handle = self._handle
                if handle is None:
                    with self._errors():
                        handle = await self._connect()
                        try:
                            await self._prepare(handle)
                        except BaseException:
                            # A half-open client would keep its connections, or local mode's directory lock.
                            await self._disconnect(handle)
                            raise
                    self._handle = handle
        return handle

    @asynccontextmanager
    async def _using(self) -> AsyncIterator[HandleT]:
        """The open handle, for a block whose driver exceptions `_errors` translates."""
        handle = await self._open()
        with self._errors():
            yield handle

    async def _in_thread(self, work: Callable[[HandleT], T]) -> T:
        """``work(handle)`` run in a worker thread, so a blocking driver keeps the event loop free."""
        async with self._using() as handle:
            return await asyncio.to_thread(work, handle)

    async def _query(self, vector: Vector, k: int, where: ToolFilter | None) -> list[Hit]:
        native, residual = self._translate(where) if where is not None else (None, None)
        handle = await self._open()

        async def fetch(size: int) -> list[Hit]:
            with self._errors():
                return await self._search(handle, vector, size, native)

        return await verified_query(fetch, k, where, residual=residual, max_fetch=self.max_fetch)

    async def close(self) -> None:
        """Release the driver's client, connections and locks; a later call would open them again.

        Raises:
            StoreError: If the driver fails to close.
        """
        handle, self._handle = self._handle, None
        if handle is not None:
            with self._errors():
                await self._disconnect(handle)
