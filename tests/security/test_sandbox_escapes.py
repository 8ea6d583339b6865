"""Attacks from inside a sandboxed body: outliving the deadline, fork bombs, reading the parent, stealing secrets.

The body is the attacker here. Each test performs the attack and checks the boundary held (docs/sandbox.md
lists what the boundary covers and what it does not).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from armorer_ray import Toolbox, ToolCall
from armorer_ray.sandbox import SandboxExecutor, SandboxLimits
from tests.security import sandbox_attacks as attacks

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="a uid per call needs the tests to run as root")
ROOT_DIR = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A zombie is gone for our purposes: it holds no pipe and runs nothing.
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return True


def _wait_gone(pid: int, deadline_s: float = 30.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def _run(box: Toolbox, name: str, **arguments: object) -> object:
    async def go() -> object:
        try:
            return await box.execute(ToolCall(name=name, arguments=arguments))
        finally:
            await box.stop()

    return asyncio.run(go())


@pytest.mark.parametrize("escape_group", [False, pytest.param(True, marks=needs_root)])
def test_a_forked_child_dies_with_the_deadline_and_holds_no_pipe(shared_tmp_path: Path, escape_group: bool) -> None:
    box = Toolbox([attacks.fork_and_hang], executor=SandboxExecutor(SandboxLimits(wall_s=1)))
    result = _run(box, "fork_and_hang", marker_dir=str(shared_tmp_path), escape_group=escape_group)
    assert result.error is not None and result.error.code == "SANDBOX_WALL_TIME"  # type: ignore[attr-defined]
    child = int((shared_tmp_path / "child.pid").read_text())
    assert _wait_gone(child)
    # Old code returned only when the child let go of the pipe, after its 120 s, having written this.
    assert not (shared_tmp_path / "child-survived").exists()


@pytest.mark.parametrize("separate_uid", [False, pytest.param(True, marks=needs_root)])
def test_a_child_that_left_the_group_is_killed_when_the_body_returns(shared_tmp_path: Path,
                                                                     separate_uid: bool) -> None:
    box = Toolbox([attacks.fork_and_return],
                  executor=SandboxExecutor(SandboxLimits(wall_s=60), separate_uid=separate_uid))
    result = _run(box, "fork_and_return", marker_dir=str(shared_tmp_path))
    assert result.result == "returned"  # type: ignore[attr-defined]
    assert _wait_gone(int((shared_tmp_path / "child.pid").read_text()))


@needs_root
def test_a_fork_bomb_is_bounded_by_the_process_limit() -> None:
    box = Toolbox([attacks.fork_bomb], executor=SandboxExecutor(SandboxLimits(wall_s=60, processes=8)))
    result = _run(box, "fork_bomb", attempts=200)
    assert result.outcome == "success" and result.result < 8  # type: ignore[attr-defined]


@needs_root
def test_a_body_cannot_read_the_parents_memory() -> None:
    box = Toolbox([attacks.read_memory_of], executor=SandboxExecutor(SandboxLimits(wall_s=60)))
    result = _run(box, "read_memory_of", pid=os.getpid())
    assert result.result == "PermissionError"  # type: ignore[attr-defined]


def test_a_body_that_catches_sigxcpu_is_reported_as_over_its_cpu_limit() -> None:
    box = Toolbox([attacks.ignore_sigxcpu], executor=SandboxExecutor(SandboxLimits(wall_s=120, cpu_s=1)))
    result = _run(box, "ignore_sigxcpu")
    assert result.error is not None and result.error.code == "SANDBOX_CPU_TIME"  # type: ignore[attr-defined]


def test_json_results_are_the_default() -> None:
    assert SandboxExecutor().results == "json"
    with pytest.warns(UserWarning, match="run code in this process"):
        SandboxExecutor(results="pickle")


def test_secrets_in_the_environment_and_body_output_stay_out_of_reach() -> None:
    # A fresh interpreter, so the fork server starts here with the secret already in the environment.
    script = textwrap.dedent("""
        import asyncio, json, sys
        from armorer_ray import Toolbox, ToolCall
        from armorer_ray.sandbox import SandboxExecutor, SandboxLimits
        from tests.security import sandbox_attacks as attacks

        async def main():
            box = Toolbox([attacks.show_environment, attacks.flood_stderr],
                          executor=SandboxExecutor(SandboxLimits(wall_s=60), env={"GIVEN": "explicitly"}))
            seen = await box.execute(ToolCall(name="show_environment"))
            flood = await box.execute(ToolCall(name="flood_stderr", arguments={"megabytes": 5}))
            await box.stop()
            print(json.dumps({"seen": seen.result, "flood": flood.result}))

        asyncio.run(main())
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR), "ARMORER_TEST_SECRET": "hunter2-api-key"}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT_DIR, capture_output=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stderr) < 100_000 and len(done.stdout) < 100_000  # the 5 MB flood never reached us
    assert b"hunter2-api-key" not in done.stdout
    assert b'"flood": "flooded"' in done.stdout and b"GIVEN=explicitly" in done.stdout


def test_a_file_past_file_bytes_cannot_be_written_even_in_shared_memory() -> None:
    box = Toolbox([attacks.fill_shared_memory],
                  executor=SandboxExecutor(SandboxLimits(wall_s=60, file_bytes=4 * 2**20)))
    result = _run(box, "fill_shared_memory", megabytes=300)
    assert result.error is not None and "too large" in result.error.message.lower()  # type: ignore[attr-defined]
