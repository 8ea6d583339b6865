"""End-to-end rehearsal of the KubeRay manifests on one machine, with no Kubernetes.

    python cluster/kubernetes/rehearse.py [--keep-logs DIR]

1. Starts a multi-node Ray cluster the way ``rayservice.yaml``'s ``rayClusterConfig`` describes it: one head and
   ``replicas`` workers of each group, each ``ray start --block`` with the group's ``rayStartParams`` plus the
   CPUs and memory KubeRay derives from the container limits, and token authentication as ``authOptions: token``
   sets it (``RAY_AUTH_MODE=token`` and a random ``RAY_AUTH_TOKEN`` on every node and client).
2. Deploys the RayService's ``serveConfigV2`` with ``serve deploy`` through the head's dashboard, as KubeRay does.
3. Calls it over HTTP (httpx) and MCP (the official client) with a bearer token from the mounted token file.
4. Scales it: adds a worker node (what the autoscaler does with a pod) and redeploys with more replicas.
5. Runs the RayJob's entrypoint with ``ray job submit``, as KubeRay's submitter does.
6. Tears everything down: ``serve shutdown``, then every node by process id.

What differs from a pod, and why (printed at the start): all nodes share 127.0.0.1, so every port is a free one
instead of Ray's defaults (6379, 8265, 8000...) and Serve runs one proxy on the head (``proxy_location:
HeadOnly``) rather than one per node; the image's ``/app`` is this repository and the Secret mount
``/etc/armorer`` is a temporary directory; the object store is capped at 100 MB per node (a shared machine).
Exit status 0 only if every step passed; a JSON summary is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
SERVE = str(Path(sys.executable).with_name("serve"))
IMAGE_ROOT, SECRET_MOUNT = "/app", "/etc/armorer"
UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}

_spec = importlib.util.spec_from_file_location("armorer_local_cluster", HERE.parent / "local.py")
local = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(local)  # type: ignore[union-attr]


def cpus(quantity: str | int) -> float:
    """A Kubernetes CPU quantity ("2", "500m") as a number of CPUs."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_bytes(quantity: str | int) -> int:
    """A Kubernetes memory quantity ("4Gi", "512Mi") in bytes."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity)).groups()  # type: ignore[union-attr]
    return int(float(number) * UNITS[unit])


def start_params(group: dict[str, Any]) -> dict[str, str]:
    """``ray start`` flags for a group: its rayStartParams, with CPUs and memory from the container limits the way
    KubeRay fills them in when rayStartParams does not say."""
    params = {key: str(value) for key, value in (group.get("rayStartParams") or {}).items()}
    limits = group["template"]["spec"]["containers"][0].get("resources", {}).get("limits", {})
    if "num-cpus" not in params and "cpu" in limits:
        params["num-cpus"] = str(int(cpus(limits["cpu"])))
    if "memory" not in params and "memory" in limits:
        params["memory"] = str(memory_bytes(limits["memory"]))
    params.pop("dashboard-host", None)  # set below to loopback: a rehearsal must not listen on every interface
    return params


def node_command(params: dict[str, str], *, head: bool, address: str | None,
                 temp_dir: str) -> tuple[list[str], dict[str, int]]:
    """The ``ray start`` command of one node, and the head's named ports.

    As in ``cluster/local.py``: Ray picks every port it can itself (worker ports by the OS); only those Ray would
    otherwise take from fixed defaults (GCS, dashboard, dashboard agent, client server) are chosen free here.
    """
    named = {"gcs": local.free_port(), "dashboard": local.free_port(), "client": local.free_port()}
    command = [RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
               "--object-store-memory=100000000", "--min-worker-port=0", "--max-worker-port=0",
               f"--dashboard-agent-listen-port={local.free_port()}"]
    command += [f"--{key}={value}" for key, value in params.items()]
    if head:
        command += ["--head", f"--port={named['gcs']}", f"--temp-dir={temp_dir}", "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={named['dashboard']}",
                    f"--ray-client-server-port={named['client']}"]
    else:
        command += [f"--address={address}"]
    return command, named


def wait_for_nodes(address: str, count: int, env: dict[str, str], pids: list[int], timeout_s: float = 420) -> None:
    """Poll until ``count`` nodes are alive; a probe that hangs (a loaded machine) is retried, not fatal, but a
    node process that exited (``ray start`` gave up) fails at once."""
    probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
             "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout_s
    seen = "no answer"
    while time.monotonic() < deadline:
        dead = [pid for pid in pids if not local._alive(pid) or _reaped(pid)]
        if dead:
            raise RuntimeError(f"node process(es) {dead} exited before the cluster had {count} live nodes")
        try:
            done = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, env=env,
                                  timeout=90)
            lines = done.stdout.strip().splitlines()
            seen = lines[-1] if lines else done.stderr[-500:]
            if seen.isdigit() and int(seen) >= count:
                return
        except subprocess.TimeoutExpired:
            seen = "the probe hung for 90 s"
        time.sleep(2)
    raise TimeoutError(f"cluster at {address} did not reach {count} live nodes in {timeout_s:.0f} s: {seen}")


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


class Rehearsal:
    def __init__(self, logs: Path) -> None:
        service = yaml.safe_load((HERE / "rayservice.yaml").read_text())
        self.cluster = service["spec"]["rayClusterConfig"]
        self.serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
        self.job = yaml.safe_load((HERE / "rayjob.yaml").read_text())["spec"]
        self.logs = logs
        self.temp_dir = tempfile.mkdtemp(prefix="arr-", dir="/tmp")  # short: socket paths stay under 108 bytes
        self.secret_dir = Path(tempfile.mkdtemp(prefix="armorer-secret-"))
        self.token = "rehearsal-" + secrets.token_hex(16)
        (self.secret_dir / "tokens.json").write_text(json.dumps({self.token: {"tenant_id": "acme", "user_id": "ada"}}))
        # What KubeRay's authOptions (mode: token) puts on every Ray container, and what the image's ENV sets.
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(24),
                    "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                    "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        self.pids: list[int] = []
        self.address = ""
        self.dashboard = ""
        self.http_port = local.free_port()
        self.steps: dict[str, Any] = {}

    # -- 1. the cluster ------------------------------------------------------------------------------------

    def start_cluster(self) -> None:
        head_params = start_params(self.cluster["headGroupSpec"])
        command, named = node_command(head_params, head=True, address=None, temp_dir=self.temp_dir)
        self.address, self.dashboard = f"127.0.0.1:{named['gcs']}", f"http://127.0.0.1:{named['dashboard']}"
        self.pids.append(local._spawn(command, self.env, self.logs / "head.log"))
        wait_for_nodes(self.address, 1, self.env, self.pids)
        nodes = 1
        for group in self.cluster["workerGroupSpecs"]:
            for _ in range(group["replicas"]):
                nodes += 1
                self.add_worker_until_up(group, nodes)
        self.steps["cluster"] = {"nodes": nodes, "head": head_params,
                                 "workers": [start_params(g) for g in self.cluster["workerGroupSpecs"]]}

    def start_cluster_retrying(self, attempts: int = 2) -> None:
        """`start_cluster`, once more on a fresh set of ports if a node gave up (a loaded machine's raylet can miss
        its startup window, as the test suite's own Ray start allows for)."""
        for attempt in range(1, attempts + 1):
            try:
                self.start_cluster()
                return
            except (RuntimeError, TimeoutError) as exc:
                self.steps[f"cluster_attempt_{attempt}"] = str(exc)[:300]
                local.down({"pids": self.pids, "temp_dir": self.temp_dir})
                self.pids = []
                self.temp_dir = tempfile.mkdtemp(prefix="arr-", dir="/tmp")
                if attempt == attempts:
                    raise

    def add_worker_until_up(self, group: dict[str, Any], nodes: int, attempts: int = 3) -> None:
        """Start one worker and wait for ``nodes`` live nodes; a worker whose raylet missed Ray's fixed 30 s
        registration window (a loaded machine) is replaced, as Kubernetes would restart its pod."""
        for attempt in range(1, attempts + 1):
            self.add_worker(group)
            try:
                wait_for_nodes(self.address, nodes, self.env, self.pids)
                return
            except RuntimeError:
                if attempt == attempts:
                    raise
                self.steps[f"worker_restarts_{group['groupName']}"] = attempt
                local._terminate(self.pids.pop(), 30)

    def add_worker(self, group: dict[str, Any]) -> None:
        index = len(self.pids)
        command, _ = node_command(start_params(group), head=False, address=self.address, temp_dir=self.temp_dir)
        self.pids.append(local._spawn(command, self.env, self.logs / f"worker-{group['groupName']}-{index}.log"))

    # -- 2. serve deploy ---------------------------------------------------------------------------------

    def local_serve_config(self, min_replicas: int | None = None) -> Path:
        config = json.loads(json.dumps(self.serve_config))
        config["http_options"] = {**config.get("http_options", {}), "host": "127.0.0.1", "port": self.http_port}
        config["proxy_location"] = "HeadOnly"
        for app in config["applications"]:
            tokens_file = app["args"].get("tokens_file", "")
            if tokens_file.startswith(SECRET_MOUNT + "/"):
                app["args"]["tokens_file"] = str(self.secret_dir / tokens_file[len(SECRET_MOUNT) + 1:])
            for deployment in app.get("deployments", []):
                if min_replicas is not None:
                    deployment["autoscaling_config"]["min_replicas"] = min_replicas
        path = self.logs / f"serve-config-{min_replicas or 'manifest'}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def serve_deploy(self, config: Path) -> None:
        self.run([SERVE, "deploy", str(config), "--address", self.dashboard], "serve-deploy")

    def wait_running(self, replicas: int, timeout_s: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            status = yaml.safe_load(self.run([SERVE, "status", "--address", self.dashboard], "serve-status"))
            apps = status.get("applications") or {}
            app = apps.get("armorer") or {}
            deployment = (app.get("deployments") or {}).get("ToolboxIngress") or {}
            running = (deployment.get("replica_states") or {}).get("RUNNING", 0)
            if app.get("status") == "RUNNING" and running >= replicas:
                return {"status": app["status"], "running_replicas": running}
            if app.get("status") == "DEPLOY_FAILED" or time.monotonic() > deadline:
                raise RuntimeError(f"serve app did not reach RUNNING with {replicas} replicas: {status}")
            time.sleep(2)

    # -- 3. calls ----------------------------------------------------------------------------------------

    def call_http(self) -> dict[str, Any]:
        import httpx

        base, auth = f"http://127.0.0.1:{self.http_port}", {"authorization": f"Bearer {self.token}"}
        refused = httpx.post(f"{base}/call", json={"name": "search_customers"}, timeout=60).status_code
        tools = httpx.get(f"{base}/tools", headers=auth, timeout=60).json()
        found = httpx.post(f"{base}/call", json={"name": "search_customers", "arguments": {"query": "ada"}},
                           headers=auth, timeout=60).json()
        if refused != 401 or found["outcome"] != "success" or not tools:
            raise RuntimeError(f"HTTP calls failed: unauthenticated {refused}, result {found}")
        return {"unauthenticated_status": refused, "tools": len(tools), "search_customers": found["outcome"]}

    def call_mcp(self) -> dict[str, Any]:
        async def session() -> dict[str, Any]:
            import httpx2
            import mcp
            from mcp.client.streamable_http import streamable_http_client

            client = httpx2.AsyncClient(headers={"authorization": f"Bearer {self.token}"}, timeout=60)
            async with mcp.Client(streamable_http_client(f"http://127.0.0.1:{self.http_port}/mcp",
                                                         http_client=client)) as mcp_client:
                listed = await mcp_client.list_tools()
                health = await mcp_client.call_tool("check_service_health", {"service": "billing"})
            if health.is_error or not listed.tools:
                raise RuntimeError(f"MCP call failed: {health}")
            return {"tools": len(listed.tools), "check_service_health": "ok"}

        return asyncio.run(session())

    # -- 5. the RayJob -----------------------------------------------------------------------------------

    def run_job(self) -> dict[str, Any]:
        entrypoint = self.job["entrypoint"].replace(IMAGE_ROOT + "/", str(REPO) + "/")
        entrypoint = entrypoint.replace("python ", f"{sys.executable} ", 1)
        output = self.run([RAY, "job", "submit", "--address", self.dashboard, "--", *entrypoint.split()], "ray-job",
                          timeout_s=900)
        if "Every call got exactly one structured result" not in output:
            raise RuntimeError(f"the demo job did not finish its checks:\n{output[-3000:]}")
        return {"entrypoint": self.job["entrypoint"], "succeeded": True}

    # -- plumbing ----------------------------------------------------------------------------------------

    def run(self, command: list[str], label: str, timeout_s: float = 300) -> str:
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout_s, cwd=REPO)
        with (self.logs / f"{label}.log").open("a") as log:
            log.write(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}\n")
        if done.returncode != 0:
            raise RuntimeError(f"{label} exited {done.returncode}: {done.stderr[-3000:]}")
        return done.stdout

    def teardown(self) -> None:
        if self.dashboard:
            try:
                self.run([SERVE, "shutdown", "-y", "--address", self.dashboard], "serve-shutdown", timeout_s=120)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                self.steps["serve_shutdown_error"] = str(exc)[:500]
        local.down({"pids": self.pids, "temp_dir": self.temp_dir})
        shutil.rmtree(self.secret_dir, ignore_errors=True)

    def rehearse(self) -> dict[str, Any]:
        try:
            self.steps["phase"] = "start cluster"
            self.start_cluster_retrying()
            self.steps["phase"] = "serve deploy"
            self.serve_deploy(self.local_serve_config())
            self.steps["serve_deploy"] = self.wait_running(1)
            self.steps["phase"] = "calls"
            self.steps["http"] = self.call_http()
            self.steps["mcp"] = self.call_mcp()
            self.steps["phase"] = "scale"
            nodes = self.steps["cluster"]["nodes"] + 1
            # What the autoscaler does when replicas or tasks do not fit: one more pod of the worker group.
            self.add_worker_until_up(self.cluster["workerGroupSpecs"][0], nodes)
            self.serve_deploy(self.local_serve_config(min_replicas=2))
            self.steps["scaled"] = {"nodes": nodes, **self.wait_running(2), "http": self.call_http()}
            self.steps["phase"] = "ray job"
            self.steps["ray_job"] = self.run_job()
            self.steps["phase"] = "done"
            self.steps["ok"] = True
        except Exception as exc:
            self.steps["ok"] = False
            self.steps["error"] = f"{type(exc).__name__}: {exc}"[:4000]
        finally:
            self.teardown()
        return self.steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-logs", type=Path, help="write node and command logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    logs = args.keep_logs or Path(tempfile.mkdtemp(prefix="armorer-rehearsal-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(f"rehearsing cluster/kubernetes on 127.0.0.1 (logs in {logs}); differences from pods: free ports, "
          "proxy_location HeadOnly, /app -> repository, /etc/armorer -> a temp dir, 100 MB object stores",
          file=sys.stderr)
    summary = Rehearsal(logs).rehearse()
    print(json.dumps(summary, indent=2))
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
