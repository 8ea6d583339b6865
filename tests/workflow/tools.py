"""Module-level tools for the workflow tests: importable by Ray workers, so they travel by reference."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opentelemetry import trace

from armorer_ray import CallContext, Decision, PolicyContext, Toolbox, Transient, tool
from armorer_ray.workflow import Expansion, Node


def mix_value(name: str, salt: int, upstream: dict[str, int]) -> int:
    """The reference formula the random-DAG test recomputes in plain Python."""
    total = salt * 31
    for position, key in enumerate(sorted(upstream)):
        total += upstream[key] * (position + 7)
    return total % 1_000_003


@tool
def mix(name: str, salt: int, **upstream: int) -> dict[str, int]:
    """Combine upstream values into this node's value, keyed by the node's name."""
    return {name: mix_value(name, salt, upstream)}


@tool
def numbers(n: int) -> list[int]:
    """The numbers 1..n."""
    return list(range(1, n + 1))


@tool
def square(x: int) -> int:
    """Square a number."""
    return x * x


@tool
def total(values: list[int]) -> int:
    """Add numbers up."""
    return sum(values)


@tool
def forecast(city: str) -> dict[str, object]:
    """A fixed forecast."""
    return {"city": city, "temps": [12, 15, 9], "sunny": city != "Bergen"}


@tool
def warmest(temps: list[int]) -> int:
    """The warmest temperature."""
    return max(temps)


@tool
def coldest(temps: list[int]) -> int:
    """The coldest temperature."""
    return min(temps)


@tool
def summary(warmest: int | None = None, coldest: int | None = None) -> str:
    """Describe the extremes that are known."""
    return f"warmest={warmest} coldest={coldest}"


@tool
def ledger(name: str, ctx: CallContext) -> str:
    """Record a call in ``ctx['log_dir']/calls`` and fail while a ``fail-<name>`` file exists there."""
    log_dir = Path(ctx["log_dir"])
    with open(log_dir / "calls", "a") as handle:
        handle.write(name + "\n")
    if (log_dir / f"fail-{name}").exists():
        raise Transient(f"{name} is down")
    return name


@tool
def stumble(name: str, ctx: CallContext) -> str:
    """Fail with a transient error the first time ``name`` is called (a marker file in ``ctx['log_dir']``)."""
    marker = Path(ctx["log_dir"]) / f"stumbled-{name}"
    if not marker.exists():
        marker.touch()
        raise Transient(f"{name} stumbled")
    return name


@tool
async def traced(label: str) -> str:
    """Make a span inside the tool body, through the global tracer provider."""
    with trace.get_tracer("tests").start_as_current_span("inside-tool"):
        return label


@tool
def plan_stumbles(names: list[str]) -> Expansion:
    """Splice one retried stumble node per name."""
    return Expansion(nodes={f"s{i}": Node("stumble", arguments={"name": name}, retry=2) for i, name in enumerate(names)})


@tool
def search(query: str) -> dict[str, list[str]]:
    """Pretend to search."""
    return {"hits": [query.upper()]}


@tool(extra_arguments="allow")
def gather(**found: list[str]) -> list[str]:
    """Join search hits."""
    return sorted(hit for hits in found.values() for hit in hits)


@tool
def plan_searches(queries: list[str]) -> Expansion:
    """Splice one search node per query and a node joining them."""
    nodes: dict[str, object] = {f"s{i}": Node("search", arguments={"query": q}) for i, q in enumerate(queries)}
    nodes["join"] = Node("gather", inputs={f"s{i}": f"s{i}.hits" for i in range(len(queries))})
    return Expansion(nodes=nodes, edges=[(f"s{i}", "join") for i in range(len(queries))], output="join")


@tool
def plan_nested(depth: int) -> Expansion:
    """Splice a node that expands again, ``depth`` times, then a search."""
    if depth <= 0:
        return Expansion(nodes={"leaf": Node("search", arguments={"query": "leaf"})}, output="leaf")
    return Expansion(nodes={"again": Node("plan_nested", arguments={"depth": depth - 1})}, output="again")


@tool
def whoami(label: str, ctx: CallContext) -> str:
    """Say which caller the call carries: ``label:tenant/session/user/priority/traceparent``."""
    call = ctx.call
    traceparent = call.trace_context.get("traceparent", "-")
    return f"{label}:{call.tenant_id}/{call.session_id}/{call.user_id}/{call.priority}/{traceparent}"


@tool
def plan_whoami(labels: list[str]) -> Expansion:
    """Splice one whoami node per label."""
    return Expansion(nodes={f"w{i}": Node("whoami", arguments={"label": label}) for i, label in enumerate(labels)})


@tool
def plan_broken() -> Expansion:
    """Splice a node whose tool does not exist."""
    return Expansion(nodes={"x": "no_such_tool"})


@tool
async def nap(seconds: float) -> str:
    """Sleep, then say so."""
    await asyncio.sleep(seconds)
    return "rested"


@tool
def explode(message: str = "boom") -> str:
    """Always fail."""
    raise RuntimeError(message)


@tool
def splice_ledgers() -> Expansion:
    """Splice two independent ledger calls."""
    return Expansion(nodes={"x": Node("ledger", arguments={"name": "x"}), "y": Node("ledger", arguments={"name": "y"})})


def is_sunny(output: dict[str, object]) -> bool:
    """A condition with an import path, so a workflow using it exports to JSON."""
    return bool(output["sunny"])


def weekdays_only(ctx: object) -> bool:
    """A policy with an import path: allow everything (the test only checks it travels)."""
    return True


def approval_on_file(ctx: PolicyContext) -> Decision | None:
    """A node policy: pause for approval until an ``approved-<name>`` file exists in ``ctx.values['log_dir']``."""
    if (Path(ctx.values["log_dir"]) / f"approved-{ctx.params['name']}").exists():
        return None
    return Decision.needs_approval(f"publish {ctx.params['name']}?")


def ask_for_gated(ctx: PolicyContext) -> Decision | None:
    """A toolbox policy: pause for approval any call whose ``name`` argument starts with ``gated``."""
    name = ctx.params.get("name")
    return Decision.needs_approval(f"may {name} run?") if str(name).startswith("gated") else None


def needs_otp(ctx: PolicyContext) -> Decision | None:
    """A node policy: ask for input until the approval carries ``{"otp": ...}``."""
    given = ctx.approval.input if ctx.approval is not None else None
    return None if isinstance(given, dict) and "otp" in given else Decision.needs_input("one-time password?")


@tool
def unlock(door: str, ctx: CallContext) -> str:
    """Say which password and which person opened a door (from the call's approval)."""
    approval = ctx.approval
    given = approval.input if approval is not None else None
    otp = given.get("otp") if isinstance(given, dict) else None
    return f"{door} opened with {otp} by {approval.by if approval else None}"


@tool
def plan_page(ctx: CallContext) -> Expansion:
    """Splice one ledger call named after the text of ``ctx['log_dir']/page`` (a resumed run may see another)."""
    name = (Path(ctx["log_dir"]) / "page").read_text().strip()
    return Expansion(nodes={"step": Node("ledger", arguments={"name": name})})


def weather_toolbox() -> Toolbox:
    """A toolbox factory for Ray workers (module-level, so it travels by reference)."""
    return Toolbox([forecast, warmest, coldest, summary], name="weather-from-factory")
