"""`SandboxExecutor`: run tool bodies in separate OS processes under resource limits.

Each sandboxed call runs in a fresh worker process that serves that one call and exits, so no state (globals,
caches, open files, a raised rlimit) survives from one call into the next, and a worker that hit a limit or was
killed is simply never reused. ``warm`` processes are kept started ahead, so a call rarely waits for one. Workers
fork from multiprocessing's fork server, which has this module (and so armorer_ray and pydantic) preloaded.

What crosses the process boundary:

- to the worker, pickled (cloudpickle when it is installed, so bodies defined in a notebook travel too): the tool,
  its validated keyword arguments, and for tools that take a `CallContext`, a copy of the call, the context values,
  the approval and the attempt. The toolbox, its resource pools and the event hub stay behind: a body in the sandbox
  sees ``ctx.toolbox`` as None, no ``ctx.resources``, and its events go nowhere;
- back, one reply: the return value (JSON by default; pickled with the ``results="pickle"`` opt-in), or the
  `ToolError` of what the body raised, always as JSON. A generator body's chunks are collected in the worker and
  replayed here at the end.

The limits are POSIX rlimits set in the worker before the body runs, plus a kill from this side:

======== ==================================================== ============================================
limit    how                                                  ToolError (see `SandboxLimitExceeded`)
======== ==================================================== ============================================
wall_s   SIGKILL from here when the reply is late             timeout, ``SANDBOX_WALL_TIME``, retryable
cpu_s    ``RLIMIT_CPU`` (whole seconds): SIGXCPU, then SIGKILL  timeout, ``SANDBOX_CPU_TIME``
memory   ``RLIMIT_AS`` per process: MemoryError; the call's     internal, ``SANDBOX_MEMORY``
         cgroup for the whole tree: the kernel kills a process
output   size of the encoded reply, checked on both sides      internal, ``SANDBOX_OUTPUT_SIZE``
procs    the call's cgroup (``pids.max``, whole tree); and      ``fork`` fails in the body
         ``RLIMIT_NPROC`` under the call's own uid (root only)
======== ==================================================== ============================================

The worker also leads its own session, runs the body in a PID namespace of its own where the kernel allows it,
runs it under a uid of its own when the parent is root, passes it only the environment it is given, and has its
descendants killed at every end of the call: see `sandbox_boundary` and `sandbox_cgroup`. `capabilities` says
which of these boundaries are in force here.

A call's own deadline and abort signal kill the worker too (the pipeline cancels the run; the kill follows at
once). This is process isolation plus rlimits, not a container or a VM: see docs/sandbox.md for what it does not
stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import multiprocessing
import os
import pickle
import signal as signals
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from armorer_ray.cancellation import AbortSignal, cancellation_message
from armorer_ray.context import CallContext
from armorer_ray.errors import (
    Cancelled,
    ConfigError,
    SandboxError,
    SandboxLimitExceeded,
    ToolError,
    ToolFailure,
    classify_exception,
)
from armorer_ray.events import EventHub
from armorer_ray.executors import Executor, LocalExecutor
from armorer_ray.json_values import to_json_compatible
from armorer_ray.sandbox_boundary import (
    DEFAULT_ENV,
    Boundary,
    NamespaceMode,
    UidPool,
    become_subreaper,
    die_with_parent,
    enter,
    kill_children,
    kill_descendants,
    kill_group,
    kill_same_uid,
    probe_pid_namespace,
    protect_parent_memory,
    reap_uid,
    reap_until,
    unshare_pid_namespace,
)
from armorer_ray.sandbox_cgroup import CallCgroup, CgroupSupport, CgroupVersion, find_cgroups, private_memory

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext
    from multiprocessing.process import BaseProcess

    from armorer_ray.tools import Tool

__all__ = ["ResultFormat", "SandboxCapabilities", "SandboxExecutor", "SandboxLimits"]

ResultFormat = Literal["pickle", "json"]

# Room in a reply for its kind byte and an error's JSON, on top of ``output_bytes``.
_ERROR_ROOM = 64 * 1024
_VALUE, _CHUNKS, _ERROR = b"V", b"C", b"E"


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """The limits a sandboxed body runs under; None leaves a resource unlimited.

    Attributes:
        wall_s: Seconds from the call reaching its worker to the reply, after which the worker is killed.
        cpu_s: CPU seconds the body may use (user plus system), rounded up to whole seconds by the kernel's rlimit.
        memory_bytes: Address space the body may add on top of the worker's own (the interpreter and its imports,
            some hundreds of MB of mostly shared mappings); allocations past it raise MemoryError in the worker.
            Where a cgroup is in force, also the memory the body's whole process tree may use together.
        output_bytes: Largest encoded reply (the pickled or JSON return value).
        processes: Most processes (and threads) the body may have at once, itself included. Enforced by the
            call's cgroup where one is in force, whatever the uid; otherwise by ``RLIMIT_NPROC``, only where each
            call runs under a uid of its own (a root parent): the kernel counts processes per uid and ignores
            the limit for root.
        file_bytes: Largest file the body may write (``RLIMIT_FSIZE``): a write past it fails with ``OSError``
            (EFBIG), in ``/dev/shm`` and ``/tmp`` as anywhere. It bounds each file, not how many there are.

    Raises:
        ConfigError: for a limit that is not a positive number (whole for bytes), or a CPU limit under one second.

    Example:
        >>> SandboxLimits(wall_s=10, cpu_s=2, memory_bytes=256 * 2**20).cpu_s
        2
        >>> SandboxLimits(cpu_s=0)
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: SandboxLimits cpu_s must be a number >= 1 (whole seconds), got 0
    """

    wall_s: float | None = None
    cpu_s: float | None = None
    memory_bytes: int | None = None
    output_bytes: int | None = None
    processes: int | None = 64
    file_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.wall_s is not None and not (_is_number(self.wall_s) and 0 < self.wall_s < math.inf):
            raise ConfigError(f"SandboxLimits wall_s must be a positive number, got {self.wall_s!r}")
        if self.cpu_s is not None and not (_is_number(self.cpu_s) and 1 <= self.cpu_s < math.inf):
            raise ConfigError(f"SandboxLimits cpu_s must be a number >= 1 (whole seconds), got {self.cpu_s!r}")
        for name in ("memory_bytes", "output_bytes", "processes", "file_bytes"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ConfigError(f"SandboxLimits {name} must be a positive integer, got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class SandboxCapabilities:
    """Which OS boundaries a `SandboxExecutor` puts around each body on this machine (see docs/sandbox.md).

    Attributes:
        pid_namespace: ``root`` or ``user`` (how the body's PID namespace is made), or None: no namespace, so a
            descendant that leaves the worker's process group is caught only by the subreaper and the uid reap.
        cgroup: ``v2`` or ``v1``: a control group per call bounds the memory and process count of the body's
            whole tree; None: only per-process rlimits (and ``RLIMIT_NPROC`` under a uid per call).
        separate_uid: Each call runs under a uid of its own.
        missing: Why each boundary that is not in force is missing, in words.

    Example:
        >>> caps = SandboxCapabilities(pid_namespace="root", cgroup="v1", separate_uid=True, missing=())
        >>> caps.summary()
        'PID namespace (root), cgroup v1 memory+pids for the whole tree, uid per call'
        >>> SandboxCapabilities(None, None, False, ("no cgroup: none mounted",)).summary()
        'process group and rlimits only (no PID namespace, no cgroup, shared uid)'
    """

    pid_namespace: NamespaceMode | None
    cgroup: CgroupVersion | None
    separate_uid: bool
    missing: tuple[str, ...]

    def summary(self) -> str:
        """One line naming the boundaries in force (it ends the message of every limit or crash error)."""
        present = []
        if self.pid_namespace is not None:
            present.append(f"PID namespace ({self.pid_namespace})")
        if self.cgroup is not None:
            present.append(f"cgroup {self.cgroup} memory+pids for the whole tree")
        if self.separate_uid:
            present.append("uid per call")
        if present:
            return ", ".join(present)
        return "process group and rlimits only (no PID namespace, no cgroup, shared uid)"


class SandboxExecutor:
    """Runs each tool body in a separate OS process under `SandboxLimits`; other tools run locally.

    Args:
        limits: The limits every sandboxed call runs under (default: none but the process boundary).
        only: Which tools to sandbox, ``(tool) -> bool``; the others go to ``local``. None sandboxes every tool.
        local: Where the tools ``only`` passes over run (default: a `LocalExecutor`).
        warm: Worker processes kept started ahead of calls (0: start one per call when it arrives).
        results: ``json`` (the default: only JSON comes back, and nothing the worker sends is ever unpickled
            here; values become JSON as in `to_json_compatible`) or ``pickle`` (any picklable value comes back,
            and a body can run code in this process by sending a crafted pickle: opt in only for trusted bodies;
            a `UserWarning` says so).
        env: The environment bodies see (default: ``PATH`` and ``LANG`` only): nothing of this process's
            environment (API keys...) reaches a body unless passed here.
        separate_uid: Run each call under a uid of its own (see `armorer_ray.sandbox_boundary`). None: when this
            process is root, which it must be to switch uids.
        protect_parent: Make this process non-dumpable when bodies share its uid (not root), so a body cannot
            read its memory through ``/proc/<pid>/mem`` (the process then leaves no core dump).
        pid_namespace: Run each body in a PID namespace of its own, so every process it starts dies with it.
            None: when the kernel allows it (probed once per process); True: required (`capabilities` raises
            `ConfigError` where it is not available); False: never.
        cgroup: Bound each call's whole process tree with a control group (``memory_bytes`` and ``processes``
            then count every process the body starts, together). None: when a writable cgroup v2 or v1 hierarchy
            with the memory and pids controllers exists; True: required; False: never.

    Raises:
        ConfigError: for a negative ``warm``, an unknown ``results``, or a platform without POSIX rlimits and
            fork-server processes. A required ``pid_namespace`` or ``cgroup`` the machine cannot provide is
            reported by `capabilities` and fails every call.

    Example:
        >>> from armorer_ray import Toolbox
        >>> box = Toolbox(executor=SandboxExecutor(SandboxLimits(wall_s=30, cpu_s=10), only=lambda t: t.is_dangerous))
    """

    def __init__(self, limits: SandboxLimits | None = None, *, only: Callable[[Tool], bool] | None = None,
                 local: Executor | None = None, warm: int = 1, results: ResultFormat = "json",
                 env: Mapping[str, str] | None = None, separate_uid: bool | None = None,
                 protect_parent: bool = True, pid_namespace: bool | None = None,
                 cgroup: bool | None = None) -> None:
        if "forkserver" not in multiprocessing.get_all_start_methods():
            raise ConfigError("SandboxExecutor needs POSIX (rlimits and a fork server); this platform has neither")
        if not isinstance(warm, int) or warm < 0:
            raise ConfigError(f"SandboxExecutor warm must be an integer >= 0, got {warm!r}")
        if results not in ("pickle", "json"):
            raise ConfigError(f"SandboxExecutor results must be 'pickle' or 'json', got {results!r}")
        if results == "pickle":
            warnings.warn("SandboxExecutor(results='pickle') unpickles what the worker sends: a body can run code "
                          "in this process. Use it only for trusted bodies; results='json' is the safe default.",
                          UserWarning, stacklevel=2)
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        if separate_uid and not is_root:
            raise ConfigError("SandboxExecutor separate_uid=True needs this process to run as root")
        self.limits = limits or SandboxLimits()
        self.only = only
        self.local: Executor = local or LocalExecutor()
        self.results: ResultFormat = results
        self.env: Mapping[str, str] = dict(DEFAULT_ENV if env is None else env)
        self.separate_uid = is_root if separate_uid is None else separate_uid
        self.protect_parent = protect_parent
        if protect_parent and not self.separate_uid:
            protect_parent_memory()
        self._uids = UidPool() if self.separate_uid else None
        self.pid_namespace = pid_namespace
        self.cgroup = cgroup
        self._capabilities: SandboxCapabilities | None = None
        self._cgroups: CgroupSupport | None = None
        self._pool = _WorkerPool(warm)

    def capabilities(self) -> SandboxCapabilities:
        """Which boundaries each call gets here; probed on first use (a PID namespace costs one process start).

        Raises:
            ConfigError: when ``pid_namespace=True`` or ``cgroup=True`` asked for a boundary this machine lacks.
        """
        if self._capabilities is None:
            missing: list[str] = []
            mode: NamespaceMode | None = None
            if self.pid_namespace is False:
                missing.append("no PID namespace: turned off (pid_namespace=False)")
            else:
                mode, why = _pid_namespace_mode()
                if mode is None:
                    missing.append(f"no PID namespace: {why}")
            support: CgroupSupport | None = None
            if self.cgroup is False:
                missing.append("no cgroup: turned off (cgroup=False)")
            else:
                support, why = _cgroup_support()
                if support is None:
                    missing.append(f"no cgroup: {why}")
            if (self.pid_namespace and mode is None) or (self.cgroup and support is None):
                raise ConfigError("SandboxExecutor cannot provide the boundary it was asked for: " + "; ".join(
                    missing))
            if not self.separate_uid:
                missing.append("no uid per call: " + ("turned off (separate_uid=False)" if _is_root()
                                                      else "this process is not root"))
            self._cgroups = support
            self._capabilities = SandboxCapabilities(mode, None if support is None else support.version,
                                                     self.separate_uid, tuple(missing))
        return self._capabilities

    def describe(self) -> str:
        """What isolates a body here, and what is missing and why (probes like `capabilities`).

        Example:
            >>> print(SandboxExecutor(pid_namespace=False, cgroup=False, separate_uid=False).describe())
            SandboxExecutor: process group and rlimits only (no PID namespace, no cgroup, shared uid)
            - no PID namespace: turned off (pid_namespace=False)
            - no cgroup: turned off (cgroup=False)
            - no uid per call: ...
        """
        caps = self.capabilities()
        return "\n".join([f"SandboxExecutor: {caps.summary()}", *(f"- {why}" for why in caps.missing)])

    async def run(self, tool: Tool, kwargs: dict[str, Any], ctx: CallContext) -> Any:
        """Run the body (or the dry-run handler) in a worker process and return what it returned.

        Raises:
            SandboxLimitExceeded: the body ran past a limit; its worker was killed.
            SandboxError: something that must cross the boundary does not pickle, or the worker died.
            Cancelled: the call's signal was aborted while the body ran (the worker was killed).
            Exception: what the body raised, as a failure carrying the same `ToolError` it would have here.
        """
        if self.only is not None and not self.only(tool):
            return await self.local.run(tool, kwargs, ctx)
        loop = asyncio.get_running_loop()
        caps = self._capabilities
        if caps is None:
            caps = await loop.run_in_executor(self._pool.threads(), self.capabilities)
        uid = self._uids.take() if self._uids is not None else None
        boundary = Boundary(self.env, uid, self.limits.processes, caps.pid_namespace)
        group: CallCgroup | None = None
        ooms = 0
        try:
            job = _pack(_Job(tool, kwargs, _snapshot(tool, ctx), self.limits, self.results, boundary))
            worker = await self._pool.take()
            reply: bytes | ToolFailure
            replied = False
            try:
                if self._cgroups is not None:
                    group = await self._enclosed(worker)
                reply = await self._exchange(worker, job, ctx)
                replied = True
            except ToolFailure as exc:
                reply = exc
            finally:
                self._pool.release(worker)
                if group is not None:
                    ooms = group.oom_kills()
                if group is not None or (uid is not None and not replied):
                    await loop.run_in_executor(self._pool.threads(), _clean_up, group, None if replied else uid)
        finally:
            if uid is not None and self._uids is not None:
                self._uids.give_back(uid)
        try:
            if isinstance(reply, bytes):
                return self._unpack(reply)
            failure = reply
        except ToolFailure as exc:
            failure = exc
        raise _explained(_over_memory(failure, ooms, self.limits), caps) from None

    async def _enclosed(self, worker: _Worker) -> CallCgroup:
        making = asyncio.get_running_loop().run_in_executor(self._pool.threads(), self._enclose, worker)
        try:
            return await asyncio.shield(making)
        except asyncio.CancelledError:  # the group is still made in its thread: remove it once it is
            worker.kill()
            making.add_done_callback(_discard_group)
            raise

    def _enclose(self, worker: _Worker) -> CallCgroup:
        """A control group for this call, holding the worker before the job reaches it (in a helper thread)."""
        assert self._cgroups is not None
        processes, memory = self.limits.processes, self.limits.memory_bytes
        if processes is not None:  # the worker, and the namespace's init, are ours: the body gets `processes`
            processes += 2 if self._capabilities is not None and self._capabilities.pid_namespace else 1
        if memory is not None:
            # As with RLIMIT_AS, `memory_bytes` is on top of the worker's own: the tree's processes copy the
            # worker's private pages as they write to them (a garbage collection alone copies most of the heap).
            memory += private_memory(worker.process.pid or 0)
        try:
            group = self._cgroups.create(memory, processes)
        except OSError as exc:
            worker.kill()
            raise SandboxError(f"the sandbox could not make the call's cgroup: {exc}", code="SANDBOX_BOUNDARY") \
                from None
        try:
            group.add(worker.process.pid or 0)
        except OSError as exc:
            worker.kill()
            group.remove()
            raise SandboxError(f"the sandbox could not move its worker into the call's cgroup: {exc}",
                               code="SANDBOX_BOUNDARY") from None
        return group

    async def _exchange(self, worker: _Worker, job: bytes, ctx: CallContext) -> bytes:
        limits = self.limits
        max_reply = None if limits.output_bytes is None else limits.output_bytes + _ERROR_ROOM
        try:
            worker.conn.send_bytes(job)  # the worker is blocked in recv: it reads as we write
        except OSError as exc:
            worker.kill()
            raise SandboxError(f"the sandbox worker was gone before the call reached it: {exc}",
                               code="SANDBOX_CRASHED") from None
        reply = asyncio.get_running_loop().run_in_executor(self._pool.threads(), worker.wait_reply, max_reply)
        # An abort kills at once, even where nothing cancels this coroutine (a body run without a deadline).
        unlink = ctx.signal.add_listener(lambda _reason: worker.kill())
        try:
            done, _ = await asyncio.wait((reply,), timeout=limits.wall_s)
        except asyncio.CancelledError:
            worker.kill()  # a deadline or the caller: the body must stop now, not when it finishes
            raise
        finally:
            unlink()
        if not done:
            worker.kill()
            await reply
            raise SandboxLimitExceeded("wall", limits.wall_s or 0, f"the sandboxed body ran past its wall-clock "
                                       f"limit of {limits.wall_s:g}s and was killed")
        answer = reply.result()
        if isinstance(answer, bytes):
            return answer
        if ctx.signal.aborted:
            raise Cancelled(cancellation_message(ctx.signal.reason))
        if answer == "too long":
            raise SandboxLimitExceeded("output", limits.output_bytes or 0,
                                       f"the sandboxed body's reply is over {limits.output_bytes} bytes")
        raise _death(worker.exitcode(), limits, worker.killed)

    def _unpack(self, reply: bytes) -> Any:
        kind, payload = reply[:1], reply[1:]
        try:
            if kind == _ERROR:
                raise _Reported(ToolError.model_validate_json(payload))
            value = pickle.loads(payload) if self.results == "pickle" else json.loads(payload)
        except ToolFailure:
            raise
        except Exception as exc:
            raise SandboxError(f"the sandbox sent a reply that could not be read: {classify_exception(exc).message}",
                               code="SANDBOX_CRASHED") from None
        if kind == _CHUNKS:
            return _replay(value)
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        # Travels as its options (to Ray replicas with `deploy`): workers and threads belong to one process.
        local = self.local
        if type(local) is LocalExecutor:
            local = LocalExecutor(max_threads=local._max_threads)
        return (_rebuild_executor, (self.limits, self.only, local, self._pool.warm, self.results, self.env,
                                    self.separate_uid, self.protect_parent, self.pid_namespace, self.cgroup))

    def shutdown(self) -> None:
        """Kill the worker processes (idle and running) and shut the local executor down.

        The executor stays usable: a later call starts new workers.
        """
        self._pool.close()
        shutdown = getattr(self.local, "shutdown", None)
        if shutdown is not None:
            shutdown()


def _rebuild_executor(limits: SandboxLimits, only: Callable[[Tool], bool] | None, local: Executor, warm: int,
                      results: ResultFormat, env: Mapping[str, str] | None = None, separate_uid: bool | None = None,
                      protect_parent: bool = True, pid_namespace: bool | None = None,
                      cgroup: bool | None = None) -> SandboxExecutor:
    with warnings.catch_warnings():  # warned once where it was made
        warnings.simplefilter("ignore", UserWarning)
        return SandboxExecutor(limits, only=only, local=local, warm=warm, results=results, env=env,
                               separate_uid=separate_uid if separate_uid else None, protect_parent=protect_parent,
                               pid_namespace=pid_namespace, cgroup=cgroup)


def _reap(uid: int) -> None:
    process = _process_context().Process(target=reap_uid, args=(uid,), daemon=True, name="armorer-sandbox-reap")
    process.start()
    process.join(30)


def _discard_group(making: asyncio.Future[CallCgroup]) -> None:
    if not making.cancelled() and making.exception() is None:
        threading.Thread(target=making.result().remove, daemon=True, name="armorer-sandbox-cgroup").start()


def _clean_up(group: CallCgroup | None, uid: int | None) -> None:
    """After a call (in a helper thread): kill what is left in its cgroup and remove it; reap its uid if asked."""
    if uid is not None:
        _reap(uid)  # the worker did not get to kill its descendants itself: do it from a process with its uid
    if group is not None:
        group.remove()


_NAMESPACE_PROBE: list[tuple[NamespaceMode | None, str]] = []
_CGROUP_PROBE: list[tuple[CgroupSupport | None, str]] = []
_PROBE_LOCK = threading.Lock()


def _pid_namespace_mode() -> tuple[NamespaceMode | None, str]:
    """How this process's workers can make PID namespaces (probed once, in a throwaway process), or why not."""
    with _PROBE_LOCK:
        if not _NAMESPACE_PROBE:
            modes: tuple[NamespaceMode, ...] = ("root", "user") if _is_root() else ("user",)
            found: NamespaceMode | None = None
            for mode in modes:
                process = _process_context().Process(target=probe_pid_namespace, args=(mode,), daemon=True,
                                                     name="armorer-sandbox-probe")
                process.start()
                process.join(60)
                if process.exitcode == 0:
                    found = mode
                    break
            why = "" if found else ("the kernel refused unshare(CLONE_NEWPID)" if _is_root() else
                                    "the kernel refused an unprivileged user and PID namespace "
                                    "(user.max_user_namespaces, or a seccomp filter, forbids it)")
            _NAMESPACE_PROBE.append((found, why))
        return _NAMESPACE_PROBE[0]


def _cgroup_support() -> tuple[CgroupSupport | None, str]:
    with _PROBE_LOCK:
        if not _CGROUP_PROBE:
            _CGROUP_PROBE.append(find_cgroups())
        return _CGROUP_PROBE[0]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# The codes of failures the boundary produces (not the body's own errors): their message names the boundary.
_BOUNDARY_CODES = frozenset({"SANDBOX_WALL_TIME", "SANDBOX_CPU_TIME", "SANDBOX_MEMORY", "SANDBOX_OUTPUT_SIZE",
                             "SANDBOX_CRASHED", "SANDBOX_BOUNDARY"})


def _explained(exc: ToolFailure, caps: SandboxCapabilities) -> ToolFailure:
    """``exc`` with the boundaries in force appended to its message, so no report overstates the isolation."""
    if exc.code not in _BOUNDARY_CODES:
        return exc
    suffix = f" [sandbox: {caps.summary()}]"
    if isinstance(exc, SandboxLimitExceeded):
        return SandboxLimitExceeded(exc.limit, exc.value, exc.message + suffix)
    if isinstance(exc, _Reported):
        return _Reported(exc.error.model_copy(update={"message": exc.error.message + suffix}))
    if isinstance(exc, SandboxError):
        return SandboxError(exc.message + suffix, code=exc.code)
    return exc


def _over_memory(exc: ToolFailure, ooms: int, limits: SandboxLimits) -> ToolFailure:
    """A call whose process the kernel killed while its cgroup was over the memory limit failed on that limit."""
    if ooms == 0 or limits.memory_bytes is None or exc.code not in ("SANDBOX_CRASHED", "SANDBOX_CPU_TIME"):
        return exc
    return SandboxLimitExceeded("memory", limits.memory_bytes, f"the sandboxed body's process tree went over its "
                                f"memory limit of {limits.memory_bytes} bytes and the kernel killed it")


def _replay(chunks: list[Any]) -> Iterator[Any]:
    # The pipeline drains generator bodies itself (events, stream sinks, the tool's reducer): hand it one.
    yield from chunks


def _death(exitcode: int | None, limits: SandboxLimits, killed_by_us: bool = False) -> ToolFailure:
    # A body that catches SIGXCPU runs on to the hard CPU limit, where the kernel sends SIGKILL: when we did not
    # kill the worker ourselves, a SIGKILL under a CPU limit is that limit.
    cpu_kill = exitcode == -signals.SIGKILL and limits.cpu_s is not None and not killed_by_us
    if exitcode == -signals.SIGXCPU or cpu_kill:
        return SandboxLimitExceeded("cpu", limits.cpu_s or 0, f"the sandboxed body used up its CPU time limit of "
                                    f"{limits.cpu_s:g}s and was stopped")
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signals.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return SandboxError(f"the sandboxed body's process {how} before it replied", code="SANDBOX_CRASHED")


class _Reported(ToolFailure):
    """The `ToolError` the worker computed for what the body raised, raised again here unchanged."""

    def __init__(self, error: ToolError) -> None:
        super().__init__(error.message, code=error.code, retryable=error.retryable, details=error.details)
        self.error = error

    def to_tool_error(self) -> ToolError:
        return self.error


# -- what travels ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The parts of a `CallContext` that can travel (for tools that take one)."""

    call: Any
    values: dict[str, Any]
    dry_run: bool
    approval: Any
    attempt: int
    timeout_s: float | None
    started_at: float


@dataclass(frozen=True, slots=True)
class _Job:
    tool: Tool
    kwargs: dict[str, Any]
    context: _Snapshot | None
    limits: SandboxLimits
    results: ResultFormat
    boundary: Boundary

    def dry_run(self) -> bool:
        return self.context.dry_run if self.context is not None else False


def _snapshot(tool: Tool, ctx: CallContext) -> _Snapshot:
    values = dict(ctx.values) if tool._context_param is not None else {}
    return _Snapshot(ctx.call, values, ctx.dry_run, ctx.approval, ctx.attempt, ctx.timeout_s, ctx.started_at)


def _dumps(value: object) -> bytes:
    try:
        import cloudpickle
    except ImportError:  # plain pickle: module-level tools and values still travel, by reference
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return bytes(cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _pack(job: _Job) -> bytes:
    try:
        return _dumps(job)
    except Exception as whole:
        parts: list[tuple[str, object]] = [("the tool", job.tool)]
        parts += [(f"argument {name!r}", value) for name, value in job.kwargs.items()]
        if job.context is not None:
            parts += [(f"context value {name!r}", value) for name, value in job.context.values.items()]
            parts += [("the call", job.context.call), ("the approval", job.context.approval)]
        culprit, error = "the call", whole
        for what, value in parts:
            try:
                _dumps(value)
            except Exception as exc:
                culprit, error = what, exc
                break
        raise SandboxError(f"{culprit} cannot be sent to the sandbox: {classify_exception(error).message}",
                           code="SANDBOX_NOT_PICKLABLE") from None


# -- the worker's side -------------------------------------------------------------------------------------------


def _serve_one(conn: Connection) -> None:
    """A worker process: wait for one job, run it under its limits, send one reply, exit."""
    with contextlib.suppress(OSError):
        os.setsid()  # a session and process group of its own: killed as one, apart from the parent's
    become_subreaper()  # orphans of the body (setsid, double fork) come back to us, to be killed before the reply
    try:
        data = conn.recv_bytes()
    except (EOFError, OSError):
        os._exit(0)  # the pool shut down before this worker got a call
    try:
        reply = _run_job(data, conn)
    except BaseException as exc:
        reply = _error_reply(exc, None)
    kill_descendants()  # every descendant, adopted escapers included, is gone before the reply is
    if os.getuid() != 0 and _OWN_UID[0]:
        kill_same_uid()  # and every process of the call's uid (a descendant that escaped even the subreaper)
    with contextlib.suppress(OSError):
        conn.send_bytes(reply)
    # Exit now: threads or atexit hooks the body left behind must not keep the process (and its memory) alive.
    os._exit(0)


def _run_job(data: bytes, conn: Connection) -> bytes:
    try:
        job: _Job = pickle.loads(data)
    except BaseException as exc:
        return _error_reply(SandboxError(f"the call could not be loaded in the sandbox: "
                                         f"{classify_exception(exc).message}"), None)
    if job.boundary.pid_namespace is not None:
        return _run_in_namespace(job, conn)
    return _run_body(job)


def _run_body(job: _Job) -> bytes:
    """Apply the limits and the boundary to this process, run the body, encode its reply."""
    _apply_limits(job.limits)
    try:
        enter(job.boundary)
        _OWN_UID[0] = job.boundary.uid is not None
    except BaseException as exc:
        return _error_reply(SandboxError(f"the sandbox could not drop privileges: {classify_exception(exc).message}",
                                         code="SANDBOX_CRASHED"), None)
    try:
        kind, value = _call_body(job)
    except BaseException as exc:
        return _error_reply(exc, job.limits)
    try:
        payload = _encode(value, job.results)
    except Exception as exc:
        failure: ToolFailure = SandboxError(
            f"the result ({type(value).__name__}) cannot be sent back from the sandbox: "
            f"{classify_exception(exc).message}", code="SANDBOX_NOT_PICKLABLE")
        return _error_reply(failure, job.limits)
    limit = job.limits.output_bytes
    if limit is not None and len(payload) > limit:
        failure = SandboxLimitExceeded("output", limit, f"the sandboxed body's result is {len(payload)} bytes "
                                       f"encoded, over the limit of {limit}")
        return _error_reply(failure, job.limits)
    return kind + payload


def _run_in_namespace(job: _Job, conn: Connection) -> bytes:
    """Run the body two forks down, in a PID namespace of its own: worker -> the namespace's init -> the body.

    The body's reply comes back through a pipe; when the body ends, the init exits and the kernel kills every
    process left in the namespace, so once the init is reaped here nothing the body started is running.
    """
    mode = job.boundary.pid_namespace
    assert mode is not None
    try:
        unshare_pid_namespace(mode)
    except OSError as exc:  # the probe said it works: refuse the call rather than run it with less isolation
        return _error_reply(SandboxError(f"the sandbox could not make the body's PID namespace: {exc}",
                                         code="SANDBOX_BOUNDARY"), None)
    reader, writer = multiprocessing.Pipe(duplex=False)
    init = os.fork()
    if init == 0:
        _namespace_init(job, (conn, reader), writer)
    writer.close()
    limit = job.limits.output_bytes
    reply: bytes | None = None
    try:
        reply = reader.recv_bytes(None if limit is None else limit + _ERROR_ROOM)
    except EOFError:
        pass
    except OSError as exc:
        if "bad message length" in str(exc):
            reply = _error_reply(SandboxLimitExceeded("output", limit or 0, f"the sandboxed body's reply is over "
                                                      f"{limit} bytes"), job.limits)
    reader.close()  # a body still writing gets EPIPE now, instead of blocking its init (and us) forever
    _, status = os.waitpid(init, 0)
    if reply is None:
        code = os.waitstatus_to_exitcode(status)
        reply = _error_reply(_death(-(code - 128) if code > 128 else code, job.limits), job.limits)
    return reply


def _namespace_init(job: _Job, unused: tuple[Connection, ...], writer: Connection) -> NoReturn:
    """PID 1 of the body's namespace: fork the body, reap every process until the body ends, exit with its status.

    Its exit makes the kernel kill the rest of the namespace. It dies with the worker (PR_SET_PDEATHSIG), stays
    in the worker's process group, and keeps the worker's uid, so a body under a uid of its own cannot signal it.
    """
    code = 125
    try:
        die_with_parent()
        for connection in unused:
            connection.close()
        body = os.fork()
        if body == 0:
            try:
                writer.send_bytes(_run_body(job))
            finally:
                os._exit(0)
        writer.close()
        code = os.waitstatus_to_exitcode(reap_until(body))
    finally:
        os._exit(code if code >= 0 else 128 - code)


_OWN_UID = [False]  # set in the worker once it runs under the call's own uid


def _encode(value: object, results: ResultFormat) -> bytes:
    if results == "pickle":
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return json.dumps(to_json_compatible(value), ensure_ascii=False, allow_nan=False).encode()


def _call_body(job: _Job) -> tuple[bytes, Any]:
    tool, kwargs = job.tool, dict(job.kwargs)
    fn = tool.resolve_body(job.dry_run())
    if tool._context_param is not None and job.context is not None:
        kwargs[tool._context_param] = _rebuild_context(tool, job.kwargs, job.context)
    value = fn(**kwargs)
    if inspect.isawaitable(value):
        value = asyncio.run(_awaited(value))
    if inspect.isasyncgen(value):
        return _CHUNKS, asyncio.run(_drained(value))
    if inspect.isgenerator(value):
        return _CHUNKS, list(value)
    return _VALUE, value


def _rebuild_context(tool: Tool, kwargs: dict[str, Any], snap: _Snapshot) -> CallContext:
    params = tool.parameters.model_construct(**kwargs)  # validated on the other side already
    return CallContext(snap.call, tool, None, snap.values, AbortSignal(), EventHub(), snap.dry_run, snap.approval,
                       params, {}, snap.attempt, snap.timeout_s, snap.started_at)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


async def _drained(generator: Any) -> list[Any]:
    return [chunk async for chunk in generator]


def _error_reply(exc: BaseException, limits: SandboxLimits | None) -> bytes:
    if isinstance(exc, MemoryError) and limits is not None and limits.memory_bytes is not None:
        exc = SandboxLimitExceeded("memory", limits.memory_bytes, f"the sandboxed body ran out of its memory "
                                   f"limit of {limits.memory_bytes} bytes")
    error = classify_exception(exc)
    encoded = error.model_dump_json().encode()
    if len(encoded) > _ERROR_ROOM // 2:  # a huge message must not turn a failure into an output-limit error
        error = error.model_copy(update={"message": error.message[:2000] + "…", "details": None})
        encoded = error.model_dump_json().encode()
    return _ERROR + encoded


def _apply_limits(limits: SandboxLimits) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU dumps core by default: no files left behind
    if limits.cpu_s is not None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + limits.cpu_s)
        # SIGXCPU at the soft limit ends the process; the hard limit (SIGKILL) one second on catches a body
        # that handles SIGXCPU. Hard limits cannot be raised again by the body.
        resource.setrlimit(resource.RLIMIT_CPU, (soft, _capped(soft + 1, resource.RLIMIT_CPU)))
    if limits.file_bytes is not None:
        cap = _capped(limits.file_bytes, resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))  # Python ignores SIGXFSZ: the write raises EFBIG
    if limits.memory_bytes is not None:
        cap = _capped(_address_space() + limits.memory_bytes, resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _capped(value: int, which: int) -> int:
    import resource

    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # no procfs (macOS, where RLIMIT_AS is not enforced anyway)
        return 0


# -- the pool ----------------------------------------------------------------------------------------------------


def _process_context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # Only takes effect when the fork server starts; workers then fork with armorer_ray already imported.
    context.set_forkserver_preload([__name__])
    _start_fork_server_clean()
    return context


_FORK_SERVER_LOCK = threading.Lock()


def _start_fork_server_clean() -> None:
    # Workers fork from the fork server, so they carry the environment block it was started with, which a body
    # could read from its own memory even after `enter` clears os.environ. Start it with a minimal environment.
    # (When other code started the fork server first, its environment stays: docs/sandbox.md says so.)
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        return
    with _FORK_SERVER_LOCK:
        if getattr(server, "_forkserver_pid", None) is not None:
            return
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update({k: v for k, v in saved.items() if k in _FORK_SERVER_ENV})
            server.ensure_running()
        finally:
            os.environ.clear()
            os.environ.update(saved)


# What the fork server keeps: where Python finds its modules and how it decodes text, nothing secret.
_FORK_SERVER_ENV = frozenset({"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL", "LC_CTYPE",
                              "TMPDIR", "HOME"})


class _Worker:
    """One worker process and our end of its pipe."""

    __slots__ = ("conn", "killed", "killed_at", "process")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.killed = False
        self.killed_at: float | None = None

    def wait_reply(self, max_bytes: int | None) -> bytes | Literal["gone", "too long"]:
        """Block (in a helper thread) for the one reply; then make sure the process and its group are gone.

        Polls rather than blocking in one read: a descendant the kill could not reach may hold the pipe open,
        and this thread must not wait for it forever (a pool of such threads would starve every later call).
        """
        try:
            while not self.conn.poll(0.25):
                if self.killed_at is not None and time.monotonic() - self.killed_at > 2.0:
                    return "gone"
            return self.conn.recv_bytes(max_bytes)
        except EOFError:
            return "gone"
        except OSError as exc:
            return "too long" if "bad message length" in str(exc) else "gone"
        finally:
            self._stop()  # after a reply the worker exits by itself; this only stops one that lingers
            self.process.join(5)
            self.conn.close()

    def kill(self) -> None:
        """Kill the worker and its process group (a deadline, a cancellation, shutdown)."""
        self.killed = True
        if self.killed_at is None:
            self.killed_at = time.monotonic()
        self._stop()

    def _stop(self) -> None:
        kill_children(self.process.pid)  # a PID namespace's init: its death takes the whole namespace with it
        kill_group(self.process.pid)  # the worker called setsid: its pid is its group's id
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.kill()

    def exitcode(self) -> int | None:
        self.process.join(5)
        return self.process.exitcode


class _WorkerPool:
    """Workers started ahead of calls; each serves one call. Thread-safe: refills run in plain threads."""

    def __init__(self, warm: int) -> None:
        self.warm = warm
        self._lock = threading.Lock()
        self._idle: deque[_Worker] = deque()
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._generation = 0  # bumped by close(): a worker started for an older generation is killed on arrival
        self._threads: ThreadPoolExecutor | None = None

    def threads(self) -> ThreadPoolExecutor:
        # One thread per call waiting for its reply (a blocking read), so size for many concurrent calls.
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(64, thread_name_prefix="armorer-sandbox")
            return self._threads

    async def take(self) -> _Worker:
        worker = None
        with self._lock:
            while self._idle and worker is None:
                candidate = self._idle.popleft()
                if candidate.process.is_alive():
                    worker = candidate
                else:
                    candidate.kill()
        if worker is None:
            worker = await asyncio.get_running_loop().run_in_executor(self.threads(), _start_worker)
        with self._lock:
            self._busy.add(worker)
        self._refill()
        return worker

    def release(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)

    def _refill(self) -> None:
        with self._lock:
            missing = self.warm - len(self._idle) - self._starting
            self._starting += max(missing, 0)
            generation = self._generation
        for _ in range(missing):
            threading.Thread(target=self._add_one, args=(generation,), daemon=True,
                             name="armorer-sandbox-start").start()

    def _add_one(self, generation: int) -> None:
        try:
            worker = _start_worker()
        except Exception:  # the next call starts its own worker and reports the failure
            with self._lock:
                self._starting -= 1
            return
        with self._lock:
            self._starting -= 1
            if generation == self._generation:
                self._idle.append(worker)
                return
        worker.kill()

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            doomed = [*self._idle, *self._busy]
            self._idle.clear()
            threads, self._threads = self._threads, None
        for worker in doomed:
            worker.kill()
        if threads is not None:
            threads.shutdown(wait=False)


def _start_worker() -> _Worker:
    ours, theirs = multiprocessing.Pipe(duplex=True)
    process = _process_context().Process(target=_serve_one, args=(theirs,), daemon=True, name="armorer-sandbox")
    process.start()
    theirs.close()
    return _Worker(process, ours)
