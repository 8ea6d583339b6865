"""The layered layout: properties over random DAGs, and the graphs it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray.errors import ConfigError
from armorer_ray.ui import layered_layout


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]], dict[str, float]]:
    """Random DAGs: edges only go from an earlier to a later name of a hidden order, listed shuffled."""
    count = draw(st.integers(1, 14))
    names = [f"n{index}" for index in range(count)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=30)) if pairs else []
    widths = {name: draw(st.floats(1, 400, allow_nan=False)) for name in names}
    return draw(st.permutations(names)), edges, widths


@settings(max_examples=200, deadline=None)
@given(dags(), st.floats(1, 80), st.floats(0, 60), st.floats(0, 60))
def test_edges_point_down_the_layers_and_boxes_never_overlap(
        dag: tuple[list[str], list[tuple[str, str]], dict[str, float]], height: float, gap_x: float,
        gap_y: float) -> None:
    nodes, edges, widths = dag
    placed = layered_layout(nodes, edges, widths=widths, box_height=height, gap_x=gap_x, gap_y=gap_y)
    boxes = placed.boxes
    assert list(boxes) == nodes and placed.edges == tuple(edges)
    for source, target in edges:
        assert boxes[source].layer < boxes[target].layer
        assert boxes[source].y + boxes[source].height <= boxes[target].y
    for index, name in enumerate(nodes):
        box = boxes[name]
        assert box.width == widths[name] and box.height == height
        assert box.x >= 0 and box.x + box.width <= placed.width + 1e-6
        assert box.y >= 0 and box.y + box.height <= placed.height + 1e-6
        for other in nodes[index + 1:]:
            assert not box.overlaps(boxes[other]), (name, other)
    # Longest path: a node with parents sits exactly one layer below its deepest parent.
    for name in nodes:
        parents = [boxes[s].layer for s, t in edges if t == name]
        assert boxes[name].layer == (max(parents) + 1 if parents else 0)


def test_a_diamond_is_three_layers_with_the_middle_side_by_side() -> None:
    placed = layered_layout(["top", "left", "right", "bottom"],
                            [("top", "left"), ("top", "right"), ("left", "bottom"), ("right", "bottom")],
                            gap_x=10, margin=0)
    left, right = placed.boxes["left"], placed.boxes["right"]
    assert [placed.boxes[n].layer for n in ("top", "left", "right", "bottom")] == [0, 1, 1, 2]
    assert left.y == right.y and right.x == left.x + left.width + 10
    assert placed.width == 250  # two 120-wide boxes and one gap


@pytest.mark.parametrize(("nodes", "edges", "message"), [
    (["a", "b"], [("a", "b"), ("b", "a")], "cycle through: a, b"),
    (["a"], [("a", "z")], "unknown node 'z'"),
    (["a", "a"], [], "unique"),
])
def test_graphs_that_cannot_be_layered_are_refused(nodes: list[str], edges: list[tuple[str, str]],
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        layered_layout(nodes, edges)


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="width"):
        layered_layout(["a"], [], widths={"a": 0})
    with pytest.raises(ConfigError, match="box_height"):
        layered_layout(["a"], [], box_height=-1)
