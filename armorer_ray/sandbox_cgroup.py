"""A control group per sandboxed call: the memory and process count of the body's whole process tree, bounded.

`SandboxExecutor` (``sandbox.py``) makes one group per call, moves the call's worker into it before the job is
sent (so the body and everything it forks start inside), and after the call kills every process left in it and
removes it. Per-process rlimits cannot bound a tree: three children of 90 MB each pass a 100 MB ``RLIMIT_AS``;
a group's memory limit counts them together, and its pids limit bounds a fork bomb whatever the uid.

Two kernel interfaces, tried in this order:

- **cgroup v2**, when this process's own group in a ``cgroup2`` hierarchy already delegates the ``memory`` and
  ``pids`` controllers to its children (both listed in its ``cgroup.subtree_control``). This module never
  enables controllers itself: doing so changes the group this process lives in, which belongs to whoever
  started it;
- **cgroup v1**, when the ``memory`` and ``pids`` controllers are mounted as v1 hierarchies.

Either way a group is made *under this process's own group* (not at a hierarchy's root), so the limits of the
group this process runs in still apply to the bodies, and a probe `mkdir` decides whether we may write there
(as root, usually; a non-root process rarely may). `find_cgroups` returns None, with the reason, otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from typing import Literal

__all__ = ["CallCgroup", "CgroupSupport", "find_cgroups", "private_memory"]

CgroupVersion = Literal["v2", "v1"]
_PREFIX = "armorer-sandbox-"
_names = itertools.count()


@dataclass(frozen=True, slots=True)
class CgroupSupport:
    """Where per-call groups go.

    Attributes:
        version: ``v2`` or ``v1``.
        memory: The directory new groups are made in for the memory controller (v2: the only directory).
        pids: The same for the pids controller (v2: same as ``memory``).
    """

    version: CgroupVersion
    memory: str
    pids: str

    def create(self, memory_bytes: int | None, processes: int | None) -> CallCgroup:
        """Make one call's group with these limits (None: unlimited, the group still tracks and kills the tree).

        Raises:
            OSError: when the group cannot be made or a limit cannot be written (the group is removed again).
        """
        name = f"{_PREFIX}{os.getpid()}-{next(_names)}"
        dirs = (os.path.join(self.memory, name),) if self.version == "v2" else (
            os.path.join(self.memory, name), os.path.join(self.pids, name))
        made: list[str] = []
        try:
            for path in dirs:
                os.mkdir(path)
                made.append(path)
            group = CallCgroup(self.version, dirs)
            group.limit(memory_bytes, processes)
        except OSError:
            for path in made:
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            raise
        return group


class CallCgroup:
    """One call's control group (one directory in v2, one per controller in v1)."""

    __slots__ = ("dirs", "version")

    def __init__(self, version: CgroupVersion, dirs: tuple[str, ...]) -> None:
        self.version = version
        self.dirs = dirs

    def limit(self, memory_bytes: int | None, processes: int | None) -> None:
        memory_dir, pids_dir = self.dirs[0], self.dirs[-1]
        if self.version == "v2":
            if memory_bytes is not None:
                _write(memory_dir, "memory.max", memory_bytes)
                _write_if_present(memory_dir, "memory.swap.max", 0)  # the tree may not page out past the limit
            if processes is not None:
                _write(pids_dir, "pids.max", processes)
            return
        if memory_bytes is not None:
            _write(memory_dir, "memory.limit_in_bytes", memory_bytes)
            _write_if_present(memory_dir, "memory.memsw.limit_in_bytes", memory_bytes)  # memory plus swap
        if processes is not None:
            _write(pids_dir, "pids.max", processes)

    def add(self, pid: int) -> None:
        """Move a process into the group (its later children start inside).

        Raises:
            OSError: when the kernel refuses the move.
        """
        for path in self.dirs:
            _write(path, "cgroup.procs", pid)

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this group for going over its memory limit."""
        name = "memory.events" if self.version == "v2" else "memory.oom_control"
        try:
            with open(os.path.join(self.dirs[0], name)) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.dirs:
            try:
                with open(os.path.join(path, "cgroup.procs")) as handle:
                    found.update(int(pid) for pid in handle.read().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def kill_all(self, deadline_s: float = 10.0) -> bool:
        """SIGKILL every process in the group until none is left (a fork bomb is bounded by pids.max).

        Returns:
            Whether the group emptied within ``deadline_s``.
        """
        if self.version == "v2" and os.path.exists(os.path.join(self.dirs[0], "cgroup.kill")):
            with contextlib.suppress(OSError):
                _write(self.dirs[0], "cgroup.kill", 1)  # the kernel kills the group at once, racing no fork
        end = time.monotonic() + deadline_s
        while True:
            left = self.pids()
            if not left:
                return True
            if time.monotonic() > end:
                return False
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self, deadline_s: float = 10.0) -> bool:
        """Kill what is left, then remove the group's directories.

        Returns:
            Whether every directory is gone.
        """
        self.kill_all(deadline_s)
        end = time.monotonic() + deadline_s
        removed = True
        for path in self.dirs:
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last killed process is still exiting
                    if time.monotonic() > end:
                        removed = False
                        break
                    time.sleep(0.005)
        return removed


def private_memory(pid: int) -> int:
    """Bytes of ``pid``'s resident anonymous memory (``RssAnon``): what its forks may copy on write; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def find_cgroups() -> tuple[CgroupSupport | None, str]:
    """Whether per-call groups can be made here, and if so where.

    Returns:
        ``(support, "")``, or ``(None, why not)``.
    """
    mounts = _mounts()
    own = _own_groups()
    reasons: list[str] = []
    v2_mount = mounts.get("cgroup2")
    if v2_mount is not None and "" in own:
        base = _join(v2_mount, own[""])
        delegated = _read_words(os.path.join(base, "cgroup.subtree_control")) if base else set()
        if base and {"memory", "pids"} <= delegated and _writable(base):
            _sweep(base)
            return CgroupSupport("v2", base, base), ""
        reasons.append("cgroup v2 has no memory and pids controllers delegated to this process's group")
    memory, pids = mounts.get("memory"), mounts.get("pids")
    if memory is not None and pids is not None and "memory" in own and "pids" in own:
        memory_base, pids_base = _join(memory, own["memory"]), _join(pids, own["pids"])
        if memory_base and pids_base and _writable(memory_base) and _writable(pids_base):
            _sweep(memory_base)
            _sweep(pids_base)
            return CgroupSupport("v1", memory_base, pids_base), ""
        reasons.append("the cgroup v1 memory and pids groups of this process are not writable")
    elif not reasons:
        reasons.append("no cgroup v2 or v1 memory and pids controllers are mounted")
    return None, "; ".join(reasons)


def _mounts() -> dict[str, tuple[str, str]]:
    """Controller (``cgroup2`` for the unified hierarchy) -> (mount root within the hierarchy, mount point)."""
    found: dict[str, tuple[str, str]] = {}
    try:
        with open("/proc/self/mountinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return found
    for line in lines:
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(), tail.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if rest[0] == "cgroup2":
            found.setdefault("cgroup2", (root, point))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                if option in ("memory", "pids"):
                    found.setdefault(option, (root, point))
    return found


def _own_groups() -> dict[str, str]:
    """Controller (``""`` for v2) -> this process's group path, from ``/proc/self/cgroup``."""
    groups: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return groups
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                groups[controller] = parts[2]
    return groups


def _join(mount: tuple[str, str], path: str) -> str | None:
    root, point = mount
    if root != "/":  # a mount of part of the hierarchy (a container): our path must lie under it
        if path != root and not path.startswith(root.rstrip("/") + "/"):
            return None
        path = path[len(root):]
    return os.path.join(point, path.lstrip("/"))


def _writable(base: str) -> bool:
    probe = os.path.join(base, f"{_PREFIX}probe-{os.getpid()}")
    try:
        os.mkdir(probe)
    except FileExistsError:
        pass
    except OSError:
        return False
    with contextlib.suppress(OSError):
        os.rmdir(probe)
    return True


def _sweep(base: str) -> None:
    """Remove empty groups left by sandboxes whose process is gone (a crash between mkdir and rmdir)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(_PREFIX):
            continue
        owner = name[len(_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(base, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_words(path: str) -> set[str]:
    try:
        with open(path) as handle:
            return set(handle.read().split())
    except OSError:
        return set()


def _write(directory: str, name: str, value: int) -> None:
    with open(os.path.join(directory, name), "w") as handle:
        handle.write(str(value))


def _write_if_present(directory: str, name: str, value: int) -> None:
    if os.path.exists(os.path.join(directory, name)):
        _write(directory, name, value)


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
