"""The runnable examples run, and the demo's own checks pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_end_to_end() -> None:
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True,
                               text=True, timeout=600, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "Every call got exactly one structured result." in completed.stdout
