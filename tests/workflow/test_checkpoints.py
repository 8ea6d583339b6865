"""A failed run resumes from its checkpoints: succeeded nodes are restored, never called again."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from armorer_ray import Toolbox, tool
from armorer_ray.stores import MemoryStore, SqliteStore, Store
from armorer_ray.workflow import CheckpointError, Node, WorkflowExecutor, create_workflow
from tests.workflow import tools as t


def calls(log_dir: Path) -> Counter[str]:
    path = log_dir / "calls"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def ledger_workflow(log_dir: Path) -> object:
    nodes = {name: Node(t.ledger, arguments={"name": name}) for name in ("a", "b", "c", "d", "e")}
    return create_workflow(nodes=nodes, edges=[("a", "b"), ("a", "c"), (["b", "c"], "d"), ("d", "e")],
                           toolbox=Toolbox([t.ledger], context={"log_dir": str(log_dir)}), name="ledger")


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    opened: Store = MemoryStore() if request.param == "memory" else SqliteStore.from_url(
        f"sqlite:///{tmp_path / 'checkpoints.db'}")
    yield opened  # type: ignore[misc]
    await opened.close()


async def test_resume_after_failure_skips_succeeded_nodes(executor: WorkflowExecutor, store: Store,
                                                          tmp_path: Path) -> None:
    wf = ledger_workflow(tmp_path)
    (tmp_path / "fail-c").touch()
    first = await wf.run(executor=executor, checkpoint=store, run_id="r1")  # type: ignore[attr-defined]
    assert first.status == "failed"
    assert {n: r.status for n, r in first.nodes.items()} == {
        "a": "succeeded", "b": "succeeded", "c": "failed", "d": "skipped", "e": "skipped"}
    (tmp_path / "fail-c").unlink()
    second = await wf.resume("r1", checkpoint=store, executor=executor)  # type: ignore[attr-defined]
    assert second.status == "succeeded" and second.outputs == {"e": "e"}
    assert [n for n, r in second.nodes.items() if r.restored] == ["a", "b"]
    assert calls(tmp_path) == Counter({"a": 1, "b": 1, "c": 2, "d": 1, "e": 1})
    again = await wf.run(executor=executor, checkpoint=store, run_id="r1")  # type: ignore[attr-defined]
    assert all(r.restored for r in again.nodes.values()) and again.outputs == {"e": "e"}
    assert sum(calls(tmp_path).values()) == 6


async def test_spliced_nodes_are_checkpointed_under_their_names(executor: WorkflowExecutor, tmp_path: Path) -> None:
    store = SqliteStore.from_url(f"sqlite:///{tmp_path / 'runs.db'}")
    (tmp_path / "fail-y").touch()
    box = Toolbox([t.ledger, t.splice_ledgers], context={"log_dir": str(tmp_path)})
    wf = create_workflow(nodes={"plan": t.splice_ledgers}, toolbox=box, name="spliced")
    first = await wf.run(executor=executor, checkpoint=store, run_id="s1")
    assert first.nodes["plan"].status == "failed" and first.nodes["plan/x"].status == "succeeded"
    (tmp_path / "fail-y").unlink()
    second = await wf.run(executor=executor, checkpoint=store, run_id="s1")
    assert second.outputs == {"plan": {"x": "x", "y": "y"}}
    assert second.nodes["plan/x"].restored and not second.nodes["plan/y"].restored
    assert calls(tmp_path) == Counter({"x": 1, "y": 2})
    await store.close()


async def test_checkpoints_refuse_another_structure_or_other_inputs(tmp_path: Path) -> None:
    async with MemoryStore() as store:
        wf = ledger_workflow(tmp_path)
        await wf.run(checkpoint=store, run_id="r1")  # type: ignore[attr-defined]
        other = create_workflow(nodes={"a": Node(t.ledger, arguments={"name": "z"})}, name="ledger",
                                toolbox=Toolbox([t.ledger], context={"log_dir": str(tmp_path)}))
        with pytest.raises(CheckpointError, match="another structure"):
            await other.run(checkpoint=store, run_id="r1")
        with pytest.raises(CheckpointError, match="other inputs"):
            await wf.run({"extra": 1}, checkpoint=store, run_id="r1")  # type: ignore[attr-defined]
        with pytest.raises(CheckpointError, match="no checkpointed run 'r9'"):
            await wf.resume("r9", checkpoint=store)  # type: ignore[attr-defined]


async def test_outputs_that_are_not_json_cannot_be_checkpointed(tmp_path: Path) -> None:
    wf = create_workflow(nodes={"a": tool(name="obj", description="Return an object.")(lambda: object())})
    with pytest.raises(CheckpointError, match="node 'a': its output cannot be stored as JSON"):
        await wf.run(checkpoint="memory://", run_id="r1")


async def test_a_store_url_is_opened_and_closed_by_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'url.db'}"
    wf = ledger_workflow(tmp_path)
    await wf.run(checkpoint=url, run_id="u1")  # type: ignore[attr-defined]
    resumed = await wf.resume("u1", checkpoint=url)  # type: ignore[attr-defined]
    assert all(r.restored for r in resumed.nodes.values())
