"""Schema evolution: compatibility verdicts and deprecated versions."""

from __future__ import annotations

from typing import Literal

from armorer_ray import Toolbox, ToolLifecycle, tool
from armorer_ray.evolution import check_compatibility


def version(v: str, fn: object, **options: object) -> object:
    return tool(name="report", description="Report.", namespace="ops", version=v, **options)(fn)  # type: ignore[call-overload]


def test_additive_changes_are_compatible() -> None:
    def v1(team: str, days: int = 7) -> str:
        return team

    def v2(team: str, days: int = 7, fmt: str = "md") -> str:
        return team

    report = check_compatibility(version("1.0.0", v1), version("1.1.0", v2))  # type: ignore[arg-type]
    assert report.compatible and report.additive == ['new optional parameter "fmt"']


def test_breaking_changes_are_named() -> None:
    def v1(team: str, days: int = 7, level: Literal["a", "b"] = "a", note: str = "") -> str:
        return team

    def v2(team: int, days: int, level: Literal["a"] = "a") -> str:
        return str(team)

    report = check_compatibility(version("1.0.0", v1), version("2.0.0", v2))  # type: ignore[arg-type]
    assert not report.compatible
    assert report.breaking == [
        'parameter "note" was removed (calls that pass it are now refused)',
        'parameter "days" became required',
        "parameter \"level\" no longer accepts 'b'",
        'parameter "team" changed type',
    ]


def test_versionless_lookup_skips_deprecated_versions_and_calls_warn() -> None:
    old = version("2.0.0", lambda: "old", lifecycle=ToolLifecycle(deprecated=True, replaced_by="ops:report@1.5.0"))
    current = version("1.5.0", lambda: "current")
    box = Toolbox([current, old])  # type: ignore[list-item]
    assert box.get_tool("ops:report").version == "1.5.0"  # type: ignore[union-attr]
    warnings: list[str] = []
    box.on("log", lambda e: warnings.append(e.detail["message"]))
    assert box.execute_sync({"name": "ops:report@2.0.0"}).result == "old"
    assert warnings == ["tool ops:report@2.0.0 is deprecated; use ops:report@1.5.0"]
