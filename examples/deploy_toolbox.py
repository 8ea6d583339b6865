"""Deploy a toolbox on Ray: replicas, a connection pool in each, limits across replicas, batches and ObjectRefs.

Run it on a local Ray (started for you) or on a running cluster:

    .venv/bin/python examples/deploy_toolbox.py
    RAY_ADDRESS=127.0.0.1:<port> .venv/bin/python examples/deploy_toolbox.py

Every step prints what it shows; the script exits non-zero if an outcome is not the one documented in
``docs/actors.md`` (the test suite runs it).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import uuid

import ray

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import (
    ActorOptions,
    ClusterConcurrencyLimit,
    ClusterRateLimit,
    DeploymentOptions,
    create_resource_pool,
    deploy,
)


class Connection:
    """Stands for a database client: opened in the replica by the pool's factory, never shipped."""

    serial = itertools.count(1)

    def __init__(self) -> None:
        self.number = next(self.serial)
        self.open = True

    async def fetch(self, order_id: int) -> dict[str, object]:
        await asyncio.sleep(0.002)
        return {"order_id": order_id, "status": "shipped", "connection": self.number}

    async def ping(self) -> bool:
        return self.open

    async def aclose(self) -> None:
        self.open = False


@tool(read_only=True)  # read-only implies idempotent: a call on a replica that dies is retried elsewhere
async def lookup_order(order_id: int, ctx: CallContext) -> dict[str, object]:
    """Look up an order by id."""
    async with ctx.resources["db"].lease() as conn:
        return await conn.fetch(order_id)


@tool(mutates=True)  # not idempotent: never retried on another replica, ends REPLICA_DIED instead
async def refund(order_id: int, amount: float) -> str:
    """Refund an order."""
    await asyncio.sleep(0.01)
    return f"refunded {amount:.2f} on order {order_id}"


@tool(read_only=True)
async def search_kb(query: str) -> str:
    """Search the knowledge base."""
    return f"3 articles about {query!r}"


@ray.remote(num_cpus=0)
def summarise(result: object) -> str:
    # Ray hands this task the ToolResult itself: the ref from submit() never went through the driver.
    return f"{result.tool_name} -> {result.outcome}"  # type: ignore[attr-defined]


async def main() -> int:
    if not ray.is_initialized():
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)  # or RAY_ADDRESS, when set
    suffix = uuid.uuid4().hex[:6]
    # Limits shared by every replica: 50 searches a minute in all, at most 2 refunds running at once anywhere.
    searches = ClusterRateLimit(50, per_s=60, name=f"kb-{suffix}", block_size=5)
    refunds = ClusterConcurrencyLimit({"refund": 2}, name=f"refunds-{suffix}")
    pool = create_resource_pool(Connection, min_size=1, max_size=4, health_check=Connection.ping, name="db")
    toolbox = Toolbox([lookup_order, refund, search_kb.replace(middleware=[searches])], middleware=[refunds],
                      resources={"db": pool}, name="orders")

    dep = deploy(toolbox, replicas=2, name=f"orders-{suffix}",
                 options=DeploymentOptions(max_concurrency=32, batch_size=16, max_queued=500),
                 actor_options=ActorOptions(num_cpus=0))
    await dep.ready()
    print(f"1. deployed {dep.name!r}: {await dep.health()}")

    one = await dep.execute(ToolCall(name="lookup_order", arguments={"order_id": 7}, tenant_id="acme"))
    print(f"2. one call: {one.outcome} {one.result}")

    batch = ([ToolCall(name="lookup_order", arguments={"order_id": i}) for i in range(150)]
             + [ToolCall(name="refund", arguments={"order_id": i, "amount": 5.0}, priority=10) for i in range(10)]
             + [ToolCall(name="search_kb", arguments={"query": f"topic {i}"}) for i in range(60)])
    results = await dep.execute(batch)
    outcomes: dict[str, int] = {}
    for result in results:
        key = f"{result.tool_name}:{result.error.code if result.error else result.outcome}"
        outcomes[key] = outcomes.get(key, 0) + 1
    print(f"3. a batch of {len(batch)} calls in chunks of 16: {dict(sorted(outcomes.items()))}")

    ref = dep.submit(ToolCall(name="refund", arguments={"order_id": 99, "amount": 1.5}))
    print(f"4. submit() gives an ObjectRef another task can take: {await summarise.remote(ref)}")

    stats = await dep.stats()
    pools = [r.pools["db"] for r in stats.replicas]
    print(f"5. stats: {stats.healthy_replicas} healthy replicas, {sum(r.completed for r in stats.replicas)} calls "
          f"completed, pools opened {[p.created for p in pools]} connections, peak queue "
          f"{stats.handle.peak_queued}")

    await dep.shutdown(drain=True)  # on_drain, on_stop, pools drained and closed, actors killed
    print(f"6. after shutdown: {(await dep.execute(ToolCall(name='search_kb', arguments={'query': 'x'}))).error}")
    searches.shutdown()
    refunds.shutdown()

    # The limit is exact as a ceiling. Each replica leases tokens 5 at a time, so up to 4 may sit unspent in one
    # replica while the other is refused (they go back when the lease expires): 42 to 50 searches pass.
    searched = outcomes.get("search_kb:success", 0)
    ok = (one.ok and all(p.created >= 1 for p in pools) and 50 - 2 * 4 <= searched <= 50
          and {k: v for k, v in outcomes.items() if not k.startswith("search_kb")}
          == {"lookup_order:success": 150, "refund:success": 10}
          and searched + outcomes.get("search_kb:RATE_LIMITED", 0) == 60)
    print("deploy_toolbox: ok" if ok else "deploy_toolbox: FAILED, expected 150 lookups and 10 refunds to succeed, "
          "and 42-50 of 60 searches to pass the limit with the rest RATE_LIMITED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    sys.exit(asyncio.run(main()))
