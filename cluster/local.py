"""A multi-node Ray cluster on one machine, for trying deployments across nodes (and for the cluster tests).

    python cluster/local.py up --workers 1 --state /tmp/armorer-cluster.json   # prints the address
    RAY_AUTH_MODE=disabled RAY_ADDRESS=127.0.0.1:<port> python examples/deploy_toolbox.py
    python cluster/local.py down --state /tmp/armorer-cluster.json

Each node is a ``ray start --block`` process in its own session with its own temporary directory. Ray picks its
ports itself wherever it can (worker ports included); the few it would take from fixed defaults (the GCS, never
6379 which a local Redis may hold; the dashboard agent; the client server) are chosen free here, and a node that
loses the race for one (``Address already in use``) exits at once and is started again on new ports, so ``up``
either succeeds or fails within a few minutes with the node's log lines in the message.

``down`` stops exactly the nodes it started, by process id (SIGTERM makes ``ray start --block`` take its node's
processes down; whatever is left of the node's session is killed), never with ``ray stop``, which would stop
every Ray instance on the machine. Token authentication is off (``RAY_AUTH_MODE=disabled``, for the nodes and for
drivers connecting to them): this is a throwaway cluster for one machine, not a deployment recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RAY = str(Path(sys.executable).with_name("ray"))
ATTEMPTS = 4  # a node whose port was taken between choosing and binding is retried with new ports
NODE_START_S = 90.0  # longest one node may take to join (the machine may be loaded)


class ClusterError(RuntimeError):
    """A node did not start; the message carries the tail of its log."""


def free_port() -> int:
    """A port free right now (Ray binds it a moment later; a node that loses that race is retried)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_command(*, head: bool, address: str | None, cpus: int, resources: dict[str, float],
                 temp_dir: str, object_store_bytes: int, gcs_port: int | None = None) -> tuple[list[str], int | None]:
    """The ``ray start`` command for one node, and the GCS port when it is the head.

    Ray picks every port it can on its own (node manager, object manager, agents, metrics, and worker ports:
    ``--min-worker-port=0`` lets the OS assign each worker's); only the ports Ray would otherwise take from fixed
    defaults (the GCS, the dashboard agent's HTTP port, the client server) are chosen here.
    """
    command = [RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
               f"--num-cpus={cpus}", f"--resources={json.dumps(resources)}",
               f"--object-store-memory={object_store_bytes}", "--min-worker-port=0", "--max-worker-port=0",
               f"--dashboard-agent-listen-port={free_port()}"]
    if head:
        gcs_port = gcs_port or free_port()
        command += ["--head", f"--port={gcs_port}", "--include-dashboard=false", f"--temp-dir={temp_dir}",
                    f"--ray-client-server-port={free_port()}"]
    else:
        command += [f"--address={address}"]
    return command, gcs_port


def up(workers: int, cpus: int, object_store_bytes: int, timeout_s: float = NODE_START_S,
       redis: str | None = None) -> dict[str, Any]:
    """Start a head and ``workers`` worker nodes; returns the state ``down`` needs.

    With ``redis`` (``host:port``) the GCS keeps its tables in that Redis under a key prefix of its own
    (``RAY_external_storage_namespace``), so `restart_head` can bring the head back with the cluster's state.

    Raises:
        ClusterError: when a node fails ``ATTEMPTS`` times, or does not join within ``timeout_s``.
    """
    temp_dir = tempfile.mkdtemp(prefix="arc-", dir="/tmp")  # short: Ray's socket paths must stay under 108 bytes
    state: dict[str, Any] = {"address": "", "pids": [], "temp_dir": temp_dir, "cpus": cpus,
                             "object_store_bytes": object_store_bytes, "workers": 0, "head_pid": None,
                             "redis": redis, "storage_namespace": f"armorer-{uuid.uuid4().hex[:12]}" if redis else None}
    try:
        _start_head(state, timeout_s, gcs_port=None)
        for _ in range(workers):
            add_worker(state, timeout_s)
    except BaseException:
        down(state)
        raise
    return state


def _start_head(state: dict[str, Any], timeout_s: float, gcs_port: int | None,
                old: frozenset[str] = frozenset()) -> None:
    for attempt in range(ATTEMPTS):
        command, port = node_command(head=True, address=None, cpus=state["cpus"], resources={"head_node": 1.0},
                                     temp_dir=state["temp_dir"], object_store_bytes=state["object_store_bytes"],
                                     gcs_port=gcs_port)
        state["address"] = f"127.0.0.1:{port}"
        state["head_starts"] = state.get("head_starts", 0) + 1
        log = Path(state["temp_dir"]) / f"head-{state['head_starts']}.log"
        pid = _spawn(command, _env(state, head=True), log)
        if _joined(pid, state["address"], "head_node", timeout_s, log, attempt, old):
            state["pids"].append(pid)
            state["head_pid"] = pid
            return


def restart_head(state: dict[str, Any], timeout_s: float = NODE_START_S) -> int:
    """Kill every process of the head node (as a machine failure would) and start it again on the same GCS port;
    returns the new head's pid. Only a cluster started with ``redis`` keeps its actors and placement groups: the
    new GCS reloads them from Redis, and the worker nodes reconnect to it (within Ray's
    ``gcs_rpc_server_reconnect_timeout_s``, 60 s by default)."""
    lost = frozenset(_nodes_with(state["address"], "head_node"))
    old = state["head_pid"]
    _kill_session(old)
    try:
        os.waitpid(old, 0)
    except ChildProcessError:
        pass
    deadline = time.monotonic() + 30.0
    while _session_alive(old) and time.monotonic() < deadline:  # its GCS must be gone before a new one binds
        _kill_session(old)
        time.sleep(0.2)
    state["pids"] = [p for p in state["pids"] if p != old]
    # `ray start --head` refuses a port named in the last cluster file when any raylet on this machine names that
    # GCS in its command line, as the workers here do (on a real cluster the head has the machine to itself).
    (Path(state["temp_dir"]) / "ray_current_cluster").unlink(missing_ok=True)
    _start_head(state, timeout_s, gcs_port=int(state["address"].rsplit(":", 1)[1]), old=lost)
    return int(state["head_pid"])


def add_worker(state: dict[str, Any], timeout_s: float = NODE_START_S) -> int:
    """Start one more worker node (custom resources ``worker_node`` and ``worker_<n>``); returns its pid."""
    index = state["workers"]
    state["workers"] = index + 1
    log = Path(state["temp_dir"]) / f"worker-{index}.log"
    for attempt in range(ATTEMPTS):
        command, _ = node_command(head=False, address=state["address"], cpus=state["cpus"],
                                  resources={"worker_node": 1.0, f"worker_{index}": 1.0}, temp_dir=state["temp_dir"],
                                  object_store_bytes=state["object_store_bytes"])
        pid = _spawn(command, _env(state), log)
        if _joined(pid, state["address"], f"worker_{index}", timeout_s, log, attempt):
            state["pids"].append(pid)
            state.setdefault("workers_by_resource", {})[f"worker_{index}"] = pid
            return pid
    raise AssertionError("unreachable")  # _joined raises on the last attempt


def kill_node(state: dict[str, Any], pid: int) -> None:
    """Kill every process of one node at once (SIGKILL to each process of its session: raylet, agents and the
    worker processes, which Ray puts in process groups of their own), as a machine failure would; the node is
    removed from ``state``."""
    _kill_session(pid)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    state["pids"] = [p for p in state["pids"] if p != pid]
    state["workers_by_resource"] = {k: p for k, p in state.get("workers_by_resource", {}).items() if p != pid}


def _env(state: dict[str, Any] | None = None, *, head: bool = False) -> dict[str, str]:
    # A throwaway cluster on 127.0.0.1: token auth off, so drivers connect with nothing but the address.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           # A lost node is declared dead after ~5 s of missed health checks rather than Ray's default ~30 s, so
           # node-loss tests (and people trying failover here) see recovery in seconds.
           "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
           "RAY_health_check_failure_threshold": "5"}
    env.pop("RAY_ADDRESS", None)
    if state is not None and state.get("redis"):
        # GCS fault tolerance: nodes wait up to 5 minutes for a restarted GCS (Ray's default is 60 s, short for a
        # loaded machine), and the head keeps the GCS's tables in Redis under this cluster's own key prefix.
        env["RAY_gcs_rpc_server_reconnect_timeout_s"] = "300"
        if head:
            env["RAY_REDIS_ADDRESS"] = state["redis"]
            env["RAY_external_storage_namespace"] = state["storage_namespace"]
            # A restarted head's agents start while its GCS is still recovering: give them longer to report.
            env["RAY_agent_register_timeout_ms"] = "120000"
            env["RAY_raylet_start_wait_time_s"] = "120"
    return env


def _joined(pid: int, address: str, resource: str, timeout_s: float, log: Path, attempt: int,
            old: frozenset[str] = frozenset()) -> bool:
    """Wait until the node with custom resource ``resource`` is alive.

    Returns False (the node stopped: retry it) when its process exited early, as on ``Address already in use``;
    raises `ClusterError` on the last attempt or on a timeout.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if not _alive(pid) or _reaped(pid):
            tail = _tail(log)
            if attempt + 1 >= ATTEMPTS:
                raise ClusterError(f"a Ray node failed to start {ATTEMPTS} times; last log lines:\n{tail}")
            return False
        if _has_node(address, resource, old):  # a node of ours, not one the (restored) GCS still counts alive
            return True
        if time.monotonic() > deadline:
            _terminate(pid, 10.0)
            raise ClusterError(f"a Ray node did not join {address} within {timeout_s:.0f}s; last log lines:\n"
                               f"{_tail(log)}")
        time.sleep(0.5)


def _has_node(address: str, resource: str, old: frozenset[str] = frozenset()) -> bool:
    return bool(_nodes_with(address, resource) - old)


def _nodes_with(address: str, resource: str) -> set[str]:
    """Ids of the live nodes that have custom resource ``resource`` (empty when the cluster does not answer)."""
    probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
             "print(' '.join(['ids:'] + [n['NodeID'] for n in ray.nodes() if n['Alive'] and sys.argv[2] in "
             "n['Resources']]))")
    try:
        done = subprocess.run([sys.executable, "-c", probe, address, resource], capture_output=True, text=True,
                              env=_env(), timeout=60)
    except subprocess.TimeoutExpired:
        return set()
    lines = [line for line in done.stdout.splitlines() if line.startswith("ids:")]
    return set(lines[-1].split()[1:]) if lines else set()


def _reaped(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return bool(finished)


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def down(state: dict[str, Any], timeout_s: float = 30.0) -> None:
    """Stop the nodes of ``state`` by process id (workers first, then the head), then remove their files."""
    for pid in reversed(state["pids"]):
        _terminate(pid, timeout_s)
    shutil.rmtree(state["temp_dir"], ignore_errors=True)
    if state.get("redis"):  # the GCS's keys in Redis (only this cluster's prefix)
        from ray._private.gcs_utils import cleanup_redis_storage

        host, port = state["redis"].rsplit(":", 1)
        cleanup_redis_storage(host, int(port), "", False, state["storage_namespace"])


def _spawn(command: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return process.pid


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (started by another `up` process): poll for its exit
            finished = 0 if _alive(pid) else pid
        if finished:
            break
        time.sleep(0.2)
    _kill_session(pid)  # each node is its own session: take any stragglers down with it


def _session_alive(sid: int) -> bool:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                return True
    return False


def _kill_session(sid: int) -> None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after "(comm)": state, ppid, pgrp, session
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--state", default="/tmp/armorer-cluster.json", help="where `up` records the nodes")
    parser.add_argument("--workers", type=int, default=1, help="worker nodes besides the head")
    parser.add_argument("--cpus", type=int, default=2, help="logical CPUs per node")
    parser.add_argument("--object-store-mb", type=int, default=100, help="object store per node")
    parser.add_argument("--redis", default=None, help="host:port of a Redis for GCS fault tolerance (a unique key "
                        "prefix is used; `down` deletes it)")
    args = parser.parse_args(argv)
    state_file = Path(args.state)
    if args.action == "up":
        try:
            state = up(args.workers, args.cpus, args.object_store_mb * 1024 * 1024, redis=args.redis)
        except ClusterError as exc:
            print(f"cluster/local.py up: {exc}", file=sys.stderr)
            return 1
        state_file.write_text(json.dumps(state))
        print(state["address"])
        return 0
    down(json.loads(state_file.read_text()))
    state_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
