"""The controller's view of the cluster's nodes: which are alive, and whether a placement-group bundle still is.

Read from Ray's GCS (``ray.nodes()``, ``placement_group_table``) off the controller's event loop, and cached for
a moment so that a health round touching many replicas asks once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray
from ray.util import placement_group_table
from ray.util.placement_group import PlacementGroup

from armorer_ray.actors._private.placement import NodeInfo

__all__ = ["NodeView"]

CACHE_S = 1.0


class NodeView:
    """Live nodes, cached for `CACHE_S`."""

    def __init__(self) -> None:
        self._at = -CACHE_S
        self._nodes: list[NodeInfo] = []

    async def live(self) -> list[NodeInfo]:
        """The nodes Ray considers alive now."""
        if time.monotonic() - self._at >= CACHE_S:
            rows: list[dict[str, Any]] = await asyncio.to_thread(ray.nodes)
            self._nodes = [NodeInfo(str(row["NodeID"]), dict(row.get("Resources") or {}))
                           for row in rows if row.get("Alive")]
            self._at = time.monotonic()
        return self._nodes

    async def is_alive(self, node_id: str | None) -> bool:
        """Whether ``node_id`` is alive (an unknown node, None, counts as alive: nothing says otherwise)."""
        if node_id is None:
            return True
        return any(node.node_id == node_id for node in await self.live())

    async def bundle_is_placed(self, group: PlacementGroup, index: int) -> bool:
        """Whether bundle ``index`` of ``group`` exists and sits on a live node (not lost, not rescheduling)."""
        table: dict[str, Any] = await asyncio.to_thread(placement_group_table, group)
        if table.get("state") != "CREATED":
            return False
        bundles = table.get("bundles_to_node_id") or {}
        node = bundles.get(index, bundles.get(str(index)))
        return node is not None and await self.is_alive(str(node))
