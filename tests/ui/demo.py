"""Workflows the browser tests drive: conditional and long edges, approvals, fan-out with retries, a splice,
and a run held open by a gate the test controls."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from armorer_ray import Decision, Toolbox, tool
from armorer_ray.testing import mock_tool
from armorer_ray.workflow import Condition, Edge, Expansion, Node, NodeRetry, Workflow, create_workflow

GATE = threading.Event()  # the "hold" tool waits on it, so a test can watch (or cancel) a running run


@tool
def fetch(city: str, days: int = 3) -> dict:
    "Fetch temperatures for a city (<b>°C</b>)."
    return {"temps": [3, 9, 35][:days], "city": city}


@tool
def warmest(temps: list[int]) -> dict:
    "The warmest temperature."
    return {"warmest": max(temps)}


@tool(policy=lambda ctx: Decision.needs_approval(f"send a heat alert for {ctx.params['warmest']}°C?"))
def alert(warmest: int) -> str:
    "Send a heat alert (needs approval)."
    return f"alert sent at {warmest}"


@tool
def report(city: str, warmest: int = 0) -> str:
    "Write a report."
    return f"{city}: {warmest}"


@tool
def calm(warmest: int) -> str:
    "Say all is calm."
    return f"calm at {warmest}"


@tool
def numbers(n: int) -> list[int]:
    "The numbers 1..n."
    return list(range(1, n + 1))


@tool
def square(x: int) -> int:
    "Square a number (fails for 3)."
    if x == 3:
        raise ValueError("three is unlucky")
    return x * x


@tool
def total(values: list[int]) -> int:
    "Add numbers up."
    return sum(values)


@tool
def plan_steps(topic: str) -> Expansion:
    "Plan research steps at run time (splices nodes in)."
    return Expansion(nodes={"search_a": "lookup", "search_b": "lookup"}, output=None)


@tool
def lookup(topic: str) -> str:
    "Look a topic up."
    return f"found {topic}"


@tool
def summarize(plan_steps: dict) -> str:
    "Summarise findings."
    return "; ".join(sorted(str(v) for v in plan_steps.values()))


@tool
async def hold(seconds_max: int = 60) -> str:
    "Wait until the test opens the gate (at most seconds_max)."
    for _ in range(seconds_max * 20):
        if GATE.is_set():
            return "released"
        await asyncio.sleep(0.05)
    return "timed out"


def _needs_account(ctx: Any) -> Decision | None:
    given = ctx.approval.input if ctx.approval is not None else None
    if isinstance(given, dict) and isinstance(given.get("account"), str):
        return None
    return Decision.needs_input("Which account pays?", schema={"type": "object", "required": ["account"],
                                                               "properties": {"account": {"type": "string"}}})


@tool(policy=_needs_account)
def charge(amount: int) -> str:
    "Charge an amount (asks which account)."
    return f"charged {amount}"


@tool(dangerous=True)
def wipe(target: str) -> str:
    "Wipe a target (dangerous)."
    return f"wiped {target}"


def workflows() -> dict[str, Workflow]:
    """The demo workflows, by name (fresh objects each call)."""
    flaky = mock_tool("flaky", outcomes=[RuntimeError("blip"), "steady"])
    heat = create_workflow(
        nodes={"fetch": fetch, "warmest": warmest, "alert": alert, "calm": calm, "report": Node(report, trigger="any")},
        edges=[("fetch", "warmest"), Edge("warmest", "alert", when=Condition(path="warmest", op="gt", value=30)),
               Edge("warmest", "calm", when=Condition(path="warmest", op="le", value=30)),
               ("fetch", "report"), ("alert", "report"), ("calm", "report")],
        name="heat")
    squares = create_workflow(
        nodes={"numbers": numbers, "square": Node(square, inputs={"x": "numbers"}, map_over="x"),
               "total": Node(total, inputs={"values": "square"}),
               "flaky": Node(flaky, retry=NodeRetry(attempts=3, on=("internal",)))},
        edges=[("numbers", "square"), ("square", "total")], entry=["numbers", "flaky"], name="squares")
    research = create_workflow(nodes={"plan_steps": plan_steps,
                                      "summarize": Node(summarize, inputs={"plan_steps": "plan_steps"})},
                               edges=[("plan_steps", "summarize")], toolbox=Toolbox([lookup]), name="research")
    slow = create_workflow(nodes={"hold": hold, "after": Node(report, inputs={"city": "hold"})},
                           edges=[("hold", "after")], name="slow")
    branches = {f"branch_{i:02d}": Node(lookup, inputs={"topic": "$inputs.topic"}) for i in range(12)}
    wide = create_workflow(nodes={"start": lookup, **branches, "join": Node(report, trigger="all",
                                                                            inputs={"city": "branch_00"})},
                           edges=[*(("start", name) for name in branches), *((name, "join") for name in branches)],
                           name="wide")
    pay = create_workflow(nodes={"charge": charge}, name="pay")
    return {wf.name: wf for wf in (heat, squares, research, slow, wide, pay)}


def catalogue() -> Toolbox:
    """Every demo tool, for the builder and the playground (wipe is dangerous)."""
    return Toolbox([fetch, warmest, alert, report, calm, numbers, square, total, lookup, wipe])
