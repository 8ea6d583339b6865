"""The ``armorer`` command: list, inspect, call, export and validate tools from the shell.

A TARGET is ``module:attribute`` naming a `Toolbox`, a `Tool`, a list of tools, or a function returning one
(the current directory is importable). Examples::

    armorer list examples.demo_tools:build_toolbox
    armorer call examples.demo_tools:build_toolbox search_customers --args '{"query": "ada"}'
    armorer profile examples.demo_tools:build_toolbox search_customers --args '{"query": "ada"}' --repeat 50
    armorer export examples.demo_tools:build_toolbox --provider openai > tools.json
    armorer validate tools.json
    armorer ui examples.workflow_research:build --port 8000     # the web graph builder
    armorer serve examples.demo_tools:build_toolbox --tokens-file tokens.json --port 8000   # HTTP + MCP
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from armorer_ray.errors import ConfigError
from armorer_ray.inspection import inspect_tool
from armorer_ray.results import ToolCall
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool, _validate_tags

if TYPE_CHECKING:
    from armorer_ray.workflow import Workflow

__all__ = ["app", "load_toolbox", "load_workflows", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Inspect, call and export armorer-ray tools.")
console = Console()
errors = Console(stderr=True)


def _import_target(target: str, kinds: tuple[type, ...]) -> Any:
    """Import ``module:attribute``; a callable that is not one of ``kinds`` is a factory, called with no arguments."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"target must look like module:attribute, got {target!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {target!r}: {exc}") from exc
    if callable(value) and not isinstance(value, kinds):
        try:
            value = value()
        except Exception as exc:  # a factory that needs arguments, or fails: say which target
            raise ConfigError(f"{target!r} is callable but calling it with no arguments failed: {exc}") from exc
    return value


def load_toolbox(target: str) -> Toolbox:
    """Import ``module:attribute`` and turn it into a toolbox.

    Raises:
        ConfigError: when the target cannot be imported or is not a toolbox, tool or list of tools.
    """
    value = _import_target(target, (Tool, Toolbox))
    if isinstance(value, Toolbox):
        return value
    if isinstance(value, Tool):
        return Toolbox([value])
    if isinstance(value, list | tuple) and all(isinstance(item, Tool) for item in value):
        return Toolbox(value)
    raise ConfigError(f"{target!r} is a {type(value).__name__}, not a Toolbox, Tool or list of tools")


def _fail(message: str) -> typer.Exit:
    # Escaped: messages quote targets and installs such as 'armorer-ray[web]', which rich would read as markup.
    errors.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def _warn_deprecated(tools: list[Tool]) -> None:
    from armorer_ray.registry import deprecation_notice

    for notice in filter(None, map(deprecation_notice, tools)):
        errors.print(f"[yellow]warning:[/yellow] {escape(notice)}")


@app.command("list")
def list_tools(target: str, tag: list[str] = typer.Option([], help="Only tools with any of these tags."),
               text: str = typer.Option("", help="Rank by relevance to this text.")) -> None:
    """List the tools of TARGET with their risk flags and tags."""
    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    table = Table(title=f"{box.name}: {len(box)} tools")
    for column in ("id", "risk", "tags", "description"):
        table.add_column(column, overflow="fold")
    for t in box.query(text=text or None, tags_any=tag):
        risk = ",".join(flag for flag, on in (("read-only", t.is_read_only), ("mutates", t.is_mutating),
                                              ("dangerous", t.is_dangerous)) if on)
        table.add_row(t.id, risk, ", ".join(t.tags), t.description.splitlines()[0])
    console.print(table)
    _warn_deprecated(box.tools())


@app.command()
def describe(target: str, tool: str) -> None:
    """Show one tool's parameters (JSON Schema) and summary."""
    try:
        found = load_toolbox(target).get_tool(tool)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    if found is None:
        raise _fail(f"no tool {tool!r} in {target}")
    _warn_deprecated([found])
    console.print_json(json.dumps({"summary": inspect_tool(found, "full").model_dump(by_alias=True),
                                   "definition": found.to_json()}, default=str))


@app.command()
def call(target: str, tool: str, args: str = typer.Option("{}", help="Arguments as a JSON object."),
         dry_run: bool = typer.Option(False, help="Run the tool's dry-run handler instead."),
         timeout_s: float = typer.Option(None, help="Deadline in seconds.")) -> None:
    """Run one call through the toolbox's pipeline and print the ToolResult as JSON (exit 1 if it failed)."""
    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    result = box.execute_sync(ToolCall(name=tool, arguments=args), dry_run=dry_run, timeout_s=timeout_s)
    console.print_json(result.model_dump_json())
    if result.outcome == "error":
        raise typer.Exit(1)


@app.command("profile")
def profile_calls(target: str, tool: str, args: str = typer.Option("{}", help="Arguments as a JSON object."),
                  repeat: int = typer.Option(20, help="How many times to make the call.", min=1, max=1_000_000),
                  memory: bool = typer.Option(False, help="Also record the body's peak memory (slow).")) -> None:
    """Make one call REPEAT times and print its latency, errors and time per pipeline stage, naming the bottleneck."""
    from armorer_ray.telemetry import Analytics, profile

    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    if box.get_tool(tool) is None:
        raise _fail(f"no tool {tool!r} in {target}")
    analytics = Analytics()
    detach = analytics.attach(box)
    with profile(box, memory=memory) as profiler:
        for _ in range(repeat):
            box.execute_sync(ToolCall(name=tool, arguments=args))
    detach()
    # Ten stage columns do not fit 80 characters; a wider table wraps in a narrow terminal but hides no digits.
    width = max(console.width, 120)
    typer.echo(analytics.snapshot().report(width=width) + profiler.report().text(width=width), nl=False)


@app.command()
def export(target: str, provider: str = typer.Option("json", help="json, openai, anthropic or gemini.")) -> None:
    """Print TARGET's tool definitions for a provider."""
    from armorer_ray.adapters import to_anthropic, to_gemini, to_openai

    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    exporters: dict[str, Callable[[Toolbox], Any]] = {
        "json": lambda b: b.to_json(), "openai": to_openai, "anthropic": to_anthropic, "gemini": to_gemini,
    }
    if provider not in exporters:
        raise _fail(f"unknown provider {provider!r}; choose from {', '.join(sorted(exporters))}")
    typer.echo(json.dumps(exporters[provider](box), indent=2, ensure_ascii=False))
    _warn_deprecated(box.tools())  # on stderr, so the exported JSON stays clean


def validate_definitions(definitions: object) -> list[str]:
    """Problems in a list of serialised tool definitions (empty when they are valid)."""
    if not isinstance(definitions, list):
        return ["the file must hold a JSON list of tool definitions (armorer export --provider json)"]
    problems: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(definitions):
        where = f"[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: not an object")
            continue
        where = f"[{index}] {item.get('id', item.get('name', '?'))}"
        if item.get("schemaVersion") != "2020-12":
            problems.append(f"{where}: schemaVersion must be '2020-12'")
        for key in ("id", "name", "description", "schema"):
            if not item.get(key):
                problems.append(f"{where}: missing {key}")
        if item.get("id") in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(str(item.get("id")))
        schema = item.get("schema")
        if isinstance(schema, dict) and schema.get("type") != "object":
            problems.append(f"{where}: schema must be an object schema")
        try:
            _validate_tags(str(item.get("name")), item.get("tags") or [])
        except ConfigError as exc:
            problems.append(f"{where}: {exc}")
    return problems


@app.command()
def validate(path: Path) -> None:
    """Check a JSON file of tool definitions (ids, schemas, tags); exit 1 on problems."""
    try:
        definitions = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {path}: {exc}") from exc
    problems = validate_definitions(definitions)
    for problem in problems:
        errors.print(f"[red]✗[/red] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {len(definitions)} tool definitions are valid")


def load_workflows(target: str) -> dict[str, Workflow]:
    """Import ``module:attribute`` naming a `Workflow`, a list of them, a dict of them by name, or a factory of one.

    Raises:
        ConfigError: when the target cannot be imported or holds anything but workflows.
    """
    from armorer_ray.workflow import Workflow  # here, so the other commands start without the workflow package

    value = _import_target(target, (Workflow,))
    if isinstance(value, Workflow):
        return {value.name: value}
    if isinstance(value, dict) and all(isinstance(item, Workflow) for item in value.values()):
        return dict(value)
    if isinstance(value, list | tuple) and value and all(isinstance(item, Workflow) for item in value):
        named = {item.name: item for item in value}
        if len(named) < len(value):
            raise ConfigError(f"{target!r} holds two workflows with one name; use a dict to name them apart")
        return named
    raise ConfigError(f"{target!r} is a {type(value).__name__}, not a Workflow, a list or a dict of workflows")


@app.command()
def ui(target: str, port: int = typer.Option(8000, help="Port to listen on (0: any free port)."),
       host: str = typer.Option("127.0.0.1", help="Interface to listen on; beyond loopback a --token is required."),
       tools: str = typer.Option("", help="A toolbox TARGET: the builder's and playground's catalogue."),
       checkpoint: str = typer.Option("", help="Store URL runs checkpoint into and history is read from "
                                               "(e.g. sqlite:///runs.db; default: in memory)."),
       token: str = typer.Option("", envvar="ARMORER_UI_TOKEN",
                                 help="Access token (16+ chars) every request must carry; printed in the URL."),
       allow_host: list[str] = typer.Option([], help="Extra Host header names to accept (the name users type).")
       ) -> None:
    """Serve TARGET's workflows in the web graph builder (needs: pip install 'armorer-ray[web]')."""
    from armorer_ray.errors import MissingExtraError
    from armorer_ray.ui import create_app
    from armorer_ray.ui.security import check_bind

    try:
        check_bind(host, token or None)
        web = create_app(load_workflows(target), toolbox=load_toolbox(tools) if tools else None,
                         checkpoint=checkpoint or None, token=token or None,
                         hosts=[*allow_host, *([host] if host not in ("0.0.0.0", "::") else [])])
        import uvicorn
    except ModuleNotFoundError as exc:
        raise _fail(str(MissingExtraError("armorer ui", "web"))) from exc
    except (ConfigError, MissingExtraError) as exc:
        raise _fail(str(exc)) from exc
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"armorer ui: http://{shown}:{port}/" + (f"?token={token}" if token else ""), err=True)
    uvicorn.run(web, host=host, port=port)


@app.command()
def migrate(paths: list[Path], write: bool = typer.Option(False, help="Apply the changes (default: print the diff)."),
            check: bool = typer.Option(False, help="Exit 1 when any file needs changes.")) -> None:
    """Rewrite code under PATHS for renamed armorer-ray names (a dry-run diff unless --write)."""
    from armorer_ray.errors import MissingExtraError
    from armorer_ray.migrate import migrate_paths

    try:
        changed = migrate_paths(paths, write=write)
    except (ConfigError, MissingExtraError) as exc:
        raise _fail(str(exc)) from exc
    for item in changed:
        sys.stdout.write(item.diff)
        errors.print(f"{item.path}: " + "; ".join(item.changes))
    errors.print(f"{len(changed)} file(s) {'rewritten' if write else 'to rewrite (dry run; --write applies)'}")
    if check and changed and not write:
        raise typer.Exit(1)


# `armorer serve`: HTTP and MCP ingress on Ray Serve; the body lives with the ingress (armorer_ray/serve/command.py).
from armorer_ray.serve.command import serve as _serve_command  # noqa: E402

app.command("serve")(_serve_command)


def main() -> None:
    """Entry point of the ``armorer`` console script."""
    app()


if __name__ == "__main__":
    main()
