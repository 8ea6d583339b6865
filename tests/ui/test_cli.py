"""`armorer ui TARGET`: targets are resolved like the other commands', and a real server answers."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from armorer_ray.cli import app, load_workflows
from armorer_ray.errors import ConfigError
from tests.test_cli import ROOT, _in_repo_root, runner  # noqa: F401  (the fixture runs every test from the repo root)

WORKFLOW = "examples.workflow_research:build"


def test_targets_that_are_not_workflows_fail_with_the_reason() -> None:
    toolbox = runner.invoke(app, ["ui", "examples.demo_tools:build_toolbox"])
    assert toolbox.exit_code == 2 and "not a Workflow" in toolbox.output
    missing = runner.invoke(app, ["ui", "examples.nothing_here:build"])
    assert missing.exit_code == 2 and "cannot import" in missing.output
    tools = runner.invoke(app, ["ui", WORKFLOW, "--tools", "examples.workflow_research:build"])
    assert tools.exit_code == 2 and "not a Toolbox" in tools.output


def test_workflow_collections_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ui_cli_targets.py").write_text(
        "from examples.workflow_research import build\n"
        "ONE = build()\nBY_NAME = {'first': ONE, 'second': build()}\nTWICE = [ONE, build()]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert list(load_workflows("ui_cli_targets:ONE")) == ["support-research"]
    assert list(load_workflows("ui_cli_targets:BY_NAME")) == ["first", "second"]
    with pytest.raises(ConfigError, match="two workflows with one name"):
        load_workflows("ui_cli_targets:TWICE")


def test_missing_web_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = runner.invoke(app, ["ui", WORKFLOW])
    assert result.exit_code == 2 and "pip install 'armorer-ray[web]'" in result.output


def test_the_command_serves_the_graph_view() -> None:
    command = [sys.executable, "-m", "armorer_ray.cli", "ui", WORKFLOW, "--port", "0",
               "--tools", "examples.demo_tools:build_toolbox"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def forward() -> None:  # a thread, so that each read below can time out
        for line in process.stderr or ():
            lines.put(line)

    threading.Thread(target=forward, daemon=True).start()
    try:
        address = None
        while address is None:  # each wait is bounded, so a server that never starts fails the test
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", lines.get(timeout=60))
            address = found.group(1) if found else None
        with httpx.Client(base_url=address, timeout=10) as http:
            index = http.get("/").text
            graph = http.get("/api/workflows/support-research").json()
            tools = http.get("/api/tools").json()
        assert '<script src="/static/app.js">' in index and len(graph["nodes"]) == 5
        assert "crm:search_customers" in [item["id"] for item in tools]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_non_loopback_bind_needs_a_token() -> None:
    refused = runner.invoke(app, ["ui", WORKFLOW, "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "without a token" in refused.output
    short = runner.invoke(app, ["ui", WORKFLOW, "--host", "0.0.0.0", "--token", "short"])
    assert short.exit_code == 2 and "16 characters" in short.output
