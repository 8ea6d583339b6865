"""A layered layout of a DAG: each node on the layer of its longest path from a root, boxes side by side.

Pure Python (no web extra needed): `layered_layout` places named boxes; `armorer_ray.ui.svg` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from armorer_ray.errors import ConfigError

__all__ = ["Box", "GraphLayout", "layered_layout"]


@dataclass(frozen=True, slots=True)
class Box:
    """Where one node is drawn: its layer and its rectangle (``x``, ``y`` = top-left corner, in pixels)."""

    layer: int
    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        """Whether the two rectangles share any interior point (touching edges do not count).

        Example:
            >>> square = Box(0, 0, 0, 10, 10)
            >>> square.overlaps(Box(0, 10, 0, 10, 10)), square.overlaps(Box(1, 5, 5, 10, 10))
            (False, True)
        """
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)


@dataclass(frozen=True, slots=True)
class GraphLayout:
    """The placed graph: a `Box` per node, the edges, and the drawing's overall size in pixels."""

    boxes: Mapping[str, Box]
    edges: tuple[tuple[str, str], ...]
    width: float
    height: float


def _layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    parents: dict[str, list[str]] = {name: [] for name in nodes}
    children: dict[str, list[str]] = {name: [] for name in nodes}
    for source, target in edges:
        for end in (source, target):
            if end not in parents:
                raise ConfigError(f"edge {source} -> {target} names unknown node {end!r}")
        parents[target].append(source)
        children[source].append(target)
    # Kahn's order; a node's layer is one past its deepest parent, so every edge points to a later layer.
    waiting = {name: len(parents[name]) for name in nodes}
    ready = [name for name in nodes if not waiting[name]]
    layer: dict[str, int] = {}
    while ready:
        name = ready.pop(0)
        layer[name] = max((layer[parent] + 1 for parent in parents[name]), default=0)
        for child in children[name]:
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    if len(layer) < len(parents):
        stuck = sorted(set(parents) - set(layer))
        raise ConfigError(f"the graph has a cycle through: {', '.join(stuck)}")
    return layer


def _order_rows(rows: list[list[str]], parents: Mapping[str, list[str]]) -> None:
    # One barycentre sweep: each node moves towards the mean slot of its parents, which removes most
    # crossings of small workflow DAGs; definition order breaks ties, so the drawing is stable.
    slot: dict[str, float] = {}
    for row in rows:
        if slot:
            row.sort(key=lambda name: sum(slot[p] for p in parents[name]) / len(parents[name])
                     if parents[name] else float("inf"))
        for index, name in enumerate(row):
            slot[name] = float(index)


def layered_layout(nodes: Sequence[str], edges: Sequence[tuple[str, str]], *,
                   widths: Mapping[str, float] | None = None, box_height: float = 44.0,
                   gap_x: float = 32.0, gap_y: float = 56.0, margin: float = 16.0) -> GraphLayout:
    """Place a DAG top-down: layer = longest path from a root; boxes of a layer side by side, centred.

    Args:
        nodes: Node names, in the order ties are broken (a workflow's topological order reads best).
        edges: ``(source, target)`` pairs; both ends must be in ``nodes``.
        widths: Width of each node's box (default 120 for any node not listed).
        box_height: Height of every box.
        gap_x: Horizontal space between boxes of a layer.
        gap_y: Vertical space between layers.
        margin: Space around the drawing.

    Returns:
        The `GraphLayout`; boxes never overlap, and every edge goes from a lower layer to a higher one.

    Raises:
        ConfigError: for duplicate nodes, an edge naming an unknown node, a cycle, or a non-positive size.

    Example:
        >>> placed = layered_layout(["a", "b", "c"], [("a", "b"), ("a", "c"), ("b", "c")])
        >>> {name: box.layer for name, box in placed.boxes.items()}
        {'a': 0, 'b': 1, 'c': 2}
        >>> placed.boxes["b"].y > placed.boxes["a"].y
        True
    """
    if len(set(nodes)) != len(nodes):
        raise ConfigError("layered_layout: node names must be unique")
    if box_height <= 0 or gap_x < 0 or gap_y < 0 or margin < 0:
        raise ConfigError("layered_layout: box_height must be positive and gaps and margin non-negative")
    size = {name: (widths or {}).get(name, 120.0) for name in nodes}
    if any(width <= 0 for width in size.values()):
        raise ConfigError("layered_layout: every box width must be positive")
    layer = _layers(nodes, edges)
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for name in nodes:
        rows[layer[name]].append(name)
    parents: dict[str, list[str]] = {name: [] for name in nodes}
    for source, target in edges:
        parents[target].append(source)
    _order_rows(rows, parents)
    row_widths = [sum(size[name] for name in row) + gap_x * (len(row) - 1) for row in rows]
    widest = max(row_widths, default=0.0)
    boxes: dict[str, Box] = {}
    y = margin
    for index, row in enumerate(rows):
        x = margin + (widest - row_widths[index]) / 2
        for name in row:
            boxes[name] = Box(index, x, y, size[name], box_height)
            # Each position is the previous box's far side plus the gap, computed as the overlap test adds them,
            # so float rounding can never push a box into its neighbour.
            x = (x + size[name]) + gap_x
        y = (y + box_height) + gap_y
    height = y - gap_y + margin if rows else 2 * margin
    return GraphLayout({name: boxes[name] for name in nodes}, tuple(edges), widest + 2 * margin, height)
