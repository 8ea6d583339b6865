"""`armorer serve`: refusals without starting anything, and a real run on a private local Ray, stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import ADA, TOKENS, bearer, free_port

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}


def armorer(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "armorer_ray.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, timeout=timeout_s)


def test_serve_refuses_to_start_without_an_authentication_choice() -> None:
    done = armorer("serve", "tests.serve.conftest:build_toolbox", "--port", "1")
    assert done.returncode == 2 and "tokens_file" in done.stderr


def test_serve_refuses_anonymous_access_off_loopback_and_bad_targets(tmp_path: Path) -> None:
    open_door = armorer("serve", "tests.serve.conftest:build_toolbox", "--allow-anonymous", "--host", "0.0.0.0")
    assert open_door.returncode == 2 and "loopback" in open_door.stderr
    missing = armorer("serve", "tests.serve.nope:build", "--allow-anonymous")
    assert missing.returncode == 2 and "cannot import" in missing.stderr
    short = tmp_path / "tokens.json"
    short.write_text(json.dumps({"short": {"tenant_id": "acme"}}))
    weak = armorer("serve", "tests.serve.conftest:build_toolbox", "--tokens-file", str(short))
    assert weak.returncode == 2 and "at least 16" in weak.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_serve_runs_the_ingress_until_sigterm(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({token: principal.model_dump() for token, principal in TOKENS.items()}))
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "armorer_ray.cli", "serve", "tests.serve.conftest:build_toolbox",
                                "--port", str(port), "--tokens-file", str(tokens)],
                               cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "armorer serve did not answer /healthz in 240 s"
            time.sleep(1)
        added = httpx.post(f"http://127.0.0.1:{port}/call", json={"name": "add", "arguments": {"a": 2, "b": 2}},
                           headers=bearer(ADA), timeout=60)
        assert added.json()["result"] == 4
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
