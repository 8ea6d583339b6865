"""Hostile tool bodies for tests/security/test_sandbox_escapes.py (a small module each worker imports)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from armorer_ray import tool


def _host_pid() -> int:
    """This process's pid as the test sees it: /proc is the host's, even inside a PID namespace."""
    return int(os.readlink("/proc/self"))


@tool
def fork_and_hang(marker_dir: str, escape_group: bool = False) -> str:
    """Fork a child that outlives the body (optionally in a session of its own), then hang."""
    pid = os.fork()
    if pid == 0:
        if escape_group:
            os.setsid()
        (Path(marker_dir) / "child.pid").write_text(str(_host_pid()))
        time.sleep(120)
        (Path(marker_dir) / "child-survived").write_text("yes")
        os._exit(0)
    while not (Path(marker_dir) / "child.pid").exists():  # the child is running before the deadline can come
        time.sleep(0.01)
    time.sleep(120)
    return "never"


@tool
def fork_and_return(marker_dir: str) -> str:
    """Fork a child that sleeps past the call, in a session of its own, and return at once."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        (Path(marker_dir) / "child.pid").write_text(str(_host_pid()))
        time.sleep(120)
        (Path(marker_dir) / "child-survived").write_text("yes")
        os._exit(0)
    while not (Path(marker_dir) / "child.pid").exists():
        time.sleep(0.01)
    return "returned"


@tool
def fork_bomb(attempts: int) -> int:
    """Fork up to ``attempts`` sleeping children; return how many forks succeeded."""
    made = 0
    for _ in range(attempts):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        made += 1
    return made


@tool
def read_memory_of(pid: int) -> str:
    """Try to open another process's memory."""
    try:
        with open(f"/proc/{pid}/mem", "rb"):
            return "opened"
    except OSError as exc:
        return type(exc).__name__


@tool
def show_environment() -> dict[str, str]:
    """Return what the body can see of the environment: os.environ and /proc/self/environ."""
    try:
        raw = Path("/proc/self/environ").read_bytes().decode(errors="replace")
    except OSError as exc:
        raw = f"unreadable: {type(exc).__name__}"
    return {"environ": " ".join(f"{k}={v}" for k, v in os.environ.items()), "proc": raw}


@tool
def flood_stderr(megabytes: int) -> str:
    """Write a lot to stderr and stdout."""
    chunk = "x" * 2**20
    for _ in range(megabytes):
        sys.stderr.write(chunk)
        sys.stdout.write(chunk)
    sys.stderr.flush()
    return "flooded"


@tool
def ignore_sigxcpu() -> str:
    """Catch SIGXCPU and keep spinning."""
    signal.signal(signal.SIGXCPU, lambda *_: None)
    while True:
        pass


@tool
def fill_shared_memory(megabytes: int) -> int:
    """Write a file of the given size to /dev/shm (or /tmp), then remove it."""
    target = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"armorer-fill-{_host_pid()}"
    written = 0
    try:
        with open(target, "wb") as handle:
            for _ in range(megabytes):
                handle.write(b"x" * 2**20)
                handle.flush()
                written += 1
    finally:
        target.unlink(missing_ok=True)
    return written


@tool
def signal_process(pid: int) -> str:
    """Try to signal (signal 0: only the permission and existence check) a process by the caller's pid number."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return type(exc).__name__
    return "reachable"


@tool
def hold_memory_in_children(children: int, megabytes: int) -> int:
    """Fork children that each fill ``megabytes`` and hold it; return how many hold it at the same time."""
    import select

    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(release_w)
            block = b"x" * (megabytes * 2**20)  # written, so every page is resident
            os.write(ready_w, b"+")
            os.read(release_r, 1)  # hold it until the body lets go
            os._exit(0 if len(block) else 1)
        pids.append(pid)
    os.close(ready_w)
    os.close(release_r)
    held, deadline = 0, time.monotonic() + 120
    while held < children and time.monotonic() < deadline:
        if select.select([ready_r], [], [], 0.1)[0]:
            chunk = os.read(ready_r, children)
            if not chunk:
                break  # every child gone
            held += len(chunk)
        elif any(os.waitpid(pid, os.WNOHANG)[0] for pid in pids):
            break  # a child died before it held its share (killed: the tree is over its limit)
    # A child may report and then be the one the kernel kills when a later child goes over the tree's limit:
    # count only the children still alive, holding their share, now that every report is in.
    time.sleep(0.5)
    alive = 0
    for pid in pids:
        try:
            alive += os.waitpid(pid, os.WNOHANG)[0] == 0
        except ChildProcessError:
            pass  # reaped above: it died
    os.close(release_w)
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return min(held, alive)
