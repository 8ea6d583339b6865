"""The OS boundary around a sandboxed body: its own session, its own uid, a clean environment, and a reaper.

`SandboxExecutor` (``sandbox.py``) runs each body in a single-use worker process; this module hardens that process
and cleans up after it. In the worker, before the body runs (`enter`):

- ``setsid``: the worker leads a new session and process group, so the parent kills the whole group at once;
- stdout and stderr go to ``/dev/null``: a body cannot flood the parent's terminal or logs;
- the environment is replaced by the one the executor was given (default: ``PATH`` and ``LANG`` only);
- ``PR_SET_NO_NEW_PRIVS``: nothing the body executes can gain privileges (setuid binaries);
- when the parent is root: supplementary groups dropped and the worker moves to a uid and gid of its own, taken
  from a range no user owns, unique among running calls. The body then cannot read or signal the parent or
  another call's body (``/proc/<pid>/mem``, ``kill``), and its ``/proc/self`` files (``environ``, ``mem``) are
  no longer readable to it (a credential change makes a process non-dumpable). ``RLIMIT_NPROC``, which the
  kernel does not apply to root, then bounds the body's processes: the count is per uid, and the uid is the
  call's alone.

After the call (`reap`): every process still running under the call's uid is killed (``kill(-1, SIGKILL)`` from
a process that has that uid, which reaches exactly those), whatever session or group it moved to; the worker does
it itself before replying, and the parent does it from a fresh process when the worker was killed (deadline,
cancellation). The worker is also a child subreaper: descendants orphaned by a double fork or a ``setsid`` are
reparented to it, and it kills them all before replying, uid or not. Without a uid of its own (a parent that is
not root), a descendant that called ``setsid`` escapes the process-group kill at a deadline: see docs/sandbox.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Boundary", "UidPool", "become_subreaper", "enter", "kill_descendants", "protect_parent_memory",
           "reap_uid"]

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38

DEFAULT_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True, slots=True)
class Boundary:
    """What `enter` applies in a worker (it travels with each job)."""

    env: Mapping[str, str]
    uid: int | None  # None: keep the parent's uid (the parent is not root)
    processes: int | None  # RLIMIT_NPROC, applied only with a uid of the call's own


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def protect_parent_memory() -> bool:
    """Make this (the parent) process non-dumpable, so a body running under the same uid cannot open its memory.

    ``/proc/<pid>/mem`` and ptrace need the target to be dumpable (or the reader to hold CAP_SYS_PTRACE); the
    side effects are that this process leaves no core dump and its ``/proc/<pid>`` files belong to root.

    Returns:
        Whether the kernel accepted it (False off Linux).
    """
    return _prctl(_PR_SET_DUMPABLE, 0)


def enter(boundary: Boundary) -> None:
    """Apply the boundary in the worker, before the body runs (see the module docstring)."""
    import resource

    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    os.environ.clear()
    os.environ.update(boundary.env)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if boundary.uid is not None:
        if boundary.processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (boundary.processes, boundary.processes))
        os.setgroups([])
        os.setresgid(boundary.uid, boundary.uid, boundary.uid)
        os.setresuid(boundary.uid, boundary.uid, boundary.uid)


def become_subreaper() -> bool:
    """In the worker: adopt orphaned descendants (a double fork, a ``setsid``), so `kill_descendants` finds them."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def kill_descendants(rounds: int = 50) -> None:
    """In the worker (a subreaper), before replying: SIGKILL every descendant, reparented escapers included.

    Children are read from ``/proc/self/task/*/children``; killed ones are reaped, and orphans they leave are
    reparented to us and found by the next round.
    """
    for _ in range(rounds):
        found = _children()
        if not found:
            return
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in found:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)


def _children() -> list[int]:
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                pids.extend(int(pid) for pid in handle.read().split())
        except (OSError, ValueError):
            continue
    return pids


def kill_same_uid() -> None:
    """From a process running as the call's uid: SIGKILL every other process of that uid."""
    with contextlib.suppress(OSError):
        os.kill(-1, signal.SIGKILL)  # unprivileged: reaches exactly the processes of our uid, never ourselves


def reap_uid(uid: int) -> None:
    """Process target: become ``uid``, kill every process of it, exit (run as root, from the fork server)."""
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError:
        os._exit(1)
    kill_same_uid()
    os._exit(0)


def kill_group(pgid: int | None) -> None:
    """SIGKILL a worker's process group (its session: the worker and descendants that stayed in it)."""
    if pgid is not None and pgid > 1:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


class UidPool:
    """Uids handed to calls, one per running call, from a range no account uses.

    Args:
        base: First uid of the range.
        size: How many uids (calls running at once beyond this wait for one... never: they share the last).
    """

    def __init__(self, base: int = 1_900_000_000, size: int = 4096) -> None:
        self.base, self.size = base, size
        self._free = list(range(base + size - 1, base - 1, -1))
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
        return self.base + self.size  # past the range: shared by the overflow (documented)

    def give_back(self, uid: int) -> None:
        with self._lock:
            if self.base <= uid < self.base + self.size:
                self._free.append(uid)
