"""Attacks on `ConfinePaths`: paths hidden in nested values, and a symlink swapped after the check."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from armorer_ray import ConfinePaths, Toolbox, ToolCall, tool
from armorer_ray.sanitize import open_beneath


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "root"
    workspace.mkdir()
    (workspace / "ok.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside secret")
    return workspace


class Target(BaseModel):
    label: str
    where: Path


@dataclasses.dataclass
class Pair:
    source: Path


@tool
def by_name(files: dict[str, Path]) -> int:
    """Read files by name."""
    return len(files)


@tool
def by_model(target: Target) -> str:
    """Read a target."""
    return target.where.read_text()


@tool
def by_grid(grid: list[list[Path]]) -> int:
    """Read a grid of files."""
    return sum(len(row) for row in grid)


@tool
def by_dataclass(pair: Pair) -> str:
    """Read a pair."""
    return pair.source.read_text()


@pytest.mark.parametrize(("name", "arguments"), [
    ("by_name", {"files": {"a": "ok.txt", "b": "../secret.txt"}}),
    ("by_model", {"target": {"label": "x", "where": "../secret.txt"}}),
    ("by_grid", {"grid": [["ok.txt"], ["ok.txt", "../secret.txt"]]}),
    ("by_dataclass", {"pair": {"source": "../secret.txt"}}),
])
def test_nested_paths_outside_the_root_are_denied(root: Path, name: str, arguments: dict[str, object],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)  # relative paths resolve where the body will open them
    box = Toolbox([by_name, by_model, by_grid, by_dataclass], policy=ConfinePaths(root))
    result = box.execute_sync(ToolCall(name=name, arguments=arguments))
    assert result.error is not None and result.error.code == "POLICY_DENIED", result
    assert "outside the allowed root" in result.error.message


def test_nested_paths_inside_the_root_are_allowed(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    box = Toolbox([by_model, by_grid], policy=ConfinePaths(root))
    assert box.execute_sync(ToolCall(name="by_model", arguments={"target": {"label": "x", "where": "ok.txt"}})).ok
    assert box.execute_sync(ToolCall(name="by_grid", arguments={"grid": [["ok.txt"], []]})).result == 1


def test_a_link_swapped_after_the_check_is_not_followed_by_confine_open(root: Path) -> None:
    confine = ConfinePaths(root)
    checked = threading.Event()
    link = root / "report.txt"
    link.symlink_to(root / "ok.txt")  # inside: the check passes

    @tool
    def read_report(path: Path) -> str:
        """Read the report."""
        checked.set()
        # The attacker swaps the link between the check and the open.
        link.unlink()
        link.symlink_to(root.parent / "secret.txt")
        with confine.open(path) as handle:
            return str(handle.read())

    result = Toolbox([read_report], policy=confine).execute_sync(
        ToolCall(name="read_report", arguments={"path": str(link)}))
    assert checked.is_set()
    assert result.error is not None and "symbolic link" in result.error.message
    assert "outside secret" not in str(result.model_dump())


def test_open_beneath_refuses_escapes_and_links_on_the_way(root: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_text("deep")
    (root / "hop").symlink_to(root / "sub")
    fd = open_beneath(root, "sub/inner.txt")
    assert os.read(fd, 10) == b"deep"
    os.close(fd)
    for escape in ("../secret.txt", "sub/../../secret.txt", str(root.parent / "secret.txt"), "hop/inner.txt"):
        with pytest.raises(PermissionError):
            open_beneath(root, escape)
