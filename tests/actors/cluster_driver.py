"""A driver process for the multi-node test: ``deploy`` or ``attach`` against ``--address``; prints one JSON line.

Run as a script (its tools are pickled by value from ``__main__``), never imported by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

import ray

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, DeploymentOptions, deploy, get_deployment


@tool(read_only=True)
def node() -> dict[str, object]:
    """Say which node and process runs this call."""
    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


async def run_deploy(name: str) -> dict[str, object]:
    dep = deploy(Toolbox([node]), replicas=2, name=name, namespace="cluster-test", detached=True,
                 options=DeploymentOptions(max_concurrency=4, batch_size=4),
                 actor_options=ActorOptions(num_cpus=0, placement_strategy="STRICT_SPREAD"))
    await dep.ready()
    results = await dep.execute([ToolCall(name="node") for _ in range(40)])
    stats = await dep.stats()
    return {"ok": all(r.ok for r in results), "nodes": sorted({r.result["node"] for r in results}),
            "replica_nodes": sorted({r.node_id for r in stats.replicas}), "driver_node": ray.get_runtime_context()
            .get_node_id()}


async def run_attach(name: str) -> dict[str, object]:
    dep = get_deployment(name, namespace="cluster-test")
    results = await dep.execute([ToolCall(name="node") for _ in range(20)])
    ok = all(r.ok for r in results)
    nodes = sorted({r.result["node"] for r in results})
    await dep.shutdown()
    return {"ok": ok, "nodes": nodes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["deploy", "attach"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    run = run_deploy if args.mode == "deploy" else run_attach
    print(json.dumps(asyncio.run(run(args.name))), flush=True)


if __name__ == "__main__":
    main()
