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
    armorer mcp examples.demo_tools:build_toolbox --http 8765     # serve the tools over MCP

Exit codes (the table in docs/cli.md): 0 success; 1 the call failed, every profiled call failed, or the
validated file has problems; 2 usage error (bad target, unknown tool or provider, arguments that are not a
JSON object); 3 the call paused for approval or input (``action_required``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from armorer_ray.cli_exits import EXIT_FAILED, EXIT_OK, EXIT_PAUSED, EXIT_USAGE, errors, usage_error
from armorer_ray.cli_progress import DelayedProgress, delayed_status
from armorer_ray.definitions_check import count_tools, detect_shape, validate_definitions
from armorer_ray.errors import ConfigError
from armorer_ray.inspection import inspect_tool
from armorer_ray.results import ToolCall
from armorer_ray.targets import import_target, load_toolbox
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from armorer_ray.workflow import Workflow

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PAUSED", "EXIT_USAGE", "app", "load_toolbox", "load_workflows", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Inspect, call and export armorer-ray tools.")
console = Console()


def _arguments(text: str) -> dict[str, Any]:
    """``--args`` as a JSON object, or a usage error that says the JSON is invalid."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise usage_error(f"--args is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise usage_error(f"--args must be a JSON object, got {type(value).__name__}")
    return value


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
        raise usage_error(str(exc)) from exc
    shown = box.query(text=text or None, tags_any=tag)
    count = f"{len(shown)} of {len(box)} tools" if len(shown) != len(box) else f"{len(box)} tools"
    table = Table(title=f"{escape(box.name)}: {count}")
    for column in ("id", "risk", "tags", "description"):
        table.add_column(column, overflow="fold")
    for t in shown:
        risk = ",".join(flag for flag, on in (("read-only", t.risk.read_only), ("mutates", t.risk.mutates),
                                              ("dangerous", t.risk.dangerous)) if on)
        table.add_row(escape(t.id), risk, escape(", ".join(t.tags)), escape(t.description.splitlines()[0]))
    console.print(table)
    _warn_deprecated(box.tools())


@app.command()
def describe(target: str, tool: str) -> None:
    """Show one tool's parameters (JSON Schema) and summary."""
    try:
        found = load_toolbox(target).get_tool(tool)
    except ConfigError as exc:
        raise usage_error(str(exc)) from exc
    if found is None:
        raise usage_error(f"no tool {tool!r} in {target}")
    _warn_deprecated([found])
    console.print_json(json.dumps({"summary": inspect_tool(found, "full").model_dump(by_alias=True),
                                   "definition": found.to_json()}, default=str))


@app.command()
def call(target: str, tool: str, args: str = typer.Option("{}", help="Arguments as a JSON object."),
         dry_run: bool = typer.Option(False, help="Run the tool's dry-run handler instead."),
         timeout_s: float = typer.Option(None, help="Deadline in seconds.")) -> None:
    """Run one call through the toolbox's pipeline and print the ToolResult as JSON.

    Exit 1 if it failed, 3 if it paused for approval or input.
    """
    arguments = _arguments(args)
    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise usage_error(str(exc)) from exc
    with delayed_status(errors, f"calling {tool}..."):
        result = box.execute_sync(ToolCall(name=tool, arguments=arguments), dry_run=dry_run, timeout_s=timeout_s)
    console.print_json(result.model_dump_json(by_alias=True))
    if result.outcome == "error":
        raise typer.Exit(EXIT_FAILED)
    if result.outcome == "action_required":
        raise typer.Exit(EXIT_PAUSED)


@app.command("profile")
def profile_calls(target: str, tool: str, args: str = typer.Option("{}", help="Arguments as a JSON object."),
                  repeat: int = typer.Option(20, help="How many times to make the call.", min=1, max=1_000_000),
                  memory: bool = typer.Option(False, help="Also record the body's peak memory (slow).")) -> None:
    """Make one call REPEAT times and print its latency, errors and time per pipeline stage, naming the bottleneck.

    Exit 1 when every call failed. A progress bar (on stderr) appears once the calls take over a second.
    """
    from armorer_ray.telemetry import Analytics, profile

    arguments = _arguments(args)
    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise usage_error(str(exc)) from exc
    if box.get_tool(tool) is None:
        raise usage_error(f"no tool {tool!r} in {target}")
    analytics = Analytics()
    detach = analytics.attach(box)
    failed = 0
    with profile(box, memory=memory) as profiler, DelayedProgress(errors, f"profiling {tool}", repeat) as bar:
        for _ in range(repeat):
            failed += box.execute_sync(ToolCall(name=tool, arguments=arguments)).outcome == "error"
            bar.advance()
    detach()
    # Ten stage columns do not fit 80 characters; a wider table wraps in a narrow terminal but hides no digits.
    width = max(console.width, 120)
    typer.echo(analytics.snapshot().report(width=width) + profiler.report().text(width=width), nl=False)
    if failed == repeat:
        errors.print(f"[red]error:[/red] all {repeat} calls failed")
        raise typer.Exit(EXIT_FAILED)


EXPORTERS = ("json", "openai", "openai-responses", "azure-openai", "anthropic", "gemini", "bedrock", "mistral",
             "cohere")


def _exported(box: Toolbox, provider: str) -> Any:
    from armorer_ray import adapters

    if provider == "json":
        return box.to_json()
    if provider in ("openai", "azure-openai"):  # Azure OpenAI takes the OpenAI shapes
        return adapters.to_openai(box)
    if provider == "openai-responses":
        return adapters.to_openai(box, api="responses")
    exporters: dict[str, Callable[[Toolbox], Any]] = {
        "anthropic": adapters.to_anthropic, "gemini": adapters.to_gemini, "bedrock": adapters.to_bedrock,
        "mistral": adapters.to_mistral, "cohere": adapters.to_cohere}
    return exporters[provider](box)


@app.command()
def export(target: str, provider: str = typer.Option("json", help=", ".join(EXPORTERS) + ".")) -> None:
    """Print TARGET's tool definitions for a provider (names unique and provider-safe)."""
    if provider not in EXPORTERS:
        raise usage_error(f"unknown provider {provider!r}; choose from {', '.join(EXPORTERS)}")
    try:
        box = load_toolbox(target)
    except ConfigError as exc:
        raise usage_error(str(exc)) from exc
    typer.echo(json.dumps(_exported(box, provider), indent=2, ensure_ascii=False))
    _warn_deprecated(box.tools())  # on stderr, so the exported JSON stays clean


@app.command()
def validate(path: Path) -> None:
    """Check a file written by `armorer export` (any provider): envelopes, names, JSON Schemas; exit 1 on problems."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise usage_error(f"cannot read {path}: {exc}") from exc
    try:
        definitions = json.loads(text)
    except ValueError as exc:
        raise usage_error(f"{path} is not valid JSON: {exc}") from exc
    problems = validate_definitions(definitions)
    for problem in problems:
        errors.print(f"[red]✗[/red] {escape(problem)}")
    if problems:
        raise typer.Exit(EXIT_FAILED)
    console.print(f"[green]✓[/green] {count_tools(definitions)} tool definitions ({detect_shape(definitions)}) "
                  "are valid")


def load_workflows(target: str) -> dict[str, Workflow]:
    """Import ``module:attribute`` naming a `Workflow`, a list of them, a dict of them by name, or a factory of one.

    Raises:
        ConfigError: when the target cannot be imported or holds anything but workflows.
    """
    from armorer_ray.workflow import Workflow  # here, so the other commands start without the workflow package

    value = import_target(target, (Workflow,))
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
    """Serve TARGET's workflows in the web graph builder (needs: pip install 'armorer-ray\\[web]')."""
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
        raise usage_error(str(MissingExtraError("armorer ui", "web"))) from exc
    except (ConfigError, MissingExtraError) as exc:
        raise usage_error(str(exc)) from exc
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"armorer ui: http://{shown}:{port}/" + (f"?token={token}" if token else ""), err=True)
    uvicorn.run(web, host=host, port=port)


@app.command("mcp")
def mcp_server(target: str, http: int = typer.Option(None, help="Serve streamable HTTP on this port (default: stdio)."),
               host: str = typer.Option("127.0.0.1", help="Interface for --http.")) -> None:
    """Serve TARGET's tools over MCP: stdio by default, streamable HTTP at /mcp with --http PORT.

    Needs: pip install 'armorer-ray\\[mcp]' (and 'armorer-ray\\[web]' for --http).
    """
    import anyio

    from armorer_ray.errors import MissingExtraError

    try:
        box = load_toolbox(target)
        from armorer_ray.adapters.mcp import create_mcp_server, serve_http, serve_stdio

        server = create_mcp_server(box)
        if http is not None:
            serve_http(server, host=host, port=http)
        else:
            anyio.run(serve_stdio, server)
    except (ConfigError, MissingExtraError) as exc:
        raise usage_error(str(exc)) from exc


@app.command()
def migrate(paths: list[Path], write: bool = typer.Option(False, help="Apply the changes (default: print the diff)."),
            check: bool = typer.Option(False, help="Exit 1 when any file needs changes.")) -> None:
    """Rewrite code under PATHS for renamed armorer-ray names (a dry-run diff unless --write)."""
    from armorer_ray.errors import MissingExtraError
    from armorer_ray.migrate import migrate_paths

    try:
        changed = migrate_paths(paths, write=write)
    except (ConfigError, MissingExtraError) as exc:
        raise usage_error(str(exc)) from exc
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
