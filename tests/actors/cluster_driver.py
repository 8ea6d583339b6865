"""A driver process for the multi-node tests, against ``--address``; prints one JSON line.

``deploy`` / ``attach``: a detached deployment made by one driver and used (then shut down) by another (also
across a restart of the head node, for GCS fault tolerance).
``fault``: a 2,000-call mixed batch while every process of a worker node that hosts a replica is killed (and the
controller is lost with it, or killed at the same moment); then the recovery as the old handle sees it.

Run as a script (its tools are pickled by value from ``__main__``), never imported by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import ray

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, ControllerOptions, DeploymentOptions, deploy, get_deployment
from armorer_ray.actors._private.snapshot import controller_name, replica_prefix

ROOT = Path(__file__).resolve().parents[2]


@tool(read_only=True)
def node() -> dict[str, object]:
    """Say which node and process runs this call."""
    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


async def run_deploy(name: str, strategy: str, workers_only: bool) -> dict[str, object]:
    steer = {"worker_node": 0.001} if workers_only else {}
    dep = deploy(Toolbox([node]), replicas=2, name=name, namespace="cluster-test", detached=True,
                 options=DeploymentOptions(max_concurrency=4, batch_size=4),
                 actor_options=ActorOptions(num_cpus=0, placement_strategy=strategy, resources=steer))  # type: ignore[arg-type]
    await dep.ready(timeout_s=180)
    results = await dep.execute([ToolCall(name="node") for _ in range(40)])
    stats = await dep.stats()
    return {"ok": all(r.ok for r in results), "nodes": sorted({r.result["node"] for r in results}),
            "replica_nodes": sorted({r.node_id for r in stats.replicas}), "driver_node": ray.get_runtime_context()
            .get_node_id(), "replicas": sorted([r.replica_id, r.pid] for r in stats.replicas), "epoch": stats.epoch}


async def run_attach(name: str) -> dict[str, object]:
    dep = get_deployment(name, namespace="cluster-test")
    await dep.ready(timeout_s=180)
    results = await dep.execute([ToolCall(name="node") for _ in range(20)])
    ok = all(r.ok for r in results)
    nodes = sorted({r.result["node"] for r in results})
    stats = await dep.stats()
    report = await dep.shutdown()
    return {"ok": ok, "nodes": nodes, "replicas": sorted([r.replica_id, r.pid] for r in stats.replicas),
            "epoch": stats.epoch, "errors": sorted({r.error.code for r in results if r.error}),
            "shutdown_ok": report.ok}


@tool(read_only=True, idempotent=True)
async def lookup(i: int, ctx: CallContext) -> int:
    """An idempotent read: failed over when its replica dies."""
    await ctx["counter"].hit.remote(f"lookup:{ctx.call.id}")
    await asyncio.sleep(0.01)
    return i


@tool(mutates=True)
async def write(i: int, ctx: CallContext) -> int:
    """A write: never run twice; ends REPLICA_DIED when its replica dies mid-call."""
    await ctx["counter"].hit.remote(f"write:{ctx.call.id}")
    await asyncio.sleep(0.01)
    return i


class Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def hit(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    async def total(self) -> int:
        return len(self.counts)

    async def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


def _local() -> Any:
    spec = importlib.util.spec_from_file_location("cluster_local", ROOT / "cluster" / "local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _workers() -> dict[str, str]:
    """worker_<n> -> node id, for live worker nodes."""
    found: dict[str, str] = {}
    for node in ray.nodes():
        for key in node["Resources"]:
            if node["Alive"] and key.startswith("worker_") and key != "worker_node":
                found[key] = node["NodeID"]
    return found


async def run_fault(name: str, strategy: str, state_path: str, calls: int) -> dict[str, object]:
    state = json.loads(await asyncio.to_thread(Path(state_path).read_text))
    workers = _workers()
    worker_pids: dict[str, int] = state["workers_by_resource"]
    counter: Any = ray.remote(Counter).options(num_cpus=0, resources={"head_node": 0.001}).remote()
    controller_home = workers[sorted(workers)[-1]]
    # STRICT_SPREAD may use the head too (two replicas over three nodes leave one free for the replacement); the
    # other strategies are kept off the head, so a worker always holds a replica to lose.
    steer = {} if strategy == "STRICT_SPREAD" else {"worker_node": 0.001}
    dep = deploy(Toolbox([lookup, write], context={"counter": counter}), replicas=2, name=name,
                 namespace="cluster-test",
                 # A failed-over call may wait for a replica as long as recovery may take (the test's bound is 90 s).
                 options=DeploymentOptions(max_concurrency=8, batch_size=8, max_queued=5_000, health_period_s=1.0,
                                           health_timeout_s=5.0, unhealthy_after=2, failover_attempts=3,
                                           unavailable_timeout_s=120.0),
                 actor_options=ActorOptions(num_cpus=0, placement_strategy=strategy, resources=steer),  # type: ignore[arg-type]
                 controller=ControllerOptions(placement="node", node_id=controller_home, soft=True))
    await dep.ready(timeout_s=180)
    before = await dep.stats()
    replica_nodes = {r.node_id for r in before.replicas}
    victims = [w for w in sorted(workers, reverse=True) if workers[w] in replica_nodes]
    victim = victims[0]
    batch = [ToolCall(id=f"c{i}", name="lookup" if i % 2 else "write", arguments={"i": i}) for i in range(calls)]
    running = asyncio.ensure_future(dep.execute(batch))
    for _ in range(1_200):  # kill once calls are flowing
        if await counter.total.remote() >= calls // 10:
            break
        await asyncio.sleep(0.05)
    killed_at = time.monotonic()
    _local().kill_node(state, worker_pids[victim])
    try:  # lose the controller too, at the same moment (Ray's soft placement may have put it elsewhere)
        ray.kill(ray.get_actor(controller_name(name), namespace="cluster-test"), no_restart=False)
    except Exception:  # it was on the node just killed, and Ray is already restarting it
        pass
    await asyncio.to_thread(Path(state_path).write_text, json.dumps(state))
    recovery = asyncio.ensure_future(_recovered(dep, before.epoch, workers[victim], killed_at))  # while calls run
    results = await asyncio.wait_for(running, 600)
    batch_s = time.monotonic() - killed_at
    recovered_s, seen = await recovery
    after = seen or before
    second = await dep.execute([ToolCall(name="lookup", arguments={"i": i}) for i in range(200)])
    counts = await counter.snapshot.remote()
    handle = (await dep.stats()).handle
    report = await dep.shutdown(timeout_s=10)
    prefix = replica_prefix(name)
    leftover: list[str] = []
    for _ in range(100):
        leftover = [e["name"] for e in ray.util.list_named_actors(all_namespaces=True)
                    if e["name"].startswith(prefix)]
        if not leftover:
            break
        await asyncio.sleep(0.2)
    writes = [r for r in results if r.tool_name == "write"]
    return {
        "strategy": strategy, "results": len(results), "in_order": [r.call_id for r in results] == [c.id for c in batch],
        "lookups_ok": all(r.ok for r in results if r.tool_name == "lookup"),
        "write_failures": sorted({r.error.code for r in writes if r.error is not None}),
        "writes_died": sum(1 for r in writes if not r.ok),
        "lookup_failures": sorted({f"{r.error.code}: {r.error.message[:300]}" for r in results
                                   if r.tool_name == "lookup" and r.error is not None})[:3],
        "max_write_runs": max((counts.get(f"write:{r.call_id}", 0) for r in writes), default=0),
        "died_writes_that_ran": sum(1 for r in writes if not r.ok and counts.get(f"write:{r.call_id}", 0)),
        "controller_on_victim": workers[victim] == controller_home, "epoch_changed": after.epoch != before.epoch,
        "batch_s": round(batch_s, 1), "recovered_s": None if recovered_s is None else round(recovered_s, 1),
        "replica_nodes_after": sorted(str(r.node_id) for r in after.replicas), "victim_node": workers[victim],
        # replicas of the first controller life still there after recovery (Ray restarted them, the new life adopted)
        "kept_replicas": len({r.replica_id for r in before.replicas} & {r.replica_id for r in after.replicas}),
        "failovers": handle.failovers,
        "second_ok": all(r.ok for r in second), "shutdown_ok": report.ok, "leftover": leftover,
    }


async def _recovered(dep: Any, epoch: str, lost_node: str, since: float) -> tuple[float | None, Any]:
    """Seconds from the kill until a new controller life has two healthy replicas, none on the lost node."""
    after = None
    while time.monotonic() - since < 300:
        try:
            after = await dep.stats()
        except Exception:  # the controller is restarting
            await asyncio.sleep(0.5)
            continue
        nodes = {r.node_id for r in after.replicas}
        if (after.epoch != epoch and after.healthy_replicas == 2 and len(after.replicas) == 2
                and None not in nodes and lost_node not in nodes):  # every replica answered, none on the lost node
            return time.monotonic() - since, after
        await asyncio.sleep(0.25)
    return None, after


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["deploy", "attach", "fault"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--strategy", default="STRICT_SPREAD")
    parser.add_argument("--state", default="")
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--workers-only", action="store_true", help="deploy: keep replicas off the head")
    args = parser.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    if args.mode == "fault":
        outcome = asyncio.run(run_fault(args.name, args.strategy, args.state, args.calls))
    elif args.mode == "deploy":
        outcome = asyncio.run(run_deploy(args.name, args.strategy, args.workers_only))
    else:
        outcome = asyncio.run(run_attach(args.name))
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
