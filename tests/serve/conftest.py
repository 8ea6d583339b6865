"""A toolbox served by `create_http_app` under uvicorn on a free loopback port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from armorer_ray import CallContext, Decision, PolicyContext, Toolbox, tool
from armorer_ray.serve import BearerTokens, Principal, RequestLimits
from armorer_ray.tenancy import TenantAccess, TenantGrant

ADA = "token-ada-acme-0123456789"
BOB = "token-bob-globex-0123456789"
TOKENS = {ADA: Principal(tenant_id="acme", user_id="ada"), BOB: Principal(tenant_id="globex", user_id="bob")}


@tool(tags=["crm"])
def whoami(ctx: CallContext) -> dict[str, object]:
    """Say which tenant, user and trace the call carries."""
    call = ctx.call
    return {"tenant": call.tenant_id, "user": call.user_id, "session": call.session_id,
            "traceparent": call.trace_context.get("traceparent"), "priority": call.priority}


@tool(tags=["crm"])
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(tags=["finance"], mutates=True)
def wire(amount: int) -> str:
    """Wire money (large amounts need approval)."""
    return f"sent {amount}"


def gate(ctx: PolicyContext) -> Decision | None:
    if ctx.tool.name == "wire" and ctx.params["amount"] > 100:
        return Decision.needs_approval("large transfer")
    return None


def build_toolbox(approvals_db: str | None = None) -> Toolbox:
    """acme sees every tool; globex only the crm ones. With ``approvals_db``, paused calls wait in that SQLite
    file, so every replica can resume them."""
    from armorer_ray.approvals import StoreApprovalBook
    from armorer_ray.stores import open_store

    access = TenantAccess({"acme": TenantGrant(tags={"crm", "finance"}), "globex": TenantGrant(tags={"crm"})})
    approvals = StoreApprovalBook(open_store(f"sqlite:///{approvals_db}")) if approvals_db else None
    return Toolbox([whoami, add, wire], policy=[access, gate], allow_mutation=True, approvals=approvals)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    toolbox: Toolbox


@pytest.fixture
def limits() -> RequestLimits:
    return RequestLimits(max_body_bytes=4096, max_batch_calls=5, rate_per_s=None)


@pytest.fixture
def served(limits: RequestLimits) -> Iterator[Served]:
    import uvicorn

    from armorer_ray.serve import create_http_app

    box = build_toolbox()
    app = create_http_app(box, authenticator=BearerTokens(TOKENS), limits=limits)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", box)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
