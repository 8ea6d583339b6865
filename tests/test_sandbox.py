"""SandboxExecutor: bodies run in other processes, under limits that end in typed errors, never a crash here."""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from armorer_ray import AbortController, ConfigError, Toolbox, ToolCall, tool
from armorer_ray.executors import Executor, LocalExecutor
from armorer_ray.sandbox import SandboxExecutor, SandboxLimits
from tests import sandbox_bodies as bodies


@pytest.fixture(autouse=True)
def _bodies_can_write_tmp_path(shared_tmp_path: Path) -> None:
    """Bodies run under a uid of their own when the tests run as root: let them write where tests look."""

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs POSIX")

MiB = 2**20


@pytest.fixture
async def box() -> AsyncIterator[Toolbox]:
    limits = SandboxLimits(wall_s=60, cpu_s=1, memory_bytes=200 * MiB, output_bytes=10_000)
    toolbox = Toolbox([bodies.whoami, bodies.async_whoami, bodies.allocate, bodies.spin, bodies.blob, bodies.fail,
                       bodies.unpicklable_result, bodies.read_context, bodies.count_up, bodies.count_up_async,
                       bodies.delete_file, bodies.add, bodies.sleep_then_answer],
                      executor=SandboxExecutor(limits), context={"region": "eu"})
    yield toolbox
    await toolbox.stop()


async def run(toolbox: Toolbox, name: str, **arguments: object) -> object:
    result = await toolbox.execute(ToolCall(name=name, arguments=arguments))
    assert result.ok, result.error
    return result.result


def _running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a killed worker may linger as one until reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _wait_until_gone(pid: int) -> bool:
    for _ in range(600):  # a bound on the wait, not a timing assertion
        if not _running(pid):
            return True
        await asyncio.sleep(0.05)
    return False


def _read_pid(path: Path) -> int | None:
    text = path.read_text() if path.exists() else ""
    return int(text) if text else None


async def _pid_written(path: Path) -> int:
    for _ in range(1200):
        pid = _read_pid(path)
        if pid is not None:
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("the body never started")


# -- where bodies run ----------------------------------------------------------------------------------------------


async def test_each_call_runs_in_a_fresh_process_of_its_own(box: Toolbox) -> None:
    first, second = await run(box, "whoami"), await run(box, "whoami")
    assert os.getpid() not in (first, second)
    assert first != second  # a worker serves one call: nothing a body leaves behind reaches the next call


async def test_an_async_body_runs_in_the_workers_own_event_loop(box: Toolbox) -> None:
    seen = await run(box, "async_whoami", delay_s=0.01)
    assert isinstance(seen, dict) and seen["pid"] != os.getpid() and seen["loop"].endswith("EventLoop")


async def test_arguments_and_results_cross_the_boundary(box: Toolbox) -> None:
    assert await run(box, "add", a=2, b=40) == 42


async def test_generator_bodies_stream_their_chunks_through_the_pipeline(box: Toolbox) -> None:
    chunks: list[object] = []
    box.on("output-chunk", lambda event: chunks.append(event.detail["chunk"]))
    assert await run(box, "count_up", n=3) == [0, 1, 2]
    assert await run(box, "count_up_async", n=2) == [0, 1]
    assert chunks == [0, 1, 2, 0, 1]


async def test_a_body_that_takes_a_context_sees_the_call_and_the_values_but_not_the_toolbox(box: Toolbox) -> None:
    result = await box.execute(ToolCall(name="read_context", tenant_id="acme"))
    assert result.result == {"region": "eu", "tenant": "acme", "toolbox": True, "dry_run": False, "params": {}}


async def test_dry_runs_run_the_dry_run_handler_in_the_sandbox(box: Toolbox, tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("precious")
    result = await box.execute(ToolCall(name="delete_file", arguments={"path": str(target)}), dry_run=True)
    assert result.ok and result.dry_run and result.result.startswith(f"would delete {target}")
    assert f"(pid {os.getpid()})" not in result.result
    assert target.read_text() == "precious"


# -- limits --------------------------------------------------------------------------------------------------------


async def test_a_body_over_its_memory_limit_gets_a_memory_error_result(box: Toolbox) -> None:
    result = await box.execute(ToolCall(name="allocate", arguments={"megabytes": 500}))
    assert result.error is not None
    assert (result.error.code, result.error.category, result.error.retryable) == ("SANDBOX_MEMORY", "internal", False)
    assert result.error.details == {"limit": "memory", "value": 200 * MiB}
    assert await run(box, "allocate", megabytes=20) == 20 * MiB  # under the limit: fine, in a new worker


async def test_a_busy_loop_over_its_cpu_limit_is_stopped(box: Toolbox) -> None:
    result = await box.execute(ToolCall(name="spin", arguments={"seconds": 30}))
    assert result.error is not None
    assert (result.error.code, result.error.category, result.error.retryable) == ("SANDBOX_CPU_TIME", "timeout", False)
    assert await run(box, "add", a=1, b=1) == 2  # the executor carries on with a new worker


async def test_a_body_past_its_wall_clock_limit_is_killed(tmp_path: Path) -> None:
    box = Toolbox([bodies.sleep_then_answer], executor=SandboxExecutor(SandboxLimits(wall_s=0.5)))
    pid_file = tmp_path / "pid"
    try:
        result = await box.execute(ToolCall(name="sleep_then_answer",
                                            arguments={"seconds": 120, "pid_file": str(pid_file)}))
    finally:
        await box.stop()
    assert result.error is not None
    assert (result.error.code, result.error.category, result.error.retryable) == ("SANDBOX_WALL_TIME", "timeout", True)
    assert await _wait_until_gone(int(pid_file.read_text()))


async def test_a_result_over_the_output_limit_is_refused(box: Toolbox) -> None:
    result = await box.execute(ToolCall(name="blob", arguments={"size": 50_000}))
    assert result.error is not None and result.error.code == "SANDBOX_OUTPUT_SIZE"
    assert result.error.category == "internal" and result.error.details == {"limit": "output", "value": 10_000}
    assert len(await run(box, "blob", size=100)) == 100  # type: ignore[arg-type]


async def test_the_calls_deadline_kills_the_worker(box: Toolbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = await box.execute(ToolCall(name="sleep_then_answer", arguments={"seconds": 120,
                                                                            "pid_file": str(pid_file)}),
                               timeout_s=1.0)
    assert result.error is not None and result.error.code == "TIMEOUT"
    assert await _wait_until_gone(int(pid_file.read_text()))


async def test_aborting_the_calls_signal_kills_the_worker(box: Toolbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    controller = AbortController()
    call = ToolCall(name="sleep_then_answer", arguments={"seconds": 120, "pid_file": str(pid_file)})
    running = asyncio.ensure_future(box.execute(call, signal=controller.signal))
    pid = await _pid_written(pid_file)
    controller.abort("user pressed stop")
    result = await running
    assert result.error is not None and result.error.category == "cancelled"
    assert "user pressed stop" in result.error.message
    assert await _wait_until_gone(pid)


async def test_a_caller_that_stops_waiting_kills_the_worker(box: Toolbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    call = ToolCall(name="sleep_then_answer", arguments={"seconds": 120, "pid_file": str(pid_file)})
    running = asyncio.ensure_future(box.execute(call))
    pid = await _pid_written(pid_file)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await _wait_until_gone(pid)


# -- failures ------------------------------------------------------------------------------------------------------


async def test_what_a_body_raises_comes_back_as_the_same_tool_error(box: Toolbox) -> None:
    transient = (await box.execute(ToolCall(name="fail", arguments={"kind": "transient"}))).error
    assert transient is not None
    assert (transient.code, transient.category, transient.retryable) == ("UPSTREAM_503", "transient", True)
    key = (await box.execute(ToolCall(name="fail", arguments={"kind": "key"}))).error
    assert key is not None and (key.category, key.message) == ("internal", "KeyError: 'user'")
    exit_ = (await box.execute(ToolCall(name="fail", arguments={"kind": "exit"}))).error
    assert exit_ is not None and exit_.message == "SystemExit: 3"


async def test_a_worker_that_crashes_is_a_sandbox_error_and_the_caller_lives_on(box: Toolbox) -> None:
    error = (await box.execute(ToolCall(name="fail", arguments={"kind": "segfault"}))).error
    assert error is not None and error.code == "SANDBOX_CRASHED" and "SIGSEGV" in error.message
    assert await run(box, "add", a=3, b=4) == 7


async def test_a_result_that_does_not_pickle_is_a_clear_error() -> None:
    with pytest.warns(UserWarning, match="run code in this process"):
        executor = SandboxExecutor(SandboxLimits(wall_s=60), results="pickle")
    box = Toolbox([bodies.unpicklable_result], executor=executor)
    try:
        error = (await box.execute(ToolCall(name="unpicklable_result"))).error
    finally:
        await box.stop()
    assert error is not None and error.code == "SANDBOX_NOT_PICKLABLE" and "lock" in error.message


async def test_a_context_value_that_does_not_pickle_is_named_in_the_error() -> None:
    box = Toolbox([bodies.read_context], executor=SandboxExecutor(),
                  context={"region": "eu", "db": threading.Lock()})
    try:
        error = (await box.execute(ToolCall(name="read_context"))).error
    finally:
        await box.stop()
    assert error is not None and error.code == "SANDBOX_NOT_PICKLABLE"
    assert error.message.startswith("context value 'db' cannot be sent to the sandbox")


async def test_context_values_are_not_sent_to_bodies_that_do_not_take_a_context() -> None:
    box = Toolbox([bodies.add], executor=SandboxExecutor(), context={"db": threading.Lock()})
    try:
        assert await run(box, "add", a=1, b=2) == 3
    finally:
        await box.stop()


# -- options -------------------------------------------------------------------------------------------------------


@tool(dangerous=True)
def local_pid() -> int:
    """Return the process id (defined here: it runs in the sandbox only when routed there)."""
    return os.getpid()


async def test_only_routes_the_chosen_tools_to_the_sandbox() -> None:
    box = Toolbox([bodies.whoami, local_pid],
                  executor=SandboxExecutor(only=lambda t: not t.is_dangerous, local=LocalExecutor(max_threads=2)))
    try:
        assert await run(box, "local_pid") == os.getpid()
        assert await run(box, "whoami") != os.getpid()
    finally:
        await box.stop()


async def test_json_results_bring_back_json_only() -> None:
    box = Toolbox([bodies.add, bodies.unpicklable_result, bodies.count_up],
                  executor=SandboxExecutor(results="json"))
    try:
        assert await run(box, "add", a=1, b=2) == 3
        assert await run(box, "count_up", n=2) == [0, 1]
        # not JSON either: to_json_compatible turns it into its string, as it does for shaping
        assert "lock" in str(await run(box, "unpicklable_result"))
    finally:
        await box.stop()


def test_sync_calls_work_and_stop_shuts_the_workers_down() -> None:
    executor = SandboxExecutor(warm=1)
    box = Toolbox([bodies.whoami], executor=executor)
    assert box.execute_sync(ToolCall(name="whoami")).ok
    pids = [worker.process.pid for worker in [*executor._pool._idle, *executor._pool._busy]]
    asyncio.run(box.stop())
    assert all(pid is None or not _running(pid) or _gone_soon(pid) for pid in pids)
    assert box.execute_sync(ToolCall(name="whoami")).ok  # a stopped executor starts new workers when asked


def _gone_soon(pid: int) -> bool:
    for _ in range(600):
        if not _running(pid):
            return True
        time.sleep(0.05)
    return False


def test_the_executor_is_an_executor_and_limits_are_checked() -> None:
    assert isinstance(SandboxExecutor(), Executor)
    for bad in ({"wall_s": 0}, {"wall_s": float("inf")}, {"cpu_s": 0.5}, {"memory_bytes": -1},
                {"output_bytes": 1.5}, {"memory_bytes": True}):
        with pytest.raises(ConfigError):
            SandboxLimits(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SandboxExecutor(warm=-1)
    with pytest.raises(ConfigError):
        SandboxExecutor(results="yaml")  # type: ignore[arg-type]


def test_limits_and_their_errors_pickle() -> None:
    from armorer_ray import SandboxLimitExceeded

    limits = SandboxLimits(wall_s=1.5, cpu_s=2, memory_bytes=MiB, output_bytes=10)
    assert pickle.loads(pickle.dumps(limits)) == limits
    error = pickle.loads(pickle.dumps(SandboxLimitExceeded("wall", 1.5, "late")))
    assert error.to_tool_error().category == "timeout" and error.limit == "wall"


# -- a body that attacks its own reply channel ---------------------------------------------------------------------


async def test_a_reply_over_the_output_limit_is_refused_here_even_when_the_worker_lies() -> None:
    box = Toolbox([bodies.forge_reply], executor=SandboxExecutor(SandboxLimits(output_bytes=1000)))
    try:
        result = await box.execute(ToolCall(name="forge_reply", arguments={"flood_bytes": 500_000}))
    finally:
        await box.stop()
    assert result.error is not None and result.error.code == "SANDBOX_OUTPUT_SIZE"


async def test_json_results_never_unpickle_what_the_worker_sends(tmp_path: Path) -> None:
    marker = tmp_path / "made-by-the-worker"
    call = ToolCall(name="forge_reply", arguments={"marker_dir": str(marker)})
    box = Toolbox([bodies.forge_reply], executor=SandboxExecutor(results="json"))
    try:
        error = (await box.execute(call)).error
    finally:
        await box.stop()
    assert error is not None and error.code == "SANDBOX_CRASHED" and "could not be read" in error.message
    assert not marker.exists()
    # The documented danger of the pickle opt-in: a pickled reply runs code here when it is loaded.
    with pytest.warns(UserWarning, match="run code in this process"):
        box = Toolbox([bodies.forge_reply], executor=SandboxExecutor(results="pickle"))
    try:
        await box.execute(call)
    finally:
        await box.stop()
    assert marker.is_dir()


async def test_the_executor_travels_as_its_options_with_fresh_workers() -> None:
    executor = SandboxExecutor(SandboxLimits(wall_s=30), warm=0, results="json")
    box = Toolbox([bodies.add], executor=executor)
    try:
        assert await run(box, "add", a=1, b=1) == 2  # it has started workers and threads: still it pickles
        copy = pickle.loads(pickle.dumps(executor))
        assert (copy.limits, copy.results, copy.only) == (executor.limits, "json", None)
        other = Toolbox([bodies.add], executor=copy)
        assert await run(other, "add", a=2, b=3) == 5
        await other.stop()
    finally:
        await box.stop()
