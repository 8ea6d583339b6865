"""The versioned registry (reference §11), version negotiation, migrations and deprecation warnings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import ConfigError, Tool, ToolLifecycle, tool
from armorer_ray.events import Event
from armorer_ray.identity import ToolIdentity
from armorer_ray.registry import Migration, create_registry, deprecation_notice
from armorer_ray.versions import is_range, parse_range


def echo(version: str, *, name: str = "echo", deprecated: bool = False, replaced_by: str | None = None) -> Tool:
    life = ToolLifecycle(deprecated=True, replaced_by=replaced_by) if deprecated else None
    options = {"lifecycle": life} if life else {}
    return tool(name=name, version=version, description=f"Echo {version}.", **options)(
        lambda text: f"{version}:{text}")


# -- reference §11 ----------------------------------------------------------------------------------------------

def test_duplicate_id_is_refused_unless_overridden_and_override_drops_old_aliases() -> None:
    registry = create_registry()
    registry.register(echo("1.0.0"), aliases=["old-echo@1"])
    with pytest.raises(ConfigError, match="Tool already registered: default:echo@1.0.0"):
        registry.register(echo("1.0.0"))
    registry.register(echo("1.0.0"), override=True)
    assert registry.aliases("default:echo@1.0.0") == ()
    assert registry.resolve("old-echo@1") is None


def test_alias_equal_to_own_id_is_ignored_and_an_alias_of_another_tool_is_refused_or_moved() -> None:
    registry = create_registry()
    registry.register(echo("1.0.0"), aliases=["default:echo@1.0.0", "e"])
    assert registry.aliases("default:echo@1.0.0") == ("default:e",)
    with pytest.raises(ConfigError, match="Alias already registered: default:e"):
        registry.register(echo("2.0.0"), aliases=["e"])
    registry.register(echo("2.0.0"), aliases=["e"], override=True)
    assert registry.resolve("e").version == "2.0.0"


def test_get_and_unregister_require_a_version() -> None:
    registry = create_registry().register(echo("1.0.0"))
    with pytest.raises(ConfigError, match="must include a version"):
        registry.get("echo")
    with pytest.raises(ConfigError, match="must include a version"):
        registry.unregister(ToolIdentity(name="echo"))
    assert registry.get("default:echo@1.0.0") is not None
    assert registry.unregister("default:echo@1.0.0") is True
    assert registry.unregister("default:echo@1.0.0") is False


def test_resolve_picks_the_highest_semver_excluding_deprecated_unless_allowed() -> None:
    registry = create_registry()
    for version in ("1.2.0", "1.10.0", "1.9.0"):
        registry.register(echo(version))
    registry.register(echo("2.0.0", deprecated=True))
    assert registry.resolve("echo").version == "1.10.0"
    assert registry.resolve("echo", allow_deprecated=True).version == "2.0.0"
    assert registry.resolve("default:echo@1.9.0").version == "1.9.0"


def test_non_semver_versions_resolve_to_the_latest_registered_and_a_selector_overrides() -> None:
    registry = create_registry()
    registry.register(echo("beta")).register(echo("alpha"))
    assert registry.resolve("echo").version == "alpha"
    first = create_registry(version_selector=lambda candidates: candidates[0])
    first.register(echo("1.0.0")).register(echo("3.0.0"))
    assert first.resolve("echo").version == "1.0.0"


@pytest.mark.parametrize(("winner", "loser"), [
    ("1.0.0", "1.0.0-rc.1"), ("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
    ("1.0.0-alpha.2", "1.0.0-alpha.1"), ("1.0.0-alpha.gamma", "1.0.0-alpha.beta"),
])
def test_semver_ordering_quirks_pinned_by_the_reference(winner: str, loser: str) -> None:
    registry = create_registry().register(echo(loser)).register(echo(winner))
    assert registry.resolve("echo").version == winner
    reverse = create_registry().register(echo(winner)).register(echo(loser))
    assert reverse.resolve("echo").version == winner


def test_alias_chains_are_followed_and_cycles_and_depth_are_refused() -> None:
    registry = create_registry(max_alias_depth=2).register(echo("1.0.0"))
    registry.alias("b", "default:echo@1.0.0").alias("a", "b")
    assert registry.resolve("a").version == "1.0.0"
    registry.alias("c", "a")
    with pytest.raises(ConfigError, match="max depth"):
        registry.resolve("c")
    registry.alias("x", "y").alias("y", "x")
    with pytest.raises(ConfigError, match="Alias cycle detected"):
        create_registry().alias("x", "y").alias("y", "x").resolve("x")


def test_to_json_sorts_aliases_and_carries_the_deprecation_notice() -> None:
    registry = create_registry().register(echo("1.0.0", deprecated=True, replaced_by="default:echo@2.0.0"),
                                          aliases=["z", "a"])
    [definition] = registry.to_json()
    assert definition["aliases"] == ["default:a", "default:z"]
    assert definition["deprecation"] == "tool default:echo@1.0.0 is deprecated; use default:echo@2.0.0 instead"
    assert definition["schemaVersion"] == "2020-12"


def test_register_refuses_what_is_not_a_tool() -> None:
    with pytest.raises(ConfigError, match="takes a Tool"):
        create_registry().register({"name": "x"})  # type: ignore[arg-type]


# -- version negotiation ----------------------------------------------------------------------------------------

def test_a_caret_range_gets_the_highest_compatible_non_deprecated_version() -> None:
    registry = create_registry()
    for version in ("1.0.0", "1.3.0", "2.0.0", "2.1.0-beta.1"):
        registry.register(echo(version))
    registry.register(echo("1.4.0", deprecated=True))
    assert registry.resolve("echo@^1").version == "1.3.0"
    assert registry.resolve("echo@^2").version == "2.0.0"  # prereleases only for ranges that name one
    assert registry.resolve("default:echo@~1.0").version == "1.0.0"
    assert registry.resolve("echo@>=1.1.0 <2").version == "1.3.0"
    assert registry.resolve("echo@^3") is None


def test_a_range_falls_back_to_a_deprecated_version_only_when_nothing_else_fits() -> None:
    registry = create_registry().register(echo("1.0.0", deprecated=True)).register(echo("2.0.0"))
    box = registry.toolbox()
    events: list[Event] = []
    box.on("deprecated", events.append)
    result = box.execute_sync({"name": "echo@^1", "arguments": {"text": "x"}})
    assert result.result == "1.0.0:x"
    assert [e.detail["tool"].version for e in events] == ["1.0.0"]


@given(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5))
def test_caret_contains_exactly_the_same_major_at_or_above(major: int, minor: int, patch: int) -> None:
    version = f"{major}.{minor}.{patch}"
    assert parse_range("^1.2.0").contains(version) == (major == 1 and (minor, patch) >= (2, 0))
    assert parse_range("~1.2").contains(version) == (major == 1 and minor == 2)
    assert parse_range("1.x").contains(version) == (major == 1)


def test_range_detection_and_invalid_ranges() -> None:
    assert [is_range(t) for t in ("1.2.3", "v1.0.0", "^1", "~1.2", "1.x", "*", ">=1", "1")] == [
        False, False, True, True, True, True, True, True]
    with pytest.raises(ConfigError, match="invalid version range"):
        parse_range("^banana")


# -- migrations -------------------------------------------------------------------------------------------------

def versions_with_migrations() -> tuple[Tool, Tool, Tool]:
    v1 = tool(name="search", version="1.0.0", description="Search v1.")(lambda q: {"q": q})
    v2 = tool(name="search", version="2.0.0", description="Search v2.")(lambda query: {"query": query})
    v3 = tool(name="search", version="3.0.0", description="Search v3.")(
        lambda query, limit: {"query": query, "limit": limit})
    return v1, v2, v3


def test_a_call_for_a_retired_version_is_upgraded_step_by_step_before_validation() -> None:
    _, v2, v3 = versions_with_migrations()
    registry = create_registry()
    registry.register(v2, migrations=[Migration("^1", lambda a: {"query": a.pop("q")}, note="q → query")])
    registry.register(v3, migrations=[Migration("^2", lambda a: {**a, "limit": 10})])
    box = registry.toolbox()
    seen: list[Event] = []
    box.on("migrated", seen.append)
    result = box.execute_sync({"name": "search@1.0.0", "arguments": {"q": "ray"}})
    assert result.outcome == "success", result.error
    assert result.result == {"query": "ray", "limit": 10}
    assert (result.tool_id, result.migrated_from) == ("default:search@3.0.0", "1.0.0")
    [event] = seen
    assert (event.detail["from_version"], event.detail["to_version"], event.detail["notes"]) == (
        "1.0.0", "3.0.0", ["q → query"])
    # A call for a version that is still registered runs on it, unmigrated.
    direct = box.execute_sync({"name": "default:search@2.0.0", "arguments": {"query": "x"}})
    assert direct.result == {"query": "x"} and direct.migrated_from is None


def test_migrations_are_not_applied_when_there_is_no_path() -> None:
    _, v2, _ = versions_with_migrations()
    box = create_registry().register(v2, migrations=[Migration("^1", lambda a: a)]).toolbox()
    result = box.execute_sync({"name": "search@0.9.0", "arguments": {"q": "ray"}})
    assert result.error is not None and result.error.category == "not_found"


def test_a_migration_that_raises_fails_the_call_with_a_validation_error() -> None:
    _, v2, _ = versions_with_migrations()
    box = create_registry().register(v2, migrations=[Migration("^1", lambda a: {"query": a["missing"]})]).toolbox()
    result = box.execute_sync({"name": "search@1.0.0", "arguments": {"q": "ray"}})
    assert result.error is not None
    assert (result.error.category, result.error.code) == ("validation", "MIGRATION_FAILED")
    assert "search@1.0.0" in result.error.message


def test_migrated_arguments_are_still_validated_by_the_new_version() -> None:
    _, v2, _ = versions_with_migrations()
    box = create_registry().register(v2, migrations=[Migration("^1", lambda a: a)]).toolbox()
    result = box.execute_sync({"name": "search@1.0.0", "arguments": {"q": "ray"}})
    assert result.error is not None and result.error.category == "validation"
    assert result.migrated_from == "1.0.0"


def test_migration_declarations_are_checked() -> None:
    with pytest.raises(ConfigError, match="callable"):
        Migration("^1", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="invalid version range"):
        Migration("^x.y", lambda a: a)


# -- deprecation ----------------------------------------------------------------------------------------------

def test_deprecation_is_surfaced_in_events_and_exports() -> None:
    old = echo("1.0.0", deprecated=True, replaced_by="default:echo@2.0.0")
    box = create_registry().register(old).register(echo("2.0.0")).toolbox()
    seen: list[Event] = []
    box.on("deprecated", seen.append)
    assert box.execute_sync({"name": "default:echo@1.0.0", "arguments": {"text": "x"}}).result == "1.0.0:x"
    assert seen[0].detail["replaced_by"] == "default:echo@2.0.0"
    assert "use default:echo@2.0.0 instead" in seen[0].detail["message"]
    exported = {d["id"]: d for d in box.to_json()}
    assert "deprecation" in exported["default:echo@1.0.0"] and "deprecation" not in exported["default:echo@2.0.0"]
    assert box.execute_sync({"name": "echo", "arguments": {"text": "x"}}).result == "2.0.0:x"
    assert deprecation_notice(echo("2.0.0")) is None


def test_the_cli_warns_about_deprecated_tools_naming_the_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from armorer_ray.cli import app

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    listed = CliRunner().invoke(app, ["list", "tests.registry_fixtures:build_versioned"])
    assert listed.exit_code == 0, listed.output
    assert "default:echo@1.0.0 is deprecated; use default:echo@2.0.0 instead" in listed.output
    described = CliRunner().invoke(app, ["describe", "tests.registry_fixtures:build_versioned", "echo"])
    assert described.exit_code == 0 and "deprecated" not in described.output  # "echo" negotiates 2.0.0


def test_the_cli_export_carries_deprecation_notices_and_warns_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from armorer_ray.cli import app

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    exported = CliRunner().invoke(app, ["export", "tests.registry_fixtures:build_versioned"])
    assert exported.exit_code == 0, exported.output
    definitions = {d["id"]: d for d in json.loads(exported.stdout)}
    assert definitions["default:echo@1.0.0"]["deprecation"].endswith("use default:echo@2.0.0 instead")
    assert "deprecated" in exported.stderr


@given(st.integers(2, 6), st.data())
def test_a_call_for_any_retired_major_climbs_every_later_migration_in_order(majors: int, data: st.DataObject) -> None:
    # Versions 2..majors+1 are registered; version k renames argument a{k-1} to a{k}. A call written for any
    # retired 1.x.y (or any registered major, asked for exactly) must end with the newest version's argument.
    registry = create_registry()
    for major in range(2, majors + 2):
        body = tool(name="chain", version=f"{major}.0.0", description="Chain.",
                    parameters={f"a{major}": int})(lambda **kwargs: kwargs)
        registry.register(body, migrations=[Migration(f"^{major - 1}", lambda args, m=major: {
            f"a{m}": args.pop(f"a{m - 1}") + 1, "steps": [*args.get("steps", []), m]})])
    minor, patch = data.draw(st.integers(0, 9)), data.draw(st.integers(0, 9))
    resolution = registry.negotiate(f"chain@1.{minor}.{patch}")
    assert resolution is not None and resolution.tool.version == f"{majors + 1}.0.0"
    assert [version for version, _ in resolution.steps] == [f"{m}.0.0" for m in range(2, majors + 2)]
    migrated = resolution.migrate({"a1": 0})
    assert migrated[f"a{majors + 1}"] == majors and migrated["steps"] == list(range(2, majors + 2))
    exact = registry.negotiate(f"chain@{majors}.0.0")
    assert exact is not None and exact.tool.version == f"{majors}.0.0" and exact.steps == ()
