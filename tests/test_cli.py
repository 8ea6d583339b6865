"""The `armorer` command, driven through typer's runner against the demo toolbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from armorer_ray.cli import app

ROOT = Path(__file__).resolve().parents[1]
TARGET = "examples.demo_tools:build_toolbox"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_list_and_filter() -> None:
    result = runner.invoke(app, ["list", TARGET, "--tag", "orders"])
    assert result.exit_code == 0, result.output
    assert "crm:refund_order" in result.output and "crm:search_customers" not in result.output


def test_call_success_and_failure_exit_codes() -> None:
    ok = runner.invoke(app, ["call", TARGET, "search_customers", "--args", '{"query": "grace"}'])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["result"][0]["name"] == "Grace Hopper"
    bad = runner.invoke(app, ["call", TARGET, "get_customer", "--args", '{"customer_id": "x"}'])
    assert bad.exit_code == 1 and '"validation"' in bad.output


def test_export_then_validate(tmp_path: Path) -> None:
    exported = runner.invoke(app, ["export", TARGET, "--provider", "json"])
    assert exported.exit_code == 0
    path = tmp_path / "tools.json"
    path.write_text(exported.output)
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    broken = json.loads(exported.output)
    broken[1]["id"] = broken[0]["id"]
    broken[2]["tags"] = ["Not Kebab"]
    path.write_text(json.dumps(broken))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "duplicate id" in result.output and "kebab-case" in result.output
    openai = runner.invoke(app, ["export", TARGET, "--provider", "openai"])
    assert json.loads(openai.output)[0]["type"] == "function"


def test_bad_targets_give_clear_errors() -> None:
    for target, message in [("nocolon", "module:attribute"), ("no_such_mod:x", "cannot import"),
                            ("json:dumps", "calling it with no arguments failed"),
                            ("json:decoder", "not a Toolbox")]:
        result = runner.invoke(app, ["list", target])
        assert result.exit_code == 2 and message in result.output


def test_profile_prints_stats_stages_and_the_bottleneck() -> None:
    result = runner.invoke(app, ["profile", TARGET, "search_customers", "--args", '{"query": "grace"}',
                                 "--repeat", "3", "--memory"])
    assert result.exit_code == 0, result.output
    assert "crm:search_customers" in result.output and "p99 ms" in result.output
    assert "validation" in result.output and "bottleneck: " in result.output and " B " in result.output
    assert "of crm:search_customers" in result.output


def test_profile_refuses_unknown_tools_and_bad_repeats() -> None:
    missing = runner.invoke(app, ["profile", TARGET, "no_such_tool"])
    assert missing.exit_code == 2 and "no tool 'no_such_tool'" in missing.output
    assert runner.invoke(app, ["profile", TARGET, "search_customers", "--repeat", "0"]).exit_code == 2
