"""The runnable example of docs/actors.md runs and checks its own outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.ray
@pytest.mark.slow
def test_deploy_toolbox_example_runs() -> None:
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)  # its own local Ray, not the session's
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "deploy_toolbox.py")], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "deploy_toolbox: ok" in done.stdout
