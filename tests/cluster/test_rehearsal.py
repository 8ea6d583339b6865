"""The end-to-end rehearsal: a local multi-node cluster shaped like the RayService's, `serve deploy` of its
serveConfigV2, HTTP and MCP calls, scaling, the RayJob's entrypoint via `ray job submit`, teardown by pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.kuberay import KUBE, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.timeout(1800)]


def test_the_rehearsal_runs_every_step_and_leaves_nothing_running(tmp_path: Path) -> None:
    # CI runs it (.ci/run sets ARMORER_RUN_REHEARSAL=1); a local `make test` skips it, as it starts a cluster of its
    # own for about 4 minutes. The manifests' schema tests always run.
    if os.environ.get("ARMORER_RUN_REHEARSAL") != "1":
        pytest.skip("the KubeRay rehearsal runs with ARMORER_RUN_REHEARSAL=1, as CI sets it (about 4 minutes, its own cluster)")
    pytest.importorskip("ray.serve")
    pytest.importorskip("mcp")
    done = subprocess.run([sys.executable, str(KUBE / "rehearse.py"), "--keep-logs", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)
    logs = "".join(f"\n== {log.name}\n{log.read_text()[-1500:]}" for log in sorted(tmp_path.glob("*.log")))
    assert "{" in done.stdout, f"the rehearsal printed no summary (exit {done.returncode}):\n" \
                               f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}{logs}"
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert done.returncode == 0 and summary["ok"], f"{summary.get('phase')}: {summary.get('error')}{logs}"
    assert summary["cluster"]["nodes"] >= 2  # multi-node, as the RayCluster describes
    assert summary["cluster"]["head"]["num-cpus"] == "0"
    assert summary["serve_deploy"]["status"] == "RUNNING"
    assert summary["http"]["unauthenticated_status"] == 401 and summary["http"]["search_customers"] == "success"
    assert summary["mcp"]["check_service_health"] == "ok" and summary["mcp"]["tools"] == summary["http"]["tools"] > 0
    assert summary["scaled"]["running_replicas"] == 2 and summary["scaled"]["nodes"] == summary["cluster"]["nodes"] + 1
    assert summary["ray_job"]["succeeded"]
    assert "serve_shutdown_error" not in summary
    # Teardown stopped every node it started: no process still runs from the rehearsal's session directory.
    leftovers = subprocess.run(["pgrep", "-f", "armorer-secret-|/tmp/arr-"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", leftovers.stdout
