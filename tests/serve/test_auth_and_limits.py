"""Authenticators, the rate limit at the door, the builder's args, and call stamping (property-tested)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import ConfigError, ToolCall
from armorer_ray.results import Caller
from armorer_ray.serve import (
    AllowAnonymous,
    BearerTokens,
    GatewayHeaders,
    Principal,
    RateLimiter,
    RequestLimits,
    create_http_app,
)
from armorer_ray.serve.caller import stamp
from armorer_ray.serve.config import AppArgs, build_app
from tests.serve.conftest import ADA, BOB, TOKENS, bearer, build_toolbox


async def test_bearer_tokens_accept_only_known_tokens_with_the_bearer_scheme() -> None:
    auth = BearerTokens(TOKENS)
    assert await auth.authenticate({"authorization": f"Bearer {ADA}"}) == TOKENS[ADA]
    assert await auth.authenticate({"authorization": f"bearer  {BOB} "}) == TOKENS[BOB]
    for value in ("", "Bearer", "Bearer ", f"Token {ADA}", f"Bearer {ADA}x", ADA):
        assert await auth.authenticate({"authorization": value}) is None
    assert ADA not in repr(auth)


async def test_gateway_headers_name_the_tenant_only_with_the_gateway_secret() -> None:
    auth = GatewayHeaders("gateway-secret-0123456789", tenant_header="X-Org")
    secret = {"authorization": "Bearer gateway-secret-0123456789"}
    assert await auth.authenticate({**secret, "x-org": "acme"}) == Principal(tenant_id="acme")
    assert await auth.authenticate({**secret, "x-org": " "}) is None  # no tenant named: refused
    assert await auth.authenticate({"x-org": "acme", "x-user-id": "ada"}) is None  # headers without the secret
    with pytest.raises(ConfigError):
        GatewayHeaders("short")
    app = create_http_app(build_toolbox(), authenticator=auth, mcp=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        who = await client.post("/call", json={"name": "whoami"}, headers={**secret, "x-org": "globex",
                                                                         "x-user-id": "bob"})
    assert who.json()["result"]["tenant"] == "globex" and who.json()["result"]["user"] == "bob"


def test_bearer_tokens_refuse_weak_or_missing_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        BearerTokens({"short": Principal()})
    with pytest.raises(ConfigError, match="at least one"):
        BearerTokens({})
    path = tmp_path / "tokens.json"
    with pytest.raises(ConfigError, match="cannot read"):
        BearerTokens.from_file(path)
    path.write_text(json.dumps([ADA]))
    with pytest.raises(ConfigError, match="JSON object"):
        BearerTokens.from_file(path)
    path.write_text(json.dumps({ADA: {"tenant": "acme"}}))
    with pytest.raises(ConfigError, match="invalid principal"):
        BearerTokens.from_file(path)
    path.write_text(json.dumps({ADA: {"tenant_id": "acme", "user_id": "ada"}}))
    assert BearerTokens.from_file(path)._by_digest  # loaded


async def test_anonymous_must_be_chosen_and_then_admits_everyone() -> None:
    assert (await AllowAnonymous(Principal(user_id="me")).authenticate({})) == Principal(user_id="me")
    with pytest.raises(ConfigError, match="refuses unauthenticated"):
        AppArgs(toolbox="tests.serve.conftest:build_toolbox").authenticator()
    with pytest.raises(ConfigError, match="not both"):
        AppArgs(toolbox="x:y", tokens_file="/t.json", allow_anonymous=True).authenticator()
    with pytest.raises(ConfigError, match="invalid"):
        build_app({"toolbox": "x:y", "tokens_files": "/t.json"})


async def test_each_principal_gets_its_own_bucket_and_429_says_when_to_retry() -> None:
    now = [0.0]
    limiter = RateLimiter(0.5, 2, clock=lambda: now[0])
    app = create_http_app(build_toolbox(), authenticator=BearerTokens(TOKENS), mcp=False, limiter=limiter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        async def add(token: str) -> httpx.Response:
            return await client.post("/call", json={"name": "add", "arguments": {"a": 1, "b": 1}},
                                     headers=bearer(token))

        assert [(await add(ADA)).status_code for _ in range(3)] == [200, 200, 429]
        refused = await add(ADA)
        assert refused.headers["retry-after"] == "2" and refused.json()["error"]["retryable"] is True
        assert (await add(BOB)).status_code == 200  # another principal is not slowed by ada
        unauthenticated = await client.post("/call", json={"name": "add"})
        assert unauthenticated.status_code == 401  # auth comes first: strangers spend nobody's tokens
        now[0] = 2.0
        assert (await add(ADA)).status_code == 200


def test_rate_limiter_forgets_the_least_recently_seen_principals() -> None:
    limiter = RateLimiter(1.0, 1, clock=lambda: 0.0, max_keys=2)
    assert [limiter.acquire(key) for key in ("a", "b", "a", "c")] == [0.0, 0.0, 1.0, 0.0]
    assert limiter.acquire("b") == 0.0  # "b" was evicted, so it starts with a full bucket again
    assert RequestLimits(rate_per_s=None).rate_per_s is None


callers = st.builds(Caller, tenant_id=st.none() | st.text(min_size=1, max_size=8),
                    user_id=st.none() | st.text(max_size=8), session_id=st.none() | st.text(min_size=1, max_size=8),
                    priority=st.integers(-5, 5),
                    trace_context=st.dictionaries(st.sampled_from(["traceparent", "tracestate"]), st.text(max_size=8)))
calls = st.builds(ToolCall, name=st.text(min_size=1, max_size=8), tenant_id=st.none() | st.text(max_size=8),
                  user_id=st.none() | st.text(max_size=8), session_id=st.none() | st.text(max_size=8),
                  priority=st.integers(-10, 10),
                  trace_context=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3))


@given(calls, callers)
def test_stamped_calls_always_run_as_the_caller(call: ToolCall, caller: Caller) -> None:
    for item in (call, call.model_dump(mode="json")):
        stamped = stamp(item, caller)
        assert (stamped.tenant_id, stamped.user_id) == (caller.tenant_id, caller.user_id)
        assert stamped.priority == min(call.priority, caller.priority)
        assert stamped.session_id == (caller.session_id or call.session_id)
        assert stamped.trace_context.items() >= caller.trace_context.items()
        assert (stamped.id, stamped.name, stamped.arguments) == (call.id, call.name, call.arguments)
        assert ToolCall.model_validate_json(stamped.model_dump_json()) == stamped


def test_websockets_are_refused_even_with_credentials() -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    app = create_http_app(build_toolbox(), authenticator=BearerTokens(TOKENS), mcp=False)
    with pytest.raises(WebSocketDisconnect), TestClient(app).websocket_connect("/mcp", headers=bearer(ADA)):
        pass


async def test_the_caller_toolbox_lists_everything_outside_a_request_but_runs_nothing() -> None:
    from armorer_ray.serve import CallerToolbox

    served = CallerToolbox(build_toolbox())
    assert sorted(t.name for t in served.tools()) == ["add", "whoami", "wire"]
    with pytest.raises(ConfigError, match="outside an ingress request"):
        await served.execute({"name": "add", "arguments": {"a": 1, "b": 2}})
