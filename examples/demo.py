"""armorer-ray demo: a model's batch of tool calls through one toolbox, then search, then Ray.

Run with `make demo`. Part 1 runs a batch that includes a policy denial, an approval round trip, a validation
error and a timeout next to ordinary successes. Part 3 lets hybrid semantic search pick the tool for plain-language
requests before running it. Part 4 deploys the same toolbox as two Ray actor replicas on a local Ray and runs the
same batch there: same results, same pipeline.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from demo_tools import build_toolbox  # noqa: E402

from armorer_ray import Toolbox, ToolCall, ToolResult  # noqa: E402

console = Console(width=140)

BATCH = [
    ToolCall(id="c1", name="search_customers", arguments={"query": "ada"}),
    ToolCall(id="c2", name="list_orders", arguments={"customer_id": 1}),
    ToolCall(id="c3", name="refund_order", arguments={"order_id": 102, "amount": 1250, "reason": "damaged"}),
    ToolCall(id="c4", name="get_customer", arguments={"customer_id": "ada"}),
    ToolCall(id="c5", name="restart_service", arguments={"service": "billing"}),
    ToolCall(id="c6", name="query_logs", arguments={"service": "billing", "pattern": "timeout"}),
    ToolCall(id="c7", name="check_service_health", arguments={"service": "billing"}),
    ToolCall(id="c8", name="page_oncall", arguments={"team": "billing", "message": "error rate 7%"}),
    ToolCall(id="c9", name="crm:send_email", arguments='{"to": "ada@example.com", "subject": "Refund", "body": "..."}'),
    ToolCall(id="c10", name="create_ticket", arguments={"title": "billing errors", "severity": "high"}),
    ToolCall(id="c11", name="lookup_weather", arguments={"city": "Paris"}),
]


def row(result: ToolResult) -> tuple[str, str, str, str, str]:
    style = {"success": "green", "error": "red", "action_required": "yellow"}[result.outcome]
    kind = result.error.category if result.error else (result.action.type if result.action else "")
    text = str(result.content)
    return (result.call_id, result.tool_name, f"[{style}]{result.outcome}[/{style}] {kind}".strip(),
            text if len(text) < 70 else text[:67] + "...", f"{result.duration_ms:.1f}")


REQUESTS = [
    ("Is the billing service healthy right now?", {"service": "billing"}),
    ("Find the customer called Grace", {"query": "grace"}),
    ("Open an incident ticket about failing payments", {"title": "payments failing", "severity": "high"}),
]


async def search_then_run(toolbox: Toolbox) -> bool:
    """Part 3: the search index picks a tool for each request; the top hit runs with the request's arguments."""
    table = Table(title="3. Hybrid search (BM25 + embeddings) picks the tool, then it runs", title_justify="left")
    for column in ("request", "top 3 tools (score)", "why the first matched", "ran", "outcome"):
        table.add_column(column, overflow="fold")
    ok = True
    for request, arguments in REQUESTS:
        hits = await toolbox.search(request, k=3)
        result = await toolbox.execute(ToolCall(name=hits[0].id, arguments=arguments))
        ok = ok and result.ok
        table.add_row(request, ", ".join(f"{h.name} ({h.score:.3f})" for h in hits), "; ".join(hits[0].reasons),
                      hits[0].name, result.outcome)
    console.print(table)
    return ok


async def on_ray(rows: list[ToolResult]) -> bool:
    """Part 4: the same toolbox as two Ray replicas; the same batch gives the same outcomes."""
    import ray

    from armorer_ray.actors import deploy

    if not ray.is_initialized():
        # working_dir ships this folder to the workers, so they can import demo_tools to build the toolbox.
        runtime_env = {"working_dir": str(HERE), "env_vars": {"HF_HUB_OFFLINE": "1"}}
        if os.environ.get("RAY_ADDRESS"):  # a cluster (a RayJob's driver): its nodes say how many CPUs there are
            ray.init(log_to_driver=False, runtime_env=runtime_env)
        else:
            ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
    deployment = deploy(build_toolbox, replicas=2, name="support-demo")
    try:
        remote = await deployment.execute(BATCH)
        show("4. The same batch on two Ray actor replicas", remote)
        health = await deployment.health()
        console.print(f"deployment health: {health}")
        return [r.outcome for r in remote] == [r.outcome for r in rows]
    finally:
        await deployment.shutdown()


def show(title: str, results: list[ToolResult]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("call", "tool", "outcome", "content (what the model sees)", "ms"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(*row(result))
    console.print(table)


async def main() -> int:
    toolbox = build_toolbox()
    console.print(f"[bold]Toolbox[/bold] {toolbox.name!r}: {len(toolbox)} tools in namespaces "
                  f"{sorted({t.namespace for t in toolbox})}")
    results = await toolbox.execute(BATCH, concurrency=8)
    show("1. A model's batch of 11 calls, run in parallel", results)

    paused = next(r for r in results if r.outcome == "action_required")
    if paused.action is None or paused.action.resume_token is None:
        raise RuntimeError("a paused result always carries a resume token")
    console.print(f"\nSupervisor approves call {paused.call_id}: {paused.action.message}")
    approved = await toolbox.resume(paused.action.resume_token, by="supervisor@example.com")
    show("2. The paused refund, resumed after approval (runs exactly once)", [approved])

    outcomes = {r.outcome for r in results} | {approved.outcome}
    categories = {r.error.category for r in results if r.error}
    expected = {"permission", "validation", "timeout", "transient", "not_found"}
    if not expected <= categories or approved.outcome != "success" or "success" not in outcomes:
        console.print(f"[red]demo check failed: categories {sorted(categories)}[/red]")
        return 1
    console.print()
    if not await search_then_run(toolbox):
        console.print("[red]demo check failed: a searched tool did not run[/red]")
        return 1
    if os.environ.get("ARMORER_DEMO_SKIP_RAY") != "1":
        console.print()
        if not await on_ray(results):
            console.print("[red]demo check failed: Ray results differ from in-process results[/red]")
            return 1
    console.print("\n[bold green]Every call got exactly one structured result.[/bold green]")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
