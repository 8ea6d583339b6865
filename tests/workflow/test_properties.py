"""Property tests: any DAG orders topologically, round-trips through JSON and pickle, and any back edge is a cycle;
approvals round-trip, cover exactly the arguments they were given for, and name only paused nodes."""

from __future__ import annotations

import itertools
import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import Approval, Toolbox, ToolCall
from armorer_ray.json_values import canonical_json
from armorer_ray.workflow import (
    CallApprovals,
    Condition,
    CycleError,
    Edge,
    Node,
    NodeRetry,
    NodeRun,
    PausedNode,
    WaitingCall,
    Workflow,
    WorkflowConfigError,
    create_workflow,
)
from armorer_ray.workflow.approvals import approval_from_json, approval_to_json
from tests.workflow import tools as t

BOX = Toolbox([t.mix])


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, Node], list[Edge]]:
    size = draw(st.integers(2, 12))
    nodes = {f"n{i}": Node(t.mix, arguments={"name": f"n{i}", "salt": draw(st.integers(0, 9))},
                           retry=draw(st.none() | st.builds(NodeRetry, attempts=st.integers(1, 3))),
                           trigger=draw(st.sampled_from(["all", "any"])))
             for i in range(size)}
    edges = []
    for child in range(1, size):
        for parent in draw(st.sets(st.integers(0, child - 1), max_size=3)):
            when = draw(st.none() | st.builds(Condition, path=st.just(f"n{parent}"), op=st.sampled_from(["truthy", "gt"]),
                                              value=st.integers(0, 5)))
            edges.append(Edge(f"n{parent}", f"n{child}", when=when))
    return nodes, edges


@settings(max_examples=60, deadline=None)
@given(dags())
def test_order_is_topological_and_json_round_trips(dag: tuple[dict[str, Node], list[Edge]]) -> None:
    nodes, edges = dag
    wf = create_workflow(nodes=nodes, edges=edges, toolbox=BOX, entry=[n for n in nodes
                                                                     if not any(e.target == n for e in edges)])
    position = {name: i for i, name in enumerate(wf.order)}
    assert all(position[e.source] < position[e.target] for e in edges)  # type: ignore[index]
    data = wf.to_json()
    again = Workflow.from_json(json.loads(json.dumps(data)), BOX)
    assert again.to_json() == data and again.order == wf.order
    assert pickle.loads(pickle.dumps(wf.plan)).order == wf.order


@settings(max_examples=60, deadline=None)
@given(dags(), st.data())
def test_any_back_edge_makes_a_cycle(dag: tuple[dict[str, Node], list[Edge]], data: st.DataObject) -> None:
    nodes, edges = dag
    if not edges:
        return
    forward = data.draw(st.sampled_from(edges))
    try:
        create_workflow(nodes=nodes, edges=[*edges, Edge(forward.target, forward.source)], toolbox=BOX)
    except CycleError as exc:
        cycle = exc.cycle
        assert cycle[0] == cycle[-1] and len(cycle) >= 3
        pairs = {(e.source, e.target) for e in [*edges, Edge(forward.target, forward.source)]}
        assert all((a, b) in pairs for a, b in itertools.pairwise(cycle))
    else:
        raise AssertionError("a back edge was accepted")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=3), max_leaves=8)


@given(st.sampled_from(["succeeded", "failed", "skipped"]), json_values, st.floats(0, 1e6), st.integers(0, 5))
def test_node_runs_round_trip_through_json_and_pickle(status: str, output: object, started: float,
                                                     attempts: int) -> None:
    run = NodeRun("n", status, output=output, started_at=started, attempts=attempts)  # type: ignore[arg-type]
    back = NodeRun.from_json(json.loads(json.dumps(run.to_json())))
    assert (back.status, back.output, back.started_at, back.attempts) == (status, output, started, attempts)
    assert pickle.loads(pickle.dumps(run)) == run


approvals = st.builds(Approval, st.booleans(), json_values, st.none() | st.text(max_size=5),
                      st.none() | st.text(max_size=5))
arguments = st.dictionaries(st.text(max_size=4), json_values, max_size=4)


@given(approvals, st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=3),
       st.sampled_from(["approval", "input"]), st.none() | st.text(max_size=8))
def test_approvals_and_paused_nodes_round_trip_through_json_and_pickle(
        approval: Approval, calls: list[tuple[str, str]], action: str, message: str | None) -> None:
    paused = PausedNode("n", action, message, tuple(WaitingCall(i, d) for i, d in calls))  # type: ignore[arg-type]
    assert PausedNode.from_json(json.loads(json.dumps(paused.to_json()))) == paused
    assert approval_from_json(json.loads(json.dumps(approval_to_json(approval)))) == approval
    run = NodeRun("n", "succeeded", output=1, approval=approval)
    assert NodeRun.from_json(json.loads(json.dumps(run.to_json()))).approval == approval
    decided = CallApprovals.decide({"n": approval}, {"n": paused})
    assert pickle.loads(pickle.dumps(decided)) == decided


@given(arguments, arguments, st.text(max_size=4))
def test_a_waiting_call_covers_exactly_its_id_and_arguments(seen: dict[str, object], sent: dict[str, object],
                                                            other_id: str) -> None:
    waiting = WaitingCall.of(ToolCall(id="r/n", name="x", arguments=seen))
    reordered = dict(reversed(list(seen.items())))
    assert waiting.covers(ToolCall(id="r/n", name="x", arguments=reordered))  # key order is not a difference
    assert waiting.covers(ToolCall(id="r/n", name="x", arguments=sent)) == (canonical_json(seen) == canonical_json(sent))
    assert not waiting.covers(ToolCall(id="r/n" + other_id + "!", name="x", arguments=seen))


@given(st.sets(st.sampled_from("abcdef"), max_size=4), st.dictionaries(st.sampled_from("abcdefg"), st.booleans(),
                                                                       max_size=4))
def test_decisions_must_name_paused_nodes_and_cover_each_of_their_calls(paused_names: set[str],
                                                                        decisions: dict[str, bool]) -> None:
    paused = {name: PausedNode(name, "approval", None, (WaitingCall(f"{name}[0]", "d"), WaitingCall(f"{name}[1]", "d")))
              for name in paused_names}
    if not set(decisions) <= paused_names:
        with pytest.raises(WorkflowConfigError, match="not paused"):
            CallApprovals.decide(decisions, paused)
        return
    decided = CallApprovals.decide(decisions, paused)
    assert {call_id: approval.granted for call_id, (_, approval) in decided.by_call.items()} == {
        f"{name}[{i}]": granted for name, granted in decisions.items() for i in range(2)}
