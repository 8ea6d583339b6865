"""The workflow example runs, and its checks pass."""

from __future__ import annotations

import pytest

from examples import workflow_research


async def test_research_example_runs_locally(capsys: pytest.CaptureFixture[str]) -> None:
    assert await workflow_research.main(use_ray=False) == 0
    out = capsys.readouterr().out
    assert "flowchart TD" in out and "paged on-call" in out
    assert "resumed from checkpoints: 8 nodes restored, same outputs: True" in out
