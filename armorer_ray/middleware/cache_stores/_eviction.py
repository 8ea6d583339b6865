"""Eviction orders for the memory cache: least recently used and least frequently used, both O(1)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal, Protocol

__all__ = ["Eviction", "EvictionOrder", "LeastFrequentlyUsed", "LeastRecentlyUsed", "eviction_order"]

Eviction = Literal["lru", "lfu"]


class EvictionOrder(Protocol):
    """Tracks keys and names the one to evict next."""

    def add(self, key: str) -> None: ...
    def touch(self, key: str) -> None: ...
    def remove(self, key: str) -> None: ...
    def victim(self, spare: str) -> str: ...


class LeastRecentlyUsed:
    """Evicts the key read or written longest ago."""

    __slots__ = ("_order",)

    def __init__(self) -> None:
        self._order: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> None:
        self._order[key] = None
        self._order.move_to_end(key)

    def touch(self, key: str) -> None:
        self._order.move_to_end(key)

    def remove(self, key: str) -> None:
        self._order.pop(key, None)

    def victim(self, spare: str) -> str:
        """The least recently used key (``spare``, just written, is the most recent, so never chosen)."""
        return next(iter(self._order))


class LeastFrequentlyUsed:
    """Evicts the key read fewest times since it was stored; among equals, the least recently used.

    Keys sit in one insertion-ordered bucket per read count, so every operation is O(1): the classic
    constant-time LFU (Shah, Mitra and Matani, 2010).
    """

    __slots__ = ("_buckets", "_counts", "_lowest")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._buckets: dict[int, OrderedDict[str, None]] = {}
        self._lowest = 0

    def add(self, key: str) -> None:
        self.remove(key)
        self._counts[key] = 1
        self._buckets.setdefault(1, OrderedDict())[key] = None
        self._lowest = 1

    def touch(self, key: str) -> None:
        count = self._counts[key]
        self._drop(key, count)
        if self._lowest == count and count not in self._buckets:
            self._lowest = count + 1
        self._counts[key] = count + 1
        self._buckets.setdefault(count + 1, OrderedDict())[key] = None

    def remove(self, key: str) -> None:
        count = self._counts.pop(key, None)
        if count is not None:
            self._drop(key, count)

    def victim(self, spare: str) -> str:
        """The least used key other than ``spare``: a new entry, used once, would otherwise always be the victim."""
        if self._lowest not in self._buckets:  # the lowest bucket emptied by a removal
            self._lowest = min(self._buckets)
        for key in self._buckets[self._lowest]:
            if key != spare:
                return key
        higher = [count for count in self._buckets if count != self._lowest]
        return next(iter(self._buckets[min(higher)])) if higher else spare

    def _drop(self, key: str, count: int) -> None:
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]


def eviction_order(kind: Eviction) -> EvictionOrder:
    """A fresh eviction order of the given kind."""
    return LeastFrequentlyUsed() if kind == "lfu" else LeastRecentlyUsed()
