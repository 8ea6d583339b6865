"""Hostile tool bodies for tests/security/test_sandbox_escapes.py (a small module each worker imports)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from armorer_ray import tool


@tool
def fork_and_hang(marker_dir: str, escape_group: bool = False) -> str:
    """Fork a child that outlives the body (optionally in a session of its own), then hang."""
    pid = os.fork()
    if pid == 0:
        if escape_group:
            os.setsid()
        (Path(marker_dir) / "child.pid").write_text(str(os.getpid()))
        time.sleep(120)
        (Path(marker_dir) / "child-survived").write_text("yes")
        os._exit(0)
    time.sleep(120)
    return "never"


@tool
def fork_and_return(marker_dir: str) -> str:
    """Fork a child that sleeps past the call, in a session of its own, and return at once."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        (Path(marker_dir) / "child.pid").write_text(str(os.getpid()))
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
    target = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"armorer-fill-{os.getpid()}"
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
