"""A multi-node Ray cluster on one machine, for trying deployments across nodes (and for the cluster tests).

    python cluster/local.py up --workers 1 --state /tmp/armorer-cluster.json   # prints the address
    RAY_AUTH_MODE=disabled RAY_ADDRESS=127.0.0.1:<port> python examples/deploy_toolbox.py
    python cluster/local.py down --state /tmp/armorer-cluster.json

Each node is a ``ray start --block`` process in its own session, started on free ports (never Ray's default 6379,
which a local Redis may hold) with its own temporary directory, so it never collides with a Ray runtime already
running here. ``down`` stops exactly the nodes it started, by process id (SIGTERM makes ``ray start --block`` take
its node's processes down; the process group is killed if it does not), never with ``ray stop``, which would stop
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
from pathlib import Path
from typing import Any

RAY = str(Path(sys.executable).with_name("ray"))
PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port")
WORKER_PORTS = 40  # ports for worker processes per node (each actor or task worker takes one)


def free_ports(count: int) -> list[int]:
    """Ports free right now (held open together so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def node_command(*, head: bool, address: str | None, cpus: int, resources: dict[str, float],
                 temp_dir: str, object_store_bytes: int) -> tuple[list[str], int | None]:
    """The ``ray start`` command for one node, and the GCS port when it is the head."""
    ports = free_ports(len(PORT_FLAGS) + 1 + WORKER_PORTS)
    command = [RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
               f"--num-cpus={cpus}", f"--resources={json.dumps(resources)}",
               f"--object-store-memory={object_store_bytes}",
               f"--worker-port-list={','.join(str(p) for p in ports[len(PORT_FLAGS) + 1:])}"]
    command += [f"{flag}={port}" for flag, port in zip(PORT_FLAGS, ports, strict=False)]
    gcs_port = None
    if head:
        gcs_port = ports[len(PORT_FLAGS)]
        command += ["--head", f"--port={gcs_port}", "--include-dashboard=false", f"--temp-dir={temp_dir}",
                    f"--ray-client-server-port={free_ports(1)[0]}"]
    else:
        command += [f"--address={address}"]
    return command, gcs_port


def up(workers: int, cpus: int, object_store_bytes: int, timeout_s: float = 120.0) -> dict[str, Any]:
    """Start a head and ``workers`` worker nodes; returns the state ``down`` needs."""
    temp_dir = tempfile.mkdtemp(prefix="arc-", dir="/tmp")  # short: Ray's socket paths must stay under 108 bytes
    # A throwaway cluster on 127.0.0.1: token auth off, so drivers connect with nothing but the address.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    command, gcs_port = node_command(head=True, address=None, cpus=cpus, resources={"head_node": 1.0},
                                     temp_dir=temp_dir, object_store_bytes=object_store_bytes)
    address = f"127.0.0.1:{gcs_port}"
    logs = Path(temp_dir)
    state: dict[str, Any] = {"address": address, "pids": [], "temp_dir": temp_dir}
    try:
        state["pids"].append(_spawn(command, env, logs / "head.log"))
        _wait_for_nodes(address, 1, timeout_s, env)
        for index in range(workers):
            command, _ = node_command(head=False, address=address, cpus=cpus,
                                      resources={"worker_node": 1.0, f"worker_{index}": 1.0}, temp_dir=temp_dir,
                                      object_store_bytes=object_store_bytes)
            state["pids"].append(_spawn(command, env, logs / f"worker-{index}.log"))
        _wait_for_nodes(address, 1 + workers, timeout_s, env)
    except BaseException:
        down(state)
        raise
    return state


def down(state: dict[str, Any], timeout_s: float = 30.0) -> None:
    """Stop the nodes of ``state`` by process id (workers first, then the head), then remove their files."""
    for pid in reversed(state["pids"]):
        _terminate(pid, timeout_s)
    shutil.rmtree(state["temp_dir"], ignore_errors=True)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return process.pid


def _wait_for_nodes(address: str, count: int, timeout_s: float, env: dict[str, str]) -> None:
    probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
             "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, env=env,
                              timeout=timeout_s)
        alive = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if alive.isdigit() and int(alive) >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster at {address} has {alive or 'no'} live nodes, wanted {count}: "
                               f"{done.stderr[-2000:]}")
        time.sleep(1.0)


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
    try:
        os.killpg(pid, signal.SIGKILL)  # each node is its own session: take any stragglers down with it
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
    args = parser.parse_args(argv)
    state_file = Path(args.state)
    if args.action == "up":
        state = up(args.workers, args.cpus, args.object_store_mb * 1024 * 1024)
        state_file.write_text(json.dumps(state))
        print(state["address"])
        return 0
    down(json.loads(state_file.read_text()))
    state_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
