"""`armorer migrate` (the libcst codemod) and the deprecation warnings that name the fix."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from armorer_ray.cli import app
from armorer_ray.deprecations import MOVED, Moved, available_moves
from armorer_ray.migrate import migrate_paths, migrate_source

pytest.importorskip("libcst", reason="needs pip install 'armorer-ray[migrate]'")

COST = [m for m in MOVED if m.old_name == "CostFunction"]
PAUSED = Moved("armorer_ray.pipeline", "PausedCall", "armorer_ray.paused", "PausedCall")

OLD = '''"""A user module."""
# keep this comment
from armorer_ray.telemetry import Analytics, CostFunction  # trailing comment

def pricing(cost: CostFunction) -> Analytics:
    return Analytics(cost=cost)  # the keyword is not the type
'''


def test_a_renamed_import_and_its_uses_are_rewritten_and_the_rest_kept() -> None:
    result = migrate_source(OLD, COST)
    assert result.code == OLD.replace("CostFunction", "ResultCost")
    assert result.changes == ("armorer_ray.telemetry.CostFunction -> armorer_ray.telemetry.ResultCost",)


def test_an_alias_keeps_its_local_name() -> None:
    code = "from armorer_ray.telemetry import CostFunction as Price\nx: Price\n"
    assert migrate_source(code, COST).code == "from armorer_ray.telemetry import ResultCost as Price\nx: Price\n"


def test_a_moved_name_is_split_into_its_own_import() -> None:
    code = "from armorer_ray.pipeline import STAGES, PausedCall\n\nprint(STAGES, PausedCall)\n"
    assert migrate_source(code, [PAUSED]).code == (
        "from armorer_ray.pipeline import STAGES\nfrom armorer_ray.paused import PausedCall\n\n"
        "print(STAGES, PausedCall)\n")
    only = migrate_source("from armorer_ray.pipeline import PausedCall\n", [PAUSED]).code
    assert only == "from armorer_ray.paused import PausedCall\n"


def test_dotted_uses_are_rewritten_and_unrelated_attributes_are_not() -> None:
    code = ("import armorer_ray.telemetry.analytics\n"
            "a = armorer_ray.telemetry.analytics.CostFunction\n"
            "b = other.CostFunction\n"
            "c = f(CostFunction=1)\n")
    result = migrate_source(code, COST)
    assert result.code == code.replace("analytics.CostFunction", "analytics.ResultCost")


def test_code_without_old_names_is_left_alone_and_bad_code_is_refused() -> None:
    code = "from armorer_ray import tool\nCostFunction = 1\n"
    assert migrate_source(code, COST).code == code
    with pytest.raises(Exception, match="does not parse"):
        migrate_source("def (:\n", COST)


def test_only_renames_to_names_that_exist_are_offered_by_default() -> None:
    import importlib

    moves = available_moves()
    assert {m.old_name for m in moves} >= {"CostFunction"}
    for move in MOVED:
        module = importlib.import_module(move.new_module) if move in moves else None
        assert move not in moves or move.new_name in dir(module)


LIFECYCLE = [m for m in MOVED if m.new_name == "ToolLifecycle"]


def test_the_tool_lifecycle_rename_leaves_the_lifecycle_protocol_alone() -> None:
    code = ("from armorer_ray import Lifecycle, tool\n"
            "from armorer_ray.lifecycle import Health\n"
            "import armorer_ray.lifecycle\n"
            "old = tool(name='a', description='A.', lifecycle=Lifecycle(deprecated=True))(lambda: 1)\n"
            "protocol = armorer_ray.lifecycle.Lifecycle\n")
    result = migrate_source(code, LIFECYCLE)
    assert result.code == code.replace("import Lifecycle, tool", "import ToolLifecycle, tool").replace(
        "lifecycle=Lifecycle(", "lifecycle=ToolLifecycle(")
    assert result.changes == ("armorer_ray.Lifecycle -> armorer_ray.ToolLifecycle",)
    tools_module = migrate_source("from armorer_ray.tools import Lifecycle as L\n", LIFECYCLE).code
    assert tools_module == "from armorer_ray.tools import ToolLifecycle as L\n"


def test_migrate_paths_dry_run_then_write(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    target = tmp_path / "pkg" / "billing.py"
    target.write_text(OLD)
    (tmp_path / "pkg" / "clean.py").write_text("x = 1\n")
    [planned] = migrate_paths([tmp_path])
    assert planned.path == target and "-from armorer_ray.telemetry import Analytics, CostFunction" in planned.diff
    assert target.read_text() == OLD  # a dry run writes nothing
    migrate_paths([tmp_path], write=True)
    assert "ResultCost" in target.read_text() and migrate_paths([tmp_path]) == []


def test_the_cli_prints_the_diff_and_writes_on_request(tmp_path: Path) -> None:
    target = tmp_path / "billing.py"
    target.write_text(OLD)
    runner = CliRunner()
    dry = runner.invoke(app, ["migrate", str(tmp_path), "--check"])
    assert dry.exit_code == 1 and "+from armorer_ray.telemetry import Analytics, ResultCost" in dry.output
    assert target.read_text() == OLD
    done = runner.invoke(app, ["migrate", str(target), "--write"])
    assert done.exit_code == 0 and "ResultCost" in target.read_text()
    bad = runner.invoke(app, ["migrate", str(tmp_path / "notes.txt")])
    assert bad.exit_code == 2


def test_old_names_still_import_with_a_warning_that_names_the_fix() -> None:
    from armorer_ray.telemetry import ResultCost

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from armorer_ray.telemetry import CostFunction
    assert CostFunction is ResultCost
    # A package's `from ... import` asks twice (hasattr, then getattr): the same warning, once per lookup.
    warning = next(w for w in caught if "CostFunction" in str(w.message))
    assert issubclass(warning.category, DeprecationWarning)
    assert "from armorer_ray.telemetry import ResultCost" in str(warning.message)
    assert "armorer migrate" in str(warning.message)
    with pytest.raises(ImportError):
        from armorer_ray.telemetry import NoSuchThing  # noqa: F401
