"""A 200-node random DAG on both executors, checked against a plain-Python topological execution."""

from __future__ import annotations

import random

import pytest

from armorer_ray import Toolbox
from armorer_ray.workflow import Node, WorkflowExecutor, create_workflow
from tests.workflow import tools as t


def random_dag(seed: int, size: int) -> tuple[dict[str, Node], list[tuple[str, str]], dict[str, list[str]]]:
    """Nodes ``n0..``, each drawing 0-3 parents among the 30 before it, with a random salt."""
    rng = random.Random(seed)
    nodes: dict[str, Node] = {}
    parents: dict[str, list[str]] = {}
    for i in range(size):
        name = f"n{i}"
        window = list(range(max(0, i - 30), i))
        chosen = rng.sample(window, min(len(window), rng.choice([0, 1, 1, 2, 2, 3]))) if i else []
        parents[name] = [f"n{p}" for p in sorted(chosen)]
        nodes[name] = Node(t.mix, arguments={"name": name, "salt": rng.randrange(1000)})
    edges = [(parent, child) for child, ups in parents.items() for parent in ups]
    return nodes, edges, parents


def reference(nodes: dict[str, Node], parents: dict[str, list[str]]) -> dict[str, int]:
    """Run the same formula in topological order (node names are already one), no framework involved."""
    values: dict[str, int] = {}
    for name, node in nodes.items():
        values[name] = t.mix_value(name, node.arguments["salt"], {p: values[p] for p in parents[name]})
    return values


@pytest.mark.parametrize("seed", [7, 2024])
async def test_random_dag_matches_the_reference(executor: WorkflowExecutor, seed: int) -> None:
    nodes, edges, parents = random_dag(seed, 200)
    roots = [name for name, ups in parents.items() if not ups]
    wf = create_workflow(nodes=nodes, edges=edges, entry=roots, toolbox=Toolbox([t.mix]), name="random")
    run = await wf.run(executor=executor)
    expected = reference(nodes, parents)
    assert run.status == "succeeded"
    assert {name: node.output for name, node in run.nodes.items()} == {n: {n: v} for n, v in expected.items()}
    assert run.outputs == {name: {name: expected[name]} for name in wf.sinks}
    settled = {name: index for index, name in enumerate(run.nodes)}
    assert all(settled[p] < settled[child] for child, ups in parents.items() for p in ups)  # causal order
    assert len(edges) > 200 and len(wf.sinks) > 10
