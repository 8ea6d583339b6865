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
not root), a descendant that called ``setsid`` escapes the process-group kill at a deadline, unless the body runs
in a PID namespace.

**PID namespace** (`unshare_pid_namespace`, where the kernel allows it: as root, or through a user namespace
otherwise): the worker unshares its PID namespace and forks the namespace's init, which forks the body. The init
is our code: it reaps orphans, never leaves the worker's process group, and dies with the worker
(``PR_SET_PDEATHSIG``). When the init exits (the body returned, or anyone killed the init) the kernel kills every
process in the namespace, whatever session, group or uid it moved to; a body cannot leave the namespace. See
`sandbox_cgroup` for the limits on the whole tree.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Boundary", "NamespaceMode", "UidPool", "become_subreaper", "die_with_parent", "enter", "kill_children",
           "kill_descendants", "probe_pid_namespace", "protect_parent_memory", "reap_uid", "reap_until",
           "unshare_pid_namespace"]

NamespaceMode = Literal["root", "user"]

_PR_SET_PDEATHSIG = 1
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
    pid_namespace: NamespaceMode | None = None  # run the body in a PID namespace of its own, made this way


@functools.cache
def _libc() -> ctypes.CDLL:
    # The symbols already loaded into this process, libc's among them: no ``find_library``, which runs
    # ``ldconfig`` in a subprocess (milliseconds, and a stray process in the body's namespace).
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> bool:
    try:
        return int(_libc().prctl(option, value, 0, 0, 0)) == 0
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


_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000


def unshare_pid_namespace(mode: NamespaceMode) -> None:
    """Make the next child of this process the init of a new PID namespace (this process itself stays outside).

    ``root`` needs CAP_SYS_ADMIN; ``user`` makes a user namespace first (no privilege needed where the kernel
    allows unprivileged user namespaces), mapping this process's uid and gid to themselves so files keep their
    owners. Must be called from a single-threaded process (the kernel refuses a user namespace otherwise).

    Raises:
        OSError: when the kernel refuses.
    """
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWPID | (_CLONE_NEWUSER if mode == "user" else 0)
    if int(libc.unshare(flags)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(PID namespace, {mode}): {os.strerror(errno)}")
    if mode == "user":
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)


def die_with_parent() -> None:
    """In the namespace's init: SIGKILL when the worker that forked it dies.

    (Its parent lies outside the namespace, so ``getppid`` says 0 and cannot tell whether the worker died in the
    instant before this call; the parent's kill of the worker's children and the call's cgroup cover that.)
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def reap_until(pid: int) -> int:
    """In the namespace's init: reap every child (orphans are reparented to an init) until ``pid`` ends.

    Returns:
        ``pid``'s wait status.
    """
    while True:
        try:
            found, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if found == pid:
            return status


def probe_pid_namespace(mode: NamespaceMode) -> None:
    """Process target: try `unshare_pid_namespace` and fork a child in it; exit 0 when both work, 1 otherwise."""
    try:
        unshare_pid_namespace(mode)
        child = os.fork()
    except OSError:
        os._exit(1)
    if child == 0:
        os._exit(0 if os.getpid() == 1 else 1)
    _, status = os.waitpid(child, 0)
    os._exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)


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


def kill_children(pid: int | None) -> None:
    """SIGKILL the children of ``pid`` (from the parent: a worker's PID-namespace init, before the worker dies)."""
    if pid is None:
        return
    for child in _children(str(pid)):
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)


def _children(process: str = "self") -> list[int]:
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{process}/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/{process}/task/{task}/children") as handle:
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
