"""Workflow semantics on both executors: inputs, conditions, joins, fan-out, expansion, retry, timeout, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from armorer_ray import Caller, Decision, Toolbox
from armorer_ray.workflow import Condition, Edge, Node, NodeRetry, WorkflowExecutor, create_workflow
from tests.workflow import tools as t
from tests.workflow.conftest import outline

BOX = Toolbox([t.numbers, t.square, t.total, t.forecast, t.warmest, t.coldest, t.summary, t.search, t.gather,
               t.plan_searches, t.plan_nested, t.plan_broken, t.nap, t.explode, t.mix])


async def test_roots_take_inputs_and_merged_outputs_flow_down(executor: WorkflowExecutor) -> None:
    wf = create_workflow(nodes={"forecast": t.forecast, "warmest": t.warmest, "coldest": t.coldest,
                                "summary": t.summary},
                         edges=[("forecast", "warmest"), ("forecast", "coldest"),
                                {"from": ["warmest", "coldest"], "to": "summary"}], toolbox=BOX)
    run = await wf.run({"city": "Oslo", "unused": 1}, executor=executor)
    assert run.status == "succeeded"
    assert run.outputs == {"summary": "warmest=15 coldest=9"}
    assert run.nodes["forecast"].result.result["city"] == "Oslo"
    assert run.nodes["summary"].result.tool_name == "summary"


async def test_mapping_reads_paths_and_run_inputs(executor: WorkflowExecutor) -> None:
    wf = create_workflow(
        nodes={"forecast": t.forecast,
               "hot": Node(t.summary, inputs={"warmest": "forecast.temps.1", "coldest": "$inputs.floor"})},
        edges=[("forecast", "hot")], toolbox=BOX)
    run = await wf.run({"city": "Oslo", "floor": -3}, executor=executor)
    assert run.outputs == {"hot": "warmest=15 coldest=-3"}


async def test_conditions_skip_branches_and_any_joins(executor: WorkflowExecutor) -> None:
    wf = create_workflow(
        nodes={"forecast": t.forecast, "warmest": t.warmest, "coldest": t.coldest,
               "summary": Node(t.summary, trigger="any"), "strict": t.summary},
        edges=[Edge("forecast", "warmest", when=Condition(path="sunny")),
               Edge("forecast", "coldest", when=lambda out: not out["sunny"]),
               (["warmest", "coldest"], "summary"), (["warmest", "coldest"], "strict")], toolbox=BOX)
    sunny = await wf.run({"city": "Oslo"}, executor=executor)
    rainy = await wf.run({"city": "Bergen"}, executor=executor)
    assert {n: r.status for n, r in sunny.nodes.items()} == {
        "forecast": "succeeded", "warmest": "succeeded", "coldest": "skipped", "summary": "succeeded",
        "strict": "skipped"}
    assert sunny.outputs == {"summary": "warmest=15 coldest=None"}
    assert rainy.outputs == {"summary": "warmest=None coldest=9"}
    assert sunny.nodes["strict"].reason == "condition on forecast -> coldest is false" or \
        sunny.nodes["strict"].reason == "upstream coldest skipped"
    assert sunny.status == rainy.status == "succeeded"


async def test_fan_out_maps_items_and_fan_in_joins_them(executor: WorkflowExecutor) -> None:
    wf = create_workflow(
        nodes={"numbers": t.numbers, "square": Node(t.square, inputs={"x": "numbers"}, map_over="x"),
               "total": Node(t.total, inputs={"values": "square"})},
        edges=[("numbers", "square"), ("square", "total")], toolbox=BOX)
    run = await wf.run({"n": 5}, executor=executor)
    assert run.outputs == {"total": 55}
    assert run.nodes["square"].output == [1, 4, 9, 16, 25]
    assert [r.call_id.rsplit("/", 1)[1] for r in run.nodes["square"].results] == [f"square[{i}]" for i in range(5)]
    empty = await wf.run({"n": 0}, executor=executor)
    assert empty.outputs == {"total": 0}


async def test_fan_out_over_a_non_list_fails_the_node(executor: WorkflowExecutor) -> None:
    wf = create_workflow(nodes={"square": Node(t.square, map_over="x")}, toolbox=BOX)
    run = await wf.run({"x": 3}, executor=executor)
    assert run.nodes["square"].error.code == "MAP_OVER_NOT_A_LIST"


async def test_expansion_splices_nodes_whose_output_feeds_downstream(executor: WorkflowExecutor) -> None:
    wf = create_workflow(nodes={"plan": t.plan_searches, "count": Node(t.total, inputs={"values": "plan"})},
                         edges=[("plan", "count")], toolbox=BOX)
    run = await wf.run({"queries": ["a", "b", "c"]}, executor=executor)
    assert run.nodes["plan"].output == ["A", "B", "C"]
    assert sorted(run.nodes) == ["count", "plan", "plan/join", "plan/s0", "plan/s1", "plan/s2"]
    assert run.nodes["count"].status == "failed"  # total() of strings: the node's own validation error
    assert run.nodes["count"].error.category == "validation"


async def test_nested_and_invalid_expansions(executor: WorkflowExecutor) -> None:
    nested = await create_workflow(nodes={"p": t.plan_nested}, toolbox=BOX).run({"depth": 2}, executor=executor)
    assert nested.outputs == {"p": {"hits": ["LEAF"]}}
    assert "p/again/again/leaf" in nested.nodes
    broken = await create_workflow(nodes={"p": t.plan_broken}, toolbox=BOX).run(executor=executor)
    assert broken.nodes["p"].error.code == "INVALID_EXPANSION"
    assert "no_such_tool" in broken.nodes["p"].error.message


async def test_retry_runs_the_call_again_through_the_pipeline(executor: WorkflowExecutor, tmp_path: Path) -> None:
    (tmp_path / "fail-a").touch()
    box = Toolbox([t.ledger], context={"log_dir": str(tmp_path)})
    wf = create_workflow(nodes={"a": Node(t.ledger, arguments={"name": "a"}, retry=NodeRetry(attempts=3)),
                                "b": Node(t.ledger, arguments={"name": "b"}, retry=2)},
                         entry=["a", "b"], toolbox=box)
    run = await wf.run(executor=executor)
    assert run.nodes["a"].status == "failed" and run.nodes["a"].attempts == 3
    assert run.nodes["b"].status == "succeeded" and run.nodes["b"].attempts == 1
    assert sorted((tmp_path / "calls").read_text().split()) == ["a", "a", "a", "b"]


async def test_timeout_and_policy_are_per_node(executor: WorkflowExecutor) -> None:
    deny = Node(t.square, arguments={"x": 2}, policy=lambda ctx: Decision.deny("not on weekends"))
    wf = create_workflow(nodes={"slow": Node(t.nap, arguments={"seconds": 30}, timeout_s=0.2), "denied": deny,
                                "free": Node(t.square, arguments={"x": 3})},
                         entry=["slow", "denied", "free"], toolbox=BOX)
    run = await wf.run(executor=executor)
    assert run.nodes["slow"].error.category == "timeout"
    assert run.nodes["denied"].error.code == "POLICY_DENIED"
    assert run.nodes["free"].output == 9  # the same tool without the node's policy
    assert run.status == "failed"


async def test_continue_runs_independent_branches_and_fail_fast_stops(executor: WorkflowExecutor) -> None:
    wf = create_workflow(nodes={"bad": t.explode, "after": Node(t.square, arguments={"x": 1}),
                                "slow": Node(t.nap, arguments={"seconds": 0.5}), "later": Node(t.square, arguments={"x": 2})},
                         edges=[("bad", "after"), ("slow", "later")], toolbox=BOX)
    kept = await wf.run(executor=executor)
    assert [kept.nodes[n].status for n in ("bad", "after", "slow", "later")] == \
        ["failed", "skipped", "succeeded", "succeeded"]
    assert kept.nodes["after"].reason == "upstream bad failed"
    stopped = await wf.run(executor=executor, on_error="fail_fast")
    assert stopped.nodes["bad"].status == "failed"
    assert stopped.nodes["later"].status in ("skipped", "cancelled")
    assert stopped.status == "failed"
    with pytest.raises(Exception, match="first error: RuntimeError: boom"):
        stopped.raise_for_status()


async def test_paused_node_blocks_downstream(executor: WorkflowExecutor) -> None:
    ask = Node(t.square, arguments={"x": 4}, policy=lambda ctx: Decision.needs_approval("needs a human"))
    wf = create_workflow(nodes={"ask": ask, "total": Node(t.total, inputs={"values": "ask"})},
                         edges=[("ask", "total")], toolbox=BOX)
    run = await wf.run(executor=executor)
    assert run.status == "paused"
    assert run.nodes["ask"].status == "paused" and run.nodes["ask"].result.action.type == "approval"
    assert run.nodes["total"].status == "skipped"


async def test_executors_agree_on_a_mixed_workflow(executor: WorkflowExecutor) -> None:
    wf = create_workflow(
        nodes={"forecast": t.forecast, "warmest": t.warmest, "plan": Node(t.plan_searches, inputs={"queries": "$inputs.queries"}),
               "numbers": Node(t.numbers, arguments={"n": 3}),
               "square": Node(t.square, inputs={"x": "numbers"}, map_over="x"), "bad": t.explode},
        edges=[("forecast", "warmest"), ("forecast", "plan"), ("numbers", "square"), ("square", "bad")],
        toolbox=BOX)
    run = await wf.run({"city": "Oslo", "queries": ["q"]}, executor=executor)
    local = await wf.run({"city": "Oslo", "queries": ["q"]})
    assert outline(run) == outline(local)


async def test_every_node_call_carries_the_runs_caller(executor: WorkflowExecutor) -> None:
    traceparent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    wf = create_workflow(
        nodes={"root": Node(t.whoami, arguments={"label": "root"}),
               "each": Node(t.whoami, inputs={"label": "$inputs.labels"}, map_over="label"),
               "spliced": Node(t.plan_whoami, inputs={"labels": "$inputs.labels"})},
        toolbox=Toolbox([t.whoami, t.plan_whoami]))
    caller = Caller(tenant_id="acme", session_id="s1", user_id="ada", priority=3,
                    trace_context={"traceparent": traceparent})
    run = await wf.run({"labels": ["a", "b"]}, executor=executor, caller=caller)
    assert run.status == "succeeded"
    seen = sorted(r.result for node in run.nodes.values() for r in node.results if r.tool_name == "whoami")
    assert seen == sorted(f"{label}:acme/s1/ada/3/{traceparent}" for label in ["root", "a", "b", "a", "b"])
    anonymous = await wf.run({"labels": []}, executor=executor)
    assert anonymous.nodes["root"].output == "root:None/None/None/0/-"
