"""Per-call latency of the HTTP and MCP ingress against a bare Starlette route calling the same function.

Run: `.venv/bin/python benchmarks/serve_ingress.py [--serve]`. Servers are uvicorn on free loopback ports in a
thread of this process (so client and server share one core's worth of GIL: the figures are total CPU cost per
call more than network latency); calls are sequential on one keep-alive connection, after a warm-up, and each
figure is the best of interleaved rounds. "bare route" is Starlette parsing JSON and calling the function: no
authentication, no pipeline. `--serve` adds the same ingress on a local Ray Serve (one replica, its proxy in
front), which starts a Ray instance first.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import uvicorn
from _table import machine_header, print_table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.serve import BearerTokens, Principal, RequestLimits, create_http_app

ROUNDS = 5
CALLS = 300
TOKEN = "benchmark-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BODY = {"name": "lookup", "arguments": {"user_id": 42, "fields": ["name", "email"]}}


def lookup(user_id: int, fields: list[str]) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "n": len(fields)}


def build_toolbox() -> Toolbox:
    return Toolbox([tool(lookup)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_server(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def bare_app() -> Starlette:
    async def call(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"result": lookup(**body["arguments"])})

    return Starlette(routes=[Route("/call", call, methods=["POST"])])


async def measure(cases: list[tuple[str, Callable[[], Awaitable[object]]]], calls: int) -> dict[str, float]:
    for _, fn in cases:
        for _ in range(calls // 5):
            await fn()
    rounds: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(ROUNDS):
        for name, fn in cases:
            start = time.perf_counter()
            for _ in range(calls):
                await fn()
            rounds[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: min(values) for name, values in rounds.items()}


async def main(with_serve: bool) -> int:
    import httpx2
    import mcp
    from mcp.client.streamable_http import streamable_http_client

    box = build_toolbox()
    ours = create_http_app(build_toolbox(), authenticator=BearerTokens({TOKEN: Principal(tenant_id="t")}),
                           limits=RequestLimits(rate_per_s=None))
    servers = [run_server(bare_app()), run_server(ours)]
    (bare_url, *_), (our_url, *_) = servers
    call = ToolCall(name="lookup", arguments=BODY["arguments"])
    async with httpx.AsyncClient() as client, mcp.Client(streamable_http_client(
            f"{our_url}/mcp", http_client=httpx2.AsyncClient(headers=AUTH))) as mcp_client:
        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("Toolbox.execute (in-process)", lambda: box.execute(call)),
            ("bare Starlette route (HTTP)", lambda: client.post(f"{bare_url}/call", json=BODY)),
            ("armorer ingress POST /call", lambda: client.post(f"{our_url}/call", json=BODY, headers=AUTH)),
            ("armorer ingress MCP tools/call", lambda: mcp_client.call_tool("lookup", BODY["arguments"])),
        ]
        serve_url = None
        if with_serve:
            serve_url = start_serve()
            cases.append(("armorer ingress on Ray Serve POST /call",
                          lambda: client.post(f"{serve_url}/call", json=BODY, headers=AUTH)))
        results = await measure(cases, CALLS)
    for _, server, thread in servers:
        server.should_exit = True
        thread.join(timeout=30)
    if serve_url:
        from ray import serve

        serve.shutdown()
    base = results["bare Starlette route (HTTP)"]
    print(machine_header(["starlette", "uvicorn", "httpx", "mcp", "ray"]))
    print_table(f"Sequential calls, best of {ROUNDS} rounds of {CALLS} (machine shared with other jobs)",
                ["case", "µs per call", "vs bare route"],
                [(name, value, f"{value / base:.2f}x") for name, value in results.items()])
    return 0


def start_serve() -> str:
    import ray
    from ray import serve

    from armorer_ray.serve import toolbox_app

    ray.init(address="local", include_dashboard=False, log_to_driver=False, num_cpus=2)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(toolbox_app(build_toolbox, authenticator=BearerTokens({TOKEN: Principal(tenant_id="t")}),
                          limits=RequestLimits(rate_per_s=None)), name="bench", route_prefix="/")
    return f"http://127.0.0.1:{port}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help="also measure the ingress on a local Ray Serve")
    sys.exit(asyncio.run(main(parser.parse_args().serve)))
