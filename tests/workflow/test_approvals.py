"""Approvals inside a run (docs/workflows.md, "Approvals inside a run"), on both executors.

A paused node ends the run ``paused`` with its resume token in the node's result, and the checkpoint records
which of its calls wait (id and argument digest). `Workflow.resume(..., approvals=...)` runs those calls as
approved (or fails them as rejected), but only with the arguments the checkpoint saw; other nodes that succeeded
are restored. Without approvals, resuming calls the paused node again and its policy decides afresh.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from armorer_ray import Approval, Toolbox
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import Node, NodeRun, WorkflowConfigError, WorkflowExecutor, create_workflow
from armorer_ray.workflow.checkpoints import Checkpoints
from tests.workflow import tools as t


def calls(log_dir: Path) -> Counter[str]:
    return Counter((log_dir / "calls").read_text().split())


async def test_a_paused_node_pauses_the_run_and_resume_asks_its_policy_again(executor: WorkflowExecutor,
                                                                              tmp_path: Path) -> None:
    wf = create_workflow(
        nodes={"fetch": Node(t.ledger, arguments={"name": "fetch"}),
               "publish": Node(t.ledger, arguments={"name": "publish"}, policy=t.approval_on_file),
               "notify": Node(t.ledger, arguments={"name": "notify"}),
               "side": Node(t.ledger, arguments={"name": "side"})},
        edges=[("fetch", "publish"), ("publish", "notify")], entry=["fetch", "side"],
        toolbox=Toolbox([t.ledger], context={"log_dir": str(tmp_path)}), name="approvals")
    store = MemoryStore()
    first = await wf.run(executor=executor, checkpoint=store, run_id="r1", on_error="fail_fast")
    paused = first.nodes["publish"]
    assert first.status == "paused"  # not failed, and fail_fast does not stop at a pause
    assert (paused.status, paused.error, paused.reason, paused.attempts) == ("paused", None, "publish publish?", 1)
    assert paused.result is not None and paused.result.outcome == "action_required"
    token = paused.result.action.resume_token if paused.result.action else None
    assert paused.result.action is not None and paused.result.action.type == "approval" and token
    assert (first.nodes["notify"].status, first.nodes["notify"].reason) == ("skipped", "upstream publish paused")
    assert first.nodes["side"].status == "succeeded" and first.outputs == {"side": "side"}
    assert calls(tmp_path) == Counter({"fetch": 1, "side": 1})  # a pause comes before the body

    again = await wf.resume("r1", checkpoint=store, executor=executor)
    repaused = again.nodes["publish"]
    assert again.status == "paused" and repaused.status == "paused"  # the node is called again, and asks again
    assert repaused.result is not None and repaused.result.action is not None
    assert repaused.result.action.resume_token not in (None, token)
    assert again.nodes["fetch"].restored and again.nodes["side"].restored

    (tmp_path / "approved-publish").touch()  # the approval, where the node's policy looks for it
    done = await wf.resume("r1", checkpoint=store, executor=executor)
    assert done.status == "succeeded" and done.outputs == {"notify": "notify", "side": "side"}
    assert not done.nodes["publish"].restored and done.nodes["fetch"].restored
    assert calls(tmp_path) == Counter({"fetch": 1, "side": 1, "publish": 1, "notify": 1})


def gated_toolbox(log_dir: Path) -> Toolbox:
    """Ledger calls named ``gated...`` pause for approval (a toolbox policy); each call is logged in ``log_dir``."""
    return Toolbox([t.ledger, t.plan_page], policy=t.ask_for_gated, context={"log_dir": str(log_dir)})


def chain(log_dir: Path) -> object:
    return create_workflow(
        nodes={"fetch": Node(t.ledger, arguments={"name": "fetch"}),
               "publish": Node(t.ledger, arguments={"name": "gated-publish"}),
               "notify": Node(t.ledger, arguments={"name": "notify"})},
        edges=[("fetch", "publish"), ("publish", "notify")], toolbox=gated_toolbox(log_dir), name="chain")


async def test_an_approved_node_runs_once_and_its_downstream_runs(executor: WorkflowExecutor, tmp_path: Path) -> None:
    wf = chain(tmp_path)
    store = MemoryStore()
    first = await wf.run(executor=executor, checkpoint=store, run_id="r1")
    assert first.status == "paused" and first.nodes["publish"].status == "paused"
    paused = await Checkpoints(store, "chain", "r1").paused()
    assert list(paused) == ["publish"] and paused["publish"].action == "approval"
    assert paused["publish"].message == "may gated-publish run?"
    assert [w.call_id for w in paused["publish"].calls] == ["r1/publish"]
    settled: list[NodeRun] = []
    wf.events.on("node.succeeded", lambda event: settled.append(event.detail["run"]))

    done = await wf.resume("r1", checkpoint=store, executor=executor,
                           approvals={"publish": Approval(True, by="ada")})
    assert done.status == "succeeded" and done.outputs == {"notify": "notify"}
    assert done.nodes["fetch"].restored and not done.nodes["publish"].restored
    assert done.nodes["publish"].approval == Approval(True, by="ada")
    assert done.nodes["notify"].approval is None
    assert [(run.node, run.approval.by if run.approval else None) for run in settled if not run.restored] == [
        ("publish", "ada"), ("notify", None)]
    assert calls(tmp_path) == Counter({"fetch": 1, "gated-publish": 1, "notify": 1})
    assert await Checkpoints(store, "chain", "r1").paused() == {}  # nothing waits any more
    with pytest.raises(WorkflowConfigError, match="not paused: publish; paused nodes: none"):
        await wf.resume("r1", checkpoint=store, executor=executor, approvals={"publish": True})
    again = await wf.resume("r1", checkpoint=store, executor=executor)
    assert again.nodes["publish"].restored and again.nodes["publish"].approval == Approval(True, by="ada")
    assert calls(tmp_path) == Counter({"fetch": 1, "gated-publish": 1, "notify": 1})


async def test_a_rejected_node_fails_and_its_downstream_is_skipped(executor: WorkflowExecutor,
                                                                   tmp_path: Path) -> None:
    wf = chain(tmp_path)
    store = MemoryStore()
    await wf.run(executor=executor, checkpoint=store, run_id="r1")
    rejected = await wf.resume("r1", checkpoint=store, executor=executor,
                               approvals={"publish": Approval(False, by="ops", reason="not this week")})
    publish = rejected.nodes["publish"]
    assert rejected.status == "failed" and publish.status == "failed"
    assert publish.error is not None and (publish.error.category, publish.error.code) == ("permission",
                                                                                         "APPROVAL_REJECTED")
    assert publish.error.message == "Approval rejected: not this week"
    assert publish.approval == Approval(False, by="ops", reason="not this week")
    assert (rejected.nodes["notify"].status, rejected.nodes["notify"].reason) == ("skipped", "upstream publish failed")
    assert calls(tmp_path) == Counter({"fetch": 1})  # the body never ran
    assert await Checkpoints(store, "chain", "r1").paused() == {}


async def test_approvals_for_nodes_that_are_not_paused_are_refused_before_anything_runs(
        executor: WorkflowExecutor, tmp_path: Path) -> None:
    wf = chain(tmp_path)
    store = MemoryStore()
    await wf.run(executor=executor, checkpoint=store, run_id="r1")
    before = calls(tmp_path)
    with pytest.raises(WorkflowConfigError, match="not paused: fetch, nope; paused nodes: publish"):
        await wf.resume("r1", checkpoint=store, executor=executor, approvals={"fetch": True, "nope": True,
                                                                             "publish": True})
    with pytest.raises(WorkflowConfigError, match="node 'publish' must be True, False or an Approval, got str"):
        await wf.resume("r1", checkpoint=store, executor=executor, approvals={"publish": "yes"})  # type: ignore[dict-item]
    assert calls(tmp_path) == before
    assert list(await Checkpoints(store, "chain", "r1").paused()) == ["publish"]


async def test_an_approval_never_covers_arguments_nobody_saw(executor: WorkflowExecutor, tmp_path: Path) -> None:
    (tmp_path / "page").write_text("gated-a")
    wf = create_workflow(nodes={"plan": t.plan_page}, toolbox=gated_toolbox(tmp_path), name="pages")
    store = MemoryStore()
    first = await wf.run(executor=executor, checkpoint=store, run_id="r1")
    assert (first.status, first.nodes["plan"].status, first.nodes["plan/step"].status) == ("paused", "paused",
                                                                                           "paused")
    assert list(await Checkpoints(store, "pages", "r1").paused()) == ["plan/step"]  # the expansion waits on nothing
    (tmp_path / "page").write_text("gated-b")  # the spliced call is re-built with other arguments
    asked = await wf.resume("r1", checkpoint=store, executor=executor, approvals={"plan/step": True})
    step = asked.nodes["plan/step"]
    assert asked.status == "paused" and step.status == "paused" and step.approval is None
    assert step.reason == "may gated-b run?"
    assert (tmp_path / "calls").exists() is False  # nothing gated ran
    done = await wf.resume("r1", checkpoint=store, executor=executor, approvals={"plan/step": True})
    assert done.status == "succeeded" and done.outputs == {"plan": {"step": "gated-b"}}
    assert calls(tmp_path) == Counter({"gated-b": 1})


async def test_a_fanned_out_node_with_two_paused_items(executor: WorkflowExecutor, tmp_path: Path) -> None:
    wf = create_workflow(nodes={"each": Node(t.ledger, inputs={"name": "$inputs.names"}, map_over="name")},
                         toolbox=gated_toolbox(tmp_path), name="fan")
    store = MemoryStore()
    first = await wf.run({"names": ["gated-x", "open", "gated-y"]}, executor=executor, checkpoint=store,
                         run_id="r1")
    each = first.nodes["each"]
    assert each.status == "paused" and [r.outcome for r in each.results] == ["action_required", "success",
                                                                             "action_required"]
    recorded = (await Checkpoints(store, "fan", "r1").paused())["each"]
    assert [w.call_id for w in recorded.calls] == ["r1/each[0]", "r1/each[2]"]
    done = await wf.resume("r1", checkpoint=store, executor=executor, approvals={"each": Approval(True, by="ada")})
    assert done.status == "succeeded" and done.outputs == {"each": ["gated-x", "open", "gated-y"]}
    assert done.nodes["each"].approval == Approval(True, by="ada")
    # The node did not succeed, so all of it ran again: the item that did not pause runs twice.
    assert calls(tmp_path) == Counter({"open": 2, "gated-x": 1, "gated-y": 1})


async def test_input_reaches_the_body_through_the_approval(executor: WorkflowExecutor, tmp_path: Path) -> None:
    wf = create_workflow(nodes={"unlock": Node(t.unlock, arguments={"door": "vault"}, policy=t.needs_otp)},
                         name="vault")
    store = MemoryStore()
    first = await wf.run(executor=executor, checkpoint=store, run_id="r1")
    assert first.nodes["unlock"].status == "paused"
    assert (await Checkpoints(store, "vault", "r1").paused())["unlock"].action == "input"
    asked = await wf.resume("r1", checkpoint=store, executor=executor, approvals={"unlock": True})
    assert asked.nodes["unlock"].status == "paused"  # a yes without the input asks again
    done = await wf.resume("r1", checkpoint=store, executor=executor,
                           approvals={"unlock": Approval(True, input={"otp": "4711"}, by="ada")})
    assert done.outputs == {"unlock": "vault opened with 4711 by ada"}
