"""Error-rate alerts: fire once above the threshold, resolve once below, judged over a sliding window."""

from __future__ import annotations

import pytest

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.errors import ConfigError
from armorer_ray.telemetry import ErrorRateAlert


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def watched(alert: ErrorRateAlert) -> tuple[Toolbox, list[dict[str, object]]]:
    div = tool(name="div", description="Divide.")(lambda a, b: a / b)
    other = tool(name="other", description="Other.")(lambda: 1)
    box = Toolbox([div, other])
    seen: list[dict[str, object]] = []
    box.on("alert.error-rate", lambda event: seen.append(dict(event.detail)))
    alert.attach(box)
    return box, seen


def run(box: Toolbox, *denominators: int) -> None:
    for b in denominators:
        box.execute_sync(ToolCall(name="div", arguments={"a": 1, "b": b}))


def test_fires_once_and_resolves_once_with_the_window_figures() -> None:
    box, seen = watched(ErrorRateAlert(0.25, window_s=60, min_calls=4, clock=FakeClock()))
    run(box, 1, 0, 1, 0, 0, 0)  # 2 of 4 fail: fires at the 4th call, then stays firing
    assert [(a["state"], a["calls"], a["errors"]) for a in seen] == [("firing", 4, 2)]
    assert seen[0]["tool"] == "default:div" and seen[0]["error_rate"] == 0.5 and seen[0]["threshold"] == 0.25
    run(box, *[1] * 9)  # 4 of 15 fail: 0.267, still above
    assert len(seen) == 1
    run(box, 1)  # 4 of 16: 0.25, no longer above the threshold
    assert [a["state"] for a in seen] == ["firing", "resolved"] and seen[1]["calls"] == 16


def test_old_failures_leave_the_window() -> None:
    clock = FakeClock()
    box, seen = watched(ErrorRateAlert(0.5, window_s=60, min_calls=2, slots=6, clock=clock))
    run(box, 0, 0)
    assert [a["state"] for a in seen] == ["firing"]
    clock.now += 61  # both failures are now older than the window
    run(box, 1, 1)
    assert [a["state"] for a in seen] == ["firing", "resolved"] and seen[1]["errors"] == 0


def test_tools_are_judged_apart_and_min_calls_holds_back() -> None:
    box, seen = watched(ErrorRateAlert(0.1, window_s=60, min_calls=3, clock=FakeClock()))
    run(box, 0, 0)
    for _ in range(5):
        box.execute_sync(ToolCall(name="other"))
    assert seen == []  # two div calls are too few to judge; other never failed
    run(box, 0)
    assert [(a["tool"], a["state"]) for a in seen] == [("default:div", "firing")]


@pytest.mark.parametrize("options", [{"max_error_rate": 1.0}, {"max_error_rate": -0.1},
                                     {"max_error_rate": 0.5, "window_s": 0}, {"max_error_rate": 0.5, "slots": 0},
                                     {"max_error_rate": 0.5, "min_calls": 0}])
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        ErrorRateAlert(**options)  # type: ignore[arg-type]
