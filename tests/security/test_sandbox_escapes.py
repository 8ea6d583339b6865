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

# What this machine provides (probed once); the tests of a boundary skip, saying why, only where it is missing.
CAPS = SandboxExecutor().capabilities()
_WHY = "; ".join(CAPS.missing)
needs_namespace = pytest.mark.skipif(CAPS.pid_namespace is None, reason=f"no PID namespace here: {_WHY}")
needs_cgroup = pytest.mark.skipif(CAPS.cgroup is None, reason=f"no writable cgroup here: {_WHY}")


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
    box = Toolbox([attacks.fork_and_hang], executor=SandboxExecutor(SandboxLimits(wall_s=5)))
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


# -- the whole tree: PID namespace and cgroup (these attacks succeeded against a body sharing the parent's uid,
# and the tree-wide ones under any uid, before the sandbox had either) --------------------------------------------


@pytest.mark.parametrize("boundary", [
    pytest.param({"cgroup": False}, marks=needs_namespace, id="pid-namespace"),
    pytest.param({"pid_namespace": False}, marks=needs_cgroup, id="cgroup"),
])
def test_a_setsid_child_of_a_body_under_the_parents_uid_dies_at_the_deadline(shared_tmp_path: Path,
                                                                             boundary: dict[str, bool]) -> None:
    # No uid of its own to reap by, and the child left the worker's session: only the namespace or the cgroup
    # can find it. Before them it slept its 120 s out and wrote child-survived.
    executor = SandboxExecutor(SandboxLimits(wall_s=5), separate_uid=False, **boundary)
    box = Toolbox([attacks.fork_and_hang], executor=executor)
    result = _run(box, "fork_and_hang", marker_dir=str(shared_tmp_path), escape_group=True)
    assert result.error is not None and result.error.code == "SANDBOX_WALL_TIME"  # type: ignore[attr-defined]
    assert _wait_gone(int((shared_tmp_path / "child.pid").read_text()))


@needs_cgroup
def test_a_fork_bomb_is_bounded_under_any_uid() -> None:
    # RLIMIT_NPROC means nothing to root or to a uid shared with the parent; the cgroup's pids.max does.
    executor = SandboxExecutor(SandboxLimits(wall_s=120, processes=8), separate_uid=False)
    box = Toolbox([attacks.fork_bomb], executor=executor)
    result = _run(box, "fork_bomb", attempts=200)
    assert result.outcome == "success" and result.result < 8  # type: ignore[attr-defined]


@needs_cgroup
@pytest.mark.parametrize("separate_uid", [False, pytest.param(True, marks=needs_root)])
def test_memory_bounds_the_whole_tree_not_each_process(separate_uid: bool) -> None:
    # Three children of 90 MB each pass a per-process 200 MB limit (RLIMIT_AS); together they are 270 MB.
    executor = SandboxExecutor(SandboxLimits(wall_s=180, memory_bytes=200 * 2**20), separate_uid=separate_uid)
    box = Toolbox([attacks.hold_memory_in_children], executor=executor)
    result = _run(box, "hold_memory_in_children", children=3, megabytes=90)
    if result.error is not None:  # type: ignore[attr-defined]
        assert result.error.code == "SANDBOX_MEMORY", result.error  # type: ignore[attr-defined]
    else:
        assert result.result < 3  # type: ignore[attr-defined]
    # The same tree within the limit runs: the limit is the tree's, not a flat refusal.
    assert _run(Toolbox([attacks.hold_memory_in_children], executor=SandboxExecutor(
        SandboxLimits(wall_s=180, memory_bytes=200 * 2**20), separate_uid=separate_uid)),
        "hold_memory_in_children", children=3, megabytes=30).result == 3  # type: ignore[attr-defined]


@needs_namespace
def test_a_body_cannot_reach_processes_outside_its_namespace() -> None:
    # With the parent's uid (root here), the body could signal the parent and every other process by pid.
    executor = SandboxExecutor(SandboxLimits(wall_s=60), separate_uid=False, cgroup=False)
    box = Toolbox([attacks.signal_process], executor=executor)
    assert _run(box, "signal_process", pid=os.getpid()).result == "ProcessLookupError"  # type: ignore[attr-defined]


@needs_cgroup
def test_no_call_group_is_left_behind(shared_tmp_path: Path) -> None:
    from armorer_ray.sandbox_cgroup import find_cgroups

    support, _ = find_cgroups()
    assert support is not None
    box = Toolbox([attacks.fork_bomb, attacks.fork_and_hang],
                  executor=SandboxExecutor(SandboxLimits(wall_s=1, processes=4)))

    async def calls() -> None:
        try:
            await box.execute(ToolCall(name="fork_bomb", arguments={"attempts": 10}))
            await box.execute(ToolCall(name="fork_and_hang", arguments={"marker_dir": str(shared_tmp_path)}))
        finally:
            await box.stop()

    asyncio.run(calls())
    mine = f"armorer-sandbox-{os.getpid()}-"
    for base in {support.memory, support.pids}:
        assert not [name for name in os.listdir(base) if name.startswith(mine)]


def test_the_boundary_in_force_is_reported_and_named_in_limit_errors(shared_tmp_path: Path) -> None:
    executor = SandboxExecutor(SandboxLimits(wall_s=1), pid_namespace=False, cgroup=False, separate_uid=False)
    caps = executor.capabilities()
    assert (caps.pid_namespace, caps.cgroup, caps.separate_uid) == (None, None, False)
    assert "no PID namespace" in executor.describe() and "no cgroup" in executor.describe()
    box = Toolbox([attacks.fork_and_hang], executor=executor)
    result = _run(box, "fork_and_hang", marker_dir=str(shared_tmp_path))
    assert result.error is not None and result.error.code == "SANDBOX_WALL_TIME"  # type: ignore[attr-defined]
    assert result.error.message.endswith(f"[sandbox: {caps.summary()}]")  # type: ignore[attr-defined]
    full = SandboxExecutor().capabilities()
    assert (full.pid_namespace is None) == any("PID namespace" in why for why in full.missing)
    assert (full.cgroup is None) == any("cgroup" in why for why in full.missing)


@needs_root  # to become an unprivileged uid in a forked child; the probe itself then runs without privilege
def test_a_parent_that_is_not_root_can_make_the_namespace_through_a_user_namespace() -> None:
    # A fresh interpreter, not a fork of this one: whatever earlier tests left in this process (threads, state)
    # must not decide whether a non-root parent can make the namespace.
    script = textwrap.dedent("""
        import ctypes, os
        from armorer_ray.sandbox_boundary import probe_pid_namespace
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        # A process started as this uid is dumpable; one that changed its uid is not until told (and then its
        # /proc/self files, uid_map among them, would stay root's).
        ctypes.CDLL(None, use_errno=True).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
        probe_pid_namespace("user")  # exits 0 when unshare(USER|PID) and a child as pid 1 both worked
    """)
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT_DIR)},
                          cwd="/", capture_output=True, timeout=120, check=False)
    status = done.returncode
    if status == 1 and Path("/proc/sys/user/max_user_namespaces").read_text().strip() == "0":
        pytest.skip("unprivileged user namespaces are turned off here (user.max_user_namespaces = 0)")
    assert status == 0, done.stderr[-2000:]


@needs_cgroup
def test_shared_memory_files_count_against_the_memory_limit() -> None:
    # Before the cgroup, 300 MB reached /dev/shm under a 100 MB limit (RLIMIT_AS does not count tmpfs pages).
    target = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp")
    before = set(target.glob("armorer-fill-*"))
    box = Toolbox([attacks.fill_shared_memory],
                  executor=SandboxExecutor(SandboxLimits(wall_s=120, memory_bytes=100 * 2**20)))
    try:
        result = _run(box, "fill_shared_memory", megabytes=300)
        assert result.error is not None and result.error.code == "SANDBOX_MEMORY"  # type: ignore[attr-defined]
    finally:
        for left in set(target.glob("armorer-fill-*")) - before:  # a killed body cannot remove its file
            left.unlink(missing_ok=True)
