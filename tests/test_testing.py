"""The shipped test doubles behave as documented."""

from __future__ import annotations

import pytest

from armorer_ray import Toolbox, ToolExecutionError, Transient
from armorer_ray.testing import RecordingToolbox, mock_tool


async def test_mock_tool_queue_override_impl_and_reset() -> None:
    m = mock_tool("m", outcomes=[1, Transient("blip")], impl=lambda **kw: "impl")
    assert await m() == 1
    with pytest.raises(ToolExecutionError):
        await m()
    assert await m(x=1) == "impl"
    m.mock_resolve("fixed")
    assert await m() == "fixed"
    m.mock_reject(ValueError("nope"))
    with pytest.raises(ToolExecutionError, match="nope"):
        await m()
    assert len(m.calls) == 5 and m.calls[2] == {"x": 1}
    m.mock_reset()
    assert m.calls == [] and await m() == "impl"


async def test_mock_tool_with_parameters_validates() -> None:
    m = mock_tool("typed", parameters={"n": int}, impl=lambda n: n + 1)
    assert (await m.execute({"n": "2"})).result == 3
    assert (await m.execute({"n": "x"})).error.category == "validation"  # type: ignore[union-attr]
    from ray import cloudpickle  # what Ray uses to ship tools to actors

    clone = cloudpickle.loads(cloudpickle.dumps(m))
    assert clone.name == "typed" and (await clone.execute({"n": 1})).result == 2


async def test_recording_toolbox_records_every_outcome() -> None:
    ok = mock_tool("ok", impl=lambda: 1)
    bad = mock_tool("bad", outcomes=[RuntimeError("x")])
    box = RecordingToolbox([ok, bad], policy=lambda ctx: ctx.call.id != "denied")
    await box.execute([{"id": "1", "name": "ok"}, {"id": "2", "name": "bad"}, {"id": "denied", "name": "ok"},
                       {"id": "4", "name": "missing"}], mode="sequential")
    assert [(r.call.id, r.result.outcome) for r in box.history] == [("1", "success"), ("2", "error"),
                                                                   ("denied", "error")]
    box.clear_history()
    assert box.history == []
    assert isinstance(box, Toolbox)
