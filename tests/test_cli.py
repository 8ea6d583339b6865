"""The `armorer` command, run as a real subprocess (the installed entry point) against the demo toolbox.

``PYTHONPATH`` points at this checkout so the command runs the code under test even when the editable install
points elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()  # in-process runs, for tests (tests/ui) that need the app object rather than the command
TARGET = "examples.demo_tools:build_toolbox"
PROVIDERS = ["json", "openai", "openai-responses", "azure-openai", "anthropic", "gemini", "bedrock", "mistral",
             "cohere"]


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def armorer(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the ``armorer`` script beside this interpreter (or ``python -m armorer_ray.cli`` without one)."""
    script = Path(sys.executable).with_name("armorer")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "armorer_ray.cli"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_list_title_counts_what_the_filter_shows() -> None:
    result = armorer("list", TARGET, "--tag", "orders")
    assert result.returncode == 0, result.stderr
    assert "crm:refund_order" in result.stdout and "crm:search_customers" not in result.stdout
    assert "2 of 12 tools" in result.stdout
    assert "12 tools" in armorer("list", TARGET).stdout


def test_call_exit_codes_success_failure_pause_and_bad_json() -> None:
    ok = armorer("call", TARGET, "search_customers", "--args", '{"query": "grace"}')
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["result"][0]["name"] == "Grace Hopper"
    bad = armorer("call", TARGET, "get_customer", "--args", '{"customer_id": "x"}')
    assert bad.returncode == 1 and '"validation"' in bad.stdout
    paused = armorer("call", TARGET, "refund_order", "--args", '{"order_id": 1, "amount": 500, "reason": "x"}')
    assert paused.returncode == 3, paused.stdout + paused.stderr
    body = json.loads(paused.stdout)
    assert body["outcome"] == "action_required" and "schema_" not in paused.stdout
    assert body["action"]["resume_token"]
    broken = armorer("call", TARGET, "search_customers", "--args", '{"query": "gr')
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr
    assert "ValidationError" not in broken.stderr
    not_object = armorer("call", TARGET, "search_customers", "--args", "[1]")
    assert not_object.returncode == 2 and "must be a JSON object" in not_object.stderr


@pytest.mark.parametrize("provider", PROVIDERS)
def test_export_then_validate_for_every_provider(provider: str, tmp_path: Path) -> None:
    exported = armorer("export", TARGET, "--provider", provider)
    assert exported.returncode == 0, exported.stderr
    path = tmp_path / "tools.json"
    path.write_text(exported.stdout)
    checked = armorer("validate", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "12 tool definitions" in checked.stdout


def test_validate_uses_a_real_json_schema_validator(tmp_path: Path) -> None:
    exported = json.loads(armorer("export", TARGET, "--provider", "json").stdout)
    exported[1]["id"] = exported[0]["id"]
    exported[2]["tags"] = ["Not Kebab"]
    exported[3]["schema"]["properties"]["customer_id"]["type"] = "strnig"
    exported[4]["schema"]["required"].append("ghost")
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(exported))
    result = armorer("validate", str(path))
    assert result.returncode == 1
    for expected in ("duplicate id", "kebab-case", "'strnig' is not valid", "'ghost', which is not a property"):
        assert expected in result.stderr, result.stderr
    openai = json.loads(armorer("export", TARGET, "--provider", "openai").stdout)
    openai[0]["function"]["parameters"]["required"] = []  # strict, yet optional properties
    path.write_text(json.dumps(openai))
    strict = armorer("validate", str(path))
    assert strict.returncode == 1 and "strict mode needs every property in required" in strict.stderr
    path.write_text("[{")
    unreadable = armorer("validate", str(path))
    assert unreadable.returncode == 2 and "not valid JSON" in unreadable.stderr


def test_bad_targets_and_providers_give_clear_errors() -> None:
    for target, message in [("nocolon", "module:attribute"), ("no_such_mod:x", "cannot import"),
                            ("json:dumps", "calling it with no arguments failed"),
                            ("json:decoder", "not a Toolbox")]:
        result = armorer("list", target)
        assert result.returncode == 2 and message in result.stderr
    unknown = armorer("export", TARGET, "--provider", "nope")
    assert unknown.returncode == 2 and "bedrock" in unknown.stderr


def test_install_hints_keep_their_extra_in_help() -> None:
    result = armorer("ui", "--help")
    assert result.returncode == 0
    assert "armorer-ray[web]" in result.stdout


def test_profile_prints_stats_and_fails_when_every_call_fails() -> None:
    result = armorer("profile", TARGET, "search_customers", "--args", '{"query": "grace"}', "--repeat", "3",
                     "--memory")
    assert result.returncode == 0, result.stderr
    assert "crm:search_customers" in result.stdout and "p99 ms" in result.stdout
    assert "bottleneck: " in result.stdout
    failing = armorer("profile", TARGET, "get_customer", "--args", '{"customer_id": "x"}', "--repeat", "3")
    assert failing.returncode == 1 and "all 3 calls failed" in failing.stderr
    missing = armorer("profile", TARGET, "no_such_tool")
    assert missing.returncode == 2 and "no tool 'no_such_tool'" in missing.stderr
    assert armorer("profile", TARGET, "search_customers", "--repeat", "0").returncode == 2


def test_the_progress_bar_appears_only_for_work_over_a_second() -> None:
    import io

    from rich.console import Console

    from armorer_ray.cli_progress import DelayedProgress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with DelayedProgress(console, "quick", 5) as quick:
        for _ in range(5):
            quick.advance()
    assert not quick.shown and out.getvalue() == ""
    with DelayedProgress(console, "slow", 2, delay_s=0.0) as slow:  # a zero delay stands in for slow work
        slow.advance()
        slow.advance()
    assert slow.shown and "slow" in out.getvalue()


def test_the_call_spinner_appears_only_for_a_step_over_a_second() -> None:
    import io
    import time

    from rich.console import Console

    from armorer_ray.cli_progress import delayed_status

    quick_out = io.StringIO()
    with delayed_status(Console(file=quick_out, force_terminal=True), "quick"):
        pass
    assert quick_out.getvalue() == ""
    slow_out = io.StringIO()
    with delayed_status(Console(file=slow_out, force_terminal=True), "slow step", delay_s=0.0):
        deadline = time.monotonic() + 30  # bounded wait for the timer thread to draw the spinner
        while "slow step" not in slow_out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "slow step" in slow_out.getvalue()
