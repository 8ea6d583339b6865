"""Input sanitization policies: path confinement (with symlinks and ``..``) and argument size/depth limits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorer_ray import ConfigError, PolicyContext, Toolbox, ToolCall, tool
from armorer_ray.sanitize import ArgumentBounds, ArgumentLimits, ConfinePaths, json_depth


@tool
def read_text(path: Path) -> str:
    """Read a text file."""
    return path.read_text()


@tool
def copy_files(sources: list[str], target: str, note: str = "") -> int:
    """Pretend to copy files (paths as plain strings)."""
    return len(sources)


@tool
def store(doc: dict[str, object]) -> int:
    """Store a document."""
    return len(doc)


# A fixed little world: <base>/root holds a file, a directory, a link out and a link back in; <base>/outside is
# where the link out leads; <base>/root2 shares the root's name as a prefix.
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    base = Path(os.path.realpath(tmp_path_factory.mktemp("confine")))
    root, outside, sibling = base / "root", base / "outside", base / "root2"
    for directory in (root / "a", outside / "a", sibling):
        directory.mkdir(parents=True)
    (root / "a" / "file.txt").write_text("inside")
    (outside / "secret.txt").write_text("outside")
    (root / "out").symlink_to(outside)
    (root / "in").symlink_to(root / "a")
    return root, {str(root / "out"): outside, str(root / "in"): root / "a"}


def _expected_inside(root: Path, links: dict[str, Path], segments: list[str]) -> bool:
    """An independent resolver for the little world: a stack of components, our two links replaced by targets."""
    parts = list(root.parts)
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(parts) > 1:
                parts.pop()
            continue
        parts.append(segment)
        target = links.get(str(Path(*parts)))
        if target is not None:
            parts = list(target.parts)
    resolved = Path(*parts)
    return resolved == root or root in resolved.parents


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(st.sampled_from(["a", "in", "out", "..", ".", "x", "file.txt", "root2"]), max_size=8))
def test_confinement_matches_an_independent_resolution(world: tuple[Path, dict[str, Path]],
                                                       segments: list[str]) -> None:
    root, links = world
    policy = ConfinePaths(root)
    path = os.path.join(str(root), *segments)
    assert policy.contains(path) == _expected_inside(root, links, segments), path


@pytest.fixture(scope="module")
def empty_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.path.realpath(tmp_path_factory.mktemp("empty"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc.-_ ", min_size=1, max_size=4).filter(lambda s: s not in (".", "..")),
                max_size=6))
def test_paths_made_only_of_plain_names_under_the_root_are_inside(empty_root: str, segments: list[str]) -> None:
    policy = ConfinePaths(empty_root)  # nothing exists under it, so no name is a link
    assert policy.contains(os.path.join(empty_root, *segments))
    assert not policy.contains(os.path.join(empty_root, "..", "elsewhere", *segments))


def test_a_sibling_that_shares_the_roots_name_as_a_prefix_is_outside(world: tuple[Path, dict[str, Path]]) -> None:
    root, _ = world
    assert not ConfinePaths(root).contains(f"{root}2/anything")
    assert ConfinePaths(root).contains(root)


def test_a_nul_byte_is_outside(world: tuple[Path, dict[str, Path]]) -> None:
    root, _ = world
    assert not ConfinePaths(root).contains(f"{root}/a\x00/../../etc")


def test_relative_paths_resolve_against_the_current_directory(world: tuple[Path, dict[str, Path]],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = world
    monkeypatch.chdir(root / "a")
    policy = ConfinePaths(root)
    assert policy.contains("file.txt") and policy.contains("../in/file.txt")
    assert not policy.contains("../out/secret.txt") and not policy.contains("../../outside")


async def test_through_a_toolbox_outside_paths_are_denied_and_inside_ones_run(
        world: tuple[Path, dict[str, Path]]) -> None:
    root, _ = world
    box = Toolbox([read_text], policy=ConfinePaths(root))
    inside = await box.execute(ToolCall(name="read_text", arguments={"path": str(root / "in" / "file.txt")}))
    assert inside.result == "inside"
    escaped = await box.execute(ToolCall(name="read_text", arguments={"path": str(root / "out" / "secret.txt")}))
    assert escaped.error is not None
    assert (escaped.error.code, escaped.error.category) == ("POLICY_DENIED", "permission")
    assert "outside the allowed root" in escaped.error.message


async def test_named_string_parameters_and_lists_of_them_are_checked(world: tuple[Path, dict[str, Path]]) -> None:
    root, _ = world
    box = Toolbox([copy_files], policy=ConfinePaths(root, params=["sources", "target"]))
    ok = await box.execute(ToolCall(name="copy_files", arguments={
        "sources": [str(root / "a" / "file.txt")], "target": str(root / "a"), "note": "/etc/passwd"}))
    assert ok.result == 1  # `note` is not a path parameter
    bad = await box.execute(ToolCall(name="copy_files", arguments={
        "sources": [str(root / "a"), str(root / "out")], "target": str(root)}))
    assert bad.error is not None and bad.error.message.startswith('Argument "sources[1]" resolves outside')


def test_the_root_must_be_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ConfinePaths(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError):
        ConfinePaths(tmp_path / "file")


# -- argument limits -----------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@given(json_values)
def test_json_depth_agrees_with_a_recursive_count(value: object) -> None:
    assert json_depth(value) == _depth(value)
    assert json_depth(value, stop_after=2) == min(_depth(value), 3)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=3), json_values, max_size=3), st.integers(1, 6), st.integers(2, 200))
def test_argument_limits_admit_exactly_what_fits(arguments: dict[str, object], max_depth: int,
                                                 max_bytes: int) -> None:
    box = Toolbox([store], policy=ArgumentLimits(max_bytes=max_bytes, max_depth=max_depth))
    result = box.execute_sync(ToolCall(name="store", arguments={"doc": arguments}))
    sent = {"doc": arguments}
    fits = (_depth(sent) <= max_depth
            and len(json.dumps(sent, ensure_ascii=False, separators=(",", ":")).encode()) <= max_bytes)
    assert result.ok == fits, result.error
    if not fits:
        assert result.error is not None and result.error.code == "POLICY_DENIED"


def test_a_value_nested_past_the_recursion_limit_is_refused_not_crashed() -> None:
    deep: object = 1
    for _ in range(5000):
        deep = [deep]
    call = ToolCall(name="store", arguments={"doc": {"x": deep}})
    decision = ArgumentLimits(max_bytes=10**9).before_execute(PolicyContext(store, call, {}))
    assert decision is not None and decision.status == "deny"
    assert decision.reason == "Arguments are nested more than 256 levels deep, the most allowed"
    assert ArgumentLimits(max_bytes=10**9, max_depth=2000).before_execute(PolicyContext(store, call, {})) is not None


def test_limits_must_be_positive_integers() -> None:
    for bad in ({"max_bytes": 0}, {"max_depth": -1}, {"max_bytes": 1.5}, {"max_depth": True}):
        with pytest.raises(ConfigError):
            ArgumentLimits(**bad)  # type: ignore[arg-type]


class _Walked(dict):  # type: ignore[type-arg]
    """A dict the bounds check cannot take for a plain one, so it always takes the full walk."""


flat_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.one_of(flat_scalars, st.lists(flat_scalars, max_size=4),
                                                      st.dictionaries(st.text(max_size=2), flat_scalars, max_size=2)),
                       max_size=5),
       st.integers(1, 3), st.integers(0, 12), st.integers(0, 60))
def test_the_flat_shortcut_answers_as_the_full_walk(arguments: dict[str, object], max_depth: int, max_items: int,
                                                    max_chars: int) -> None:
    bounds = ArgumentBounds(max_depth=max_depth, max_items=max_items or None, max_chars=max_chars or None)
    assert bounds.check(arguments) == bounds.check(_Walked(arguments))
