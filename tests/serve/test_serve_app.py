"""`toolbox_app` on Ray Serve (the session Ray runtime): HTTP and MCP through Serve's proxy, autoscaling options
passed through, the config builder with a token file. Serve listens on a free loopback port and is shut down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from armorer_ray.serve import BearerTokens, RequestLimits, ServeOptions, toolbox_app
from armorer_ray.serve.config import build_app
from tests.serve.conftest import ADA, BOB, TOKENS, bearer, build_toolbox, free_port

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(900)]
serve = pytest.importorskip("ray.serve")


@pytest.fixture(scope="module")
def serve_url(ray_runtime: object) -> Iterator[str]:
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
    except TimeoutError:  # serve.start waits a fixed 60 s for the proxy; a loaded machine can take longer
        wait_for_healthy_proxy(deadline_s=300)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()


def wait_for_healthy_proxy(deadline_s: float) -> None:
    import time

    deadline = time.monotonic() + deadline_s
    while not any(status == "HEALTHY" for status in serve.status().proxies.values()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no healthy Serve proxy after {deadline_s}s: {serve.status().proxies}")
        time.sleep(1)


def running_replicas(app: str) -> int:
    status = serve.status().applications[app].deployments["ToolboxIngress"]
    return int(status.replica_states.get("RUNNING", 0))


def test_autoscaling_options_reach_serve_and_calls_run_as_the_tenant(serve_url: str) -> None:
    app = toolbox_app(build_toolbox, authenticator=BearerTokens(TOKENS), options=ServeOptions(
        autoscaling_config={"min_replicas": 2, "max_replicas": 3}, ray_actor_options={"num_cpus": 0.1}))
    serve.run(app, name="scaled", route_prefix="/scaled")
    try:
        assert running_replicas("scaled") == 2  # min_replicas came through: Serve's default would be 1
        who = httpx.post(f"{serve_url}/scaled/call", json={"name": "whoami"}, headers=bearer(BOB), timeout=60)
        assert who.status_code == 200 and who.json()["result"]["tenant"] == "globex"
        assert httpx.post(f"{serve_url}/scaled/call", json={"name": "whoami"}, timeout=60).status_code == 401
    finally:
        serve.delete("scaled")


async def test_with_a_shared_approval_book_any_replica_resumes_a_paused_call(serve_url: str, tmp_path: Path) -> None:
    db = tmp_path / "approvals.db"
    app = toolbox_app(partial(build_toolbox, str(db)), authenticator=BearerTokens(TOKENS),
                      options=ServeOptions(num_replicas=2, ray_actor_options={"num_cpus": 0.1}))
    serve.run(app, name="shared", route_prefix="/shared")
    try:
        assert running_replicas("shared") == 2
        async with httpx.AsyncClient(base_url=f"{serve_url}/shared", headers=bearer(ADA), timeout=60) as client:
            for amount in range(101, 109):  # Serve spreads these over both replicas; each resume may land anywhere
                paused = (await client.post("/call", json={"name": "wire", "arguments": {"amount": amount}})).json()
                resumed = await client.post("/resume", json={"token": paused["action"]["resume_token"]})
                assert resumed.status_code == 200 and resumed.json()["result"] == f"sent {amount}"
    finally:
        serve.delete("shared")


async def test_a_principals_rate_holds_for_the_deployment_not_per_replica(serve_url: str) -> None:
    import asyncio

    app = toolbox_app(build_toolbox, authenticator=BearerTokens(TOKENS),
                      limits=RequestLimits(rate_per_s=0.001, burst=6),
                      options=ServeOptions(num_replicas=2, ray_actor_options={"num_cpus": 0.1}))
    serve.run(app, name="limited", route_prefix="/limited")
    try:
        assert running_replicas("limited") == 2
        async with httpx.AsyncClient(base_url=f"{serve_url}/limited", timeout=60) as client:
            async def add(token: str) -> int:
                response = await client.post("/call", json={"name": "add", "arguments": {"a": 1, "b": 2}},
                                             headers=bearer(token))
                return response.status_code

            statuses = await asyncio.gather(*(add(ADA) for _ in range(30)))  # Serve spreads them over both
            assert sorted(statuses) == [200] * 6 + [429] * 24  # six for the deployment, not six per replica
            assert await add(BOB) == 200  # bob's bucket is his own
    finally:
        serve.delete("limited")


def test_fixed_replicas_and_autoscaling_are_exclusive() -> None:
    from armorer_ray import ConfigError

    with pytest.raises(ConfigError, match="not both"):
        toolbox_app(build_toolbox, authenticator=BearerTokens(TOKENS),
                    options=ServeOptions(num_replicas=2, autoscaling_config={"max_replicas": 3}))


async def test_the_config_builder_serves_mcp_through_serve(serve_url: str, tmp_path: Path) -> None:
    import httpx2
    import mcp
    from mcp.client.streamable_http import streamable_http_client

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({token: principal.model_dump() for token, principal in TOKENS.items()}))
    app = build_app({"toolbox": "tests.serve.conftest:build_toolbox", "tokens_file": str(tokens)})
    serve.run(app, name="built", route_prefix="/built")
    try:
        transport = streamable_http_client(f"{serve_url}/built/mcp",
                                           http_client=httpx2.AsyncClient(headers=bearer(ADA), timeout=60))
        async with mcp.Client(transport) as session:
            names = sorted(t.name for t in (await session.list_tools()).tools)
            who: Any = await session.call_tool("whoami", {})
        assert names == ["add", "whoami", "wire"]
        assert json.loads(who.content[0].text)["tenant"] == "acme"
        async with httpx.AsyncClient(base_url=f"{serve_url}/built", headers=bearer(ADA), timeout=60) as client:
            paused = (await client.post("/call", json={"name": "wire", "arguments": {"amount": 500}})).json()
            resumed = await client.post("/resume", json={"token": paused["action"]["resume_token"]})
        # One replica holds the in-memory approval book, so the resume finds it (docs/deploy.md: shared books).
        assert resumed.json()["result"] == "sent 500"
    finally:
        serve.delete("built")
