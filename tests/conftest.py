"""Shared fixtures: one Ray runtime for the session, service URLs for Redis and PostgreSQL."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

try:  # service fixtures (redis_url, postgres_dsn) live beside the store tests
    from tests.conftest_services import *  # noqa: F403
except ImportError:  # pragma: no cover - only while the stores package is absent
    pass

# Hypothesis's per-example deadline (200 ms) and its "too slow" health checks are timing assertions: on a loaded
# 2-core machine they fail tests whose property holds. Examples still run; only the clock checks are off.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("armorer", deadline=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.load_profile("armorer")
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Ray Serve gives a starting HTTP proxy 5 s to report ready (3 tries) and then kills it: on a 2-core machine with
# both cores busy, proxies took longer, and `serve.start` failed. Tests run loaded, so allow a minute.
SERVE_PATIENCE = {"RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60", "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60"}
for _name, _value in SERVE_PATIENCE.items():
    os.environ.setdefault(_name, _value)


def _start_ray(ray: object, attempts: int = 5) -> None:
    """Start the local runtime, retrying: on a loaded 2-core machine the raylet can miss its startup window."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(  # type: ignore[attr-defined]
                num_cpus=8,  # logical CPUs: lets tests place several replicas on a 2-core machine
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=300 * 1024 * 1024,
                namespace="armorer-tests",
                runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **SERVE_PATIENCE}},
            )
            return
        except Exception:
            ray.shutdown()  # type: ignore[attr-defined]
            if attempt == attempts:
                raise
            time.sleep(5 * attempt)


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[object]:
    """A local Ray runtime shared by every test that needs one (started once, stopped at the end)."""
    import ray

    if not ray.is_initialized():
        _start_ray(ray)
    yield ray
    ray.shutdown()


@pytest.fixture
def shared_tmp_path(tmp_path: Path) -> Path:
    """``tmp_path`` that a sandboxed body running under a uid of its own (tests run as root) can write to."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        tmp_path.chmod(0o777)
        for parent in tmp_path.parents:
            if parent == Path(tempfile.gettempdir()) or parent == parent.parent:
                break
            parent.chmod(parent.stat().st_mode | 0o711)
    return tmp_path
