"""GCS fault tolerance: on a three-node cluster whose GCS keeps its tables in the local Redis (under a key prefix of
its own), every process of the head node is killed and the head started again; a detached deployment made before
keeps serving from the same replica processes, and a new driver attaches to it.

The controller runs on the head (the default placement), so it is lost with it; Ray restarts it once the new GCS
has reloaded its tables, and it adopts the replicas still running on the workers (a new epoch, the same replicas).
Opt-in (``ARMORER_CLUSTER_GCS=1``): it does not pass yet on this machine (see docs/actors.md, known limits).
Skipped when no Redis answers on 127.0.0.1:6379 (``ARMORER_REQUIRE_SERVICES=1`` makes that a failure).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.actors.test_cluster import local, run

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]
REDIS = "127.0.0.1:6379"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def gcs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.environ.get("ARMORER_CLUSTER_GCS") != "1":
        pytest.skip("GCS fault tolerance: set ARMORER_CLUSTER_GCS=1 to run it (about 2-4 minutes, its own cluster and Redis)")
    if not _redis_answers():
        if os.environ.get("ARMORER_REQUIRE_SERVICES") == "1":
            pytest.fail(f"no Redis on {REDIS}")
        pytest.skip(f"no Redis on {REDIS}")
    state = tmp_path_factory.mktemp("gcs") / "state.json"
    try:
        run("cluster/local.py", "up", "--workers", "2", "--cpus", "1", "--redis", REDIS, "--state", str(state))
        yield state
    finally:
        if state.exists():
            run("cluster/local.py", "down", "--state", str(state))


def test_a_detached_deployment_keeps_serving_across_a_head_restart(gcs_cluster: Path) -> None:
    state: dict[str, Any] = json.loads(gcs_cluster.read_text())
    address = state["address"]
    name = f"gcs-{uuid.uuid4().hex[:6]}"
    # Replicas on the two workers (SPREAD, off the head); this driver exits, the detached deployment stays.
    deployed = json.loads(run("tests/actors/cluster_driver.py", "deploy", "--address", address, "--name", name,
                              "--strategy", "SPREAD", "--workers-only"))
    assert deployed["ok"] and len(deployed["replicas"]) == 2

    local().restart_head(state)  # every process of the head killed, then a new head on the same GCS port
    gcs_cluster.write_text(json.dumps(state))
    assert state["address"] == address

    attached = json.loads(run("tests/actors/cluster_driver.py", "attach", "--address", address, "--name", name))
    assert attached["ok"], attached
    assert attached["replicas"] == deployed["replicas"], attached  # the same replica processes kept serving
    assert attached["epoch"] != deployed["epoch"], attached  # the controller was lost with the head, and came back
    assert set(attached["nodes"]) <= set(deployed["replica_nodes"]) and attached["shutdown_ok"], attached
