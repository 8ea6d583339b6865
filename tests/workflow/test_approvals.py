"""Pins what a run does when a node's call pauses for approval (docs/workflows.md, "Approvals"), on both executors.

A paused node ends the run ``paused`` with its resume token in the node's result; checkpoints keep only succeeded
nodes, so resuming the run calls the paused node again through the pipeline (its policy decides afresh) and
restores the rest. Nothing feeds a token resumed with `Toolbox.resume` back into the run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from armorer_ray import Conflict, Toolbox
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import Node, WorkflowExecutor, create_workflow
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
    with pytest.raises(Conflict):  # the call waits in the node's own copy of the toolbox (on Ray, in the worker's)
        await wf.toolbox.resume(token)

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
