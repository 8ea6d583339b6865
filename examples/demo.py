"""armorer-ray demo: a model's batch of tool calls through one toolbox, shown as a table.

Run with `make demo`. The batch includes a policy denial, an approval round trip, a validation error and a
timeout, next to ordinary successes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_tools import build_toolbox

from armorer_ray import ToolCall, ToolResult

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
    console.print("\n[bold green]Every call got exactly one structured result.[/bold green]")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
