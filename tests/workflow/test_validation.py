"""create_workflow refuses broken graphs before anything runs, with typed errors that say what to change."""

from __future__ import annotations

import pytest

from armorer_ray import ConfigError, Toolbox
from armorer_ray.workflow import (
    CycleError,
    Edge,
    MissingInputError,
    Node,
    NodeRetry,
    UnknownNodeError,
    UnknownToolError,
    UnreachableNodeError,
    WorkflowConfigError,
    create_workflow,
)
from tests.workflow import tools as t

BOX = Toolbox([t.numbers, t.square, t.total, t.forecast, t.warmest, t.summary, t.mix])


def test_errors_are_config_errors() -> None:
    for error in (UnknownNodeError, UnknownToolError, CycleError, UnreachableNodeError, MissingInputError):
        assert issubclass(error, WorkflowConfigError) and issubclass(error, ConfigError)


def test_unknown_node_in_an_edge_or_entry() -> None:
    with pytest.raises(UnknownNodeError, match="edge forecast -> nowhere names unknown node 'nowhere'") as caught:
        create_workflow(nodes={"forecast": t.forecast}, edges=[("forecast", "nowhere")])
    assert caught.value.node == "nowhere"
    with pytest.raises(UnknownNodeError, match="entry node 'x'"):
        create_workflow(nodes={"forecast": t.forecast}, entry=["x"])


def test_unknown_tool_name() -> None:
    with pytest.raises(UnknownToolError, match="node 'a': tool 'nope' is not in the toolbox") as caught:
        create_workflow(nodes={"a": "nope"}, toolbox=BOX)
    assert (caught.value.node, caught.value.tool) == ("a", "nope")


def test_cycles_are_reported_with_their_path() -> None:
    nodes = {name: Node(t.mix, arguments={"name": name, "salt": 1}) for name in "abcd"}
    with pytest.raises(CycleError) as caught:
        create_workflow(nodes=nodes, edges=[("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])
    assert caught.value.cycle == ["b", "c", "d", "b"]
    assert "b -> c -> d -> b" in str(caught.value)
    with pytest.raises(CycleError, match="a -> a"):
        create_workflow(nodes={"a": nodes["a"]}, edges=[("a", "a")])


def test_unreachable_nodes() -> None:
    nodes = {name: Node(t.mix, arguments={"name": name, "salt": 1}) for name in "abc"}
    with pytest.raises(UnreachableNodeError, match="node.s. c connect to no other node") as caught:
        create_workflow(nodes=nodes, edges=[("a", "b")])
    assert caught.value.nodes == ["c"]
    with pytest.raises(UnreachableNodeError, match=r"no entry node \(a\) leads to: c"):
        create_workflow(nodes=nodes, edges=[("a", "b")], entry=["a"])
    assert create_workflow(nodes=nodes, edges=[("a", "b")], entry=["a", "c"]).order == ("a", "c", "b")
    with pytest.raises(WorkflowConfigError, match="entry node 'b' has incoming edges"):
        create_workflow(nodes=nodes, edges=[("a", "b"), ("c", "b")], entry=["a", "b", "c"])


def test_missing_inputs() -> None:
    with pytest.raises(MissingInputError, match="required parameter 'x' of default:square has no source "
                                                r"\(upstream numbers does not provide it\)") as caught:
        create_workflow(nodes={"numbers": t.numbers, "square": t.square}, edges=[("numbers", "square")])
    assert (caught.value.node, caught.value.parameter) == ("square", "x")
    with pytest.raises(MissingInputError, match="the workflow's inputs do not provide it"):
        create_workflow(nodes={"square": t.square}, inputs=["y"])
    with pytest.raises(MissingInputError, match="square': x <- \\$inputs.z"):
        create_workflow(nodes={"square": Node(t.square, inputs={"x": "$inputs.z"})}, inputs=["y"])
    # Sources whose keys are unknown (undeclared inputs, an untyped or dict output) are not second-guessed.
    create_workflow(nodes={"square": t.square})
    create_workflow(nodes={"forecast": t.forecast, "warmest": t.warmest}, edges=[("forecast", "warmest")])
    # A model-less scalar output is known: it arrives under the upstream node's name.
    create_workflow(nodes={"x": Node(t.square, arguments={"x": 2}), "square": t.square}, edges=[("x", "square")])


def test_mapping_sources_must_be_upstream_and_parameters_must_exist() -> None:
    with pytest.raises(UnknownNodeError, match="names unknown node 'ghost'"):
        create_workflow(nodes={"s": Node(t.square, inputs={"x": "ghost.v"})})
    with pytest.raises(WorkflowConfigError, match="add an edge n -> s"):
        create_workflow(nodes={"n": t.numbers, "s": Node(t.square, inputs={"x": "n"}), "z": t.square},
                        edges=[("n", "z")], entry=["n", "s"])
    with pytest.raises(WorkflowConfigError, match="has no parameter 'y'"):
        create_workflow(nodes={"s": Node(t.square, arguments={"y": 1})})
    with pytest.raises(WorkflowConfigError, match="has no parameter 'items'"):
        create_workflow(nodes={"s": Node(t.square, map_over="items")})


def test_malformed_definitions() -> None:
    with pytest.raises(WorkflowConfigError, match="at least one node"):
        create_workflow(nodes={})
    with pytest.raises(WorkflowConfigError, match="no dots"):
        create_workflow(nodes={"a.b": t.square})
    with pytest.raises(WorkflowConfigError, match="given twice"):
        create_workflow(nodes={"a": t.numbers, "b": Node(t.total, inputs={"values": "a"})},
                        edges=[("a", "b"), Edge("a", "b")])
    with pytest.raises(WorkflowConfigError, match="an edge is an Edge"):
        create_workflow(nodes={"a": t.numbers}, edges=[("a",)])  # type: ignore[list-item]
    with pytest.raises(WorkflowConfigError, match="retry attempts must be at least 1"):
        NodeRetry(attempts=0)
    with pytest.raises(WorkflowConfigError, match="timeout_s must be a positive number"):
        Node(t.square, timeout_s=0)
    with pytest.raises(WorkflowConfigError, match="trigger must be"):
        Node(t.square, trigger="most")  # type: ignore[arg-type]
    with pytest.raises(WorkflowConfigError, match="a node must be a Node"):
        create_workflow(nodes={"a": 3})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="policy must have before_execute"):
        create_workflow(nodes={"a": Node(t.square, policy=3)})


def test_a_tool_object_clashing_with_the_toolbox_is_refused() -> None:
    other = t.square.replace(description="Another square.")
    with pytest.raises(WorkflowConfigError, match="another tool is already registered as default:square"):
        create_workflow(nodes={"a": other}, toolbox=BOX)


def test_tools_missing_from_the_toolbox_are_added_to_a_copy() -> None:
    wf = create_workflow(nodes={"n": t.numbers, "s": Node(t.square, arguments={"x": 2})}, entry=["n", "s"],
                         toolbox=Toolbox([t.numbers], name="mine"))
    assert wf.toolbox.name == "mine" and "square" in wf.toolbox


def test_run_time_checks() -> None:
    wf = create_workflow(nodes={"s": t.square}, inputs=["x"])
    with pytest.raises(MissingInputError, match="needs inputs: x"):
        wf.run_sync({})
    with pytest.raises(WorkflowConfigError, match="executor must be"):
        wf.run_sync({"x": 1}, executor="threads")
    with pytest.raises(WorkflowConfigError, match="on_error must be"):
        wf.run_sync({"x": 1}, on_error="ignore")
