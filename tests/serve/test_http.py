"""The HTTP routes, called with httpx over a real socket: auth, tenancy, trace, batches, approvals, limits."""

from __future__ import annotations

import httpx

from armorer_ray import ToolResult
from tests.serve.conftest import ADA, BOB, Served, bearer

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_call_without_credentials_is_refused_before_anything_runs(served: Served) -> None:
    for headers in ({}, {"authorization": "Bearer not-a-known-token-at-all"}, {"authorization": f"Basic {ADA}"}):
        response = httpx.post(f"{served.url}/call", json={"name": "add", "arguments": {"a": 1, "b": 2}},
                              headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert httpx.get(f"{served.url}/tools").status_code == 401


def test_health_needs_no_credentials(served: Served) -> None:
    response = httpx.get(f"{served.url}/healthz")
    assert response.status_code == 200 and response.json()["ok"] is True


def test_call_runs_as_the_authenticated_tenant_with_the_request_trace(served: Served) -> None:
    body = {"id": "c1", "name": "whoami", "tenant_id": "globex", "user_id": "mallory", "priority": 7,
            "trace_context": {"traceparent": "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"}}
    response = httpx.post(f"{served.url}/call", json=body,
                          headers={**bearer(ADA), "traceparent": TRACEPARENT, "x-session-id": "s-42"})
    assert response.status_code == 200
    result = ToolResult.model_validate(response.json())
    assert result.call_id == "c1" and result.outcome == "success"
    # The body's tenant, user and trace are overridden by the credentials and headers; priority capped at 0.
    assert result.result == {"tenant": "acme", "user": "ada", "session": "s-42", "traceparent": TRACEPARENT,
                             "priority": 0}


def test_tool_listing_follows_the_tenant_in_every_shape(served: Served) -> None:
    ada = httpx.get(f"{served.url}/tools", headers=bearer(ADA)).json()
    bob = httpx.get(f"{served.url}/tools", headers=bearer(BOB)).json()
    assert sorted(d["name"] for d in ada) == ["add", "whoami", "wire"]
    assert sorted(d["name"] for d in bob) == ["add", "whoami"]
    openai = httpx.get(f"{served.url}/tools", params={"format": "openai"}, headers=bearer(BOB)).json()
    assert sorted(d["function"]["name"] for d in openai) == ["add", "whoami"]
    mcp = httpx.get(f"{served.url}/tools", params={"format": "mcp"}, headers=bearer(BOB)).json()
    assert sorted(d["name"] for d in mcp) == ["add", "whoami"]
    assert all("inputSchema" in d for d in mcp)
    bad = httpx.get(f"{served.url}/tools", params={"format": "yaml"}, headers=bearer(BOB))
    assert bad.status_code == 400 and "yaml" in bad.json()["error"]["message"]


def test_a_tool_hidden_from_the_tenant_is_not_found(served: Served) -> None:
    result = httpx.post(f"{served.url}/call", json={"name": "wire", "arguments": {"amount": 5}},
                        headers=bearer(BOB)).json()
    assert result["outcome"] == "error" and result["error"]["category"] == "not_found"


def test_tool_errors_are_results_and_bad_bodies_are_400(served: Served) -> None:
    invalid = httpx.post(f"{served.url}/call", json={"name": "add", "arguments": {"a": "x"}}, headers=bearer(ADA))
    assert invalid.status_code == 200 and invalid.json()["error"]["category"] == "validation"
    for content in (b"{not json", b"[1, 2]", b'{"name": "add", "surprise": 1}'):
        response = httpx.post(f"{served.url}/call", content=content, headers=bearer(ADA))
        assert response.status_code == 400, content
        assert response.json()["error"]["code"] == "BAD_REQUEST"
    timeout = httpx.post(f"{served.url}/call", params={"timeout_s": "-1"}, json={"name": "add"}, headers=bearer(ADA))
    assert timeout.status_code == 400 and "timeout_s" in timeout.json()["error"]["message"]


def test_batch_returns_one_result_per_call_in_order(served: Served) -> None:
    calls = [{"id": f"b{i}", "name": "add", "arguments": {"a": i, "b": 1}} for i in range(4)]
    calls.append({"id": "b4", "name": "nope"})
    for body in (calls, {"calls": calls}):
        response = httpx.post(f"{served.url}/batch", json=body, params={"mode": "sequential"}, headers=bearer(ADA))
        assert response.status_code == 200
        results = [ToolResult.model_validate(item) for item in response.json()]
        assert [r.call_id for r in results] == ["b0", "b1", "b2", "b3", "b4"]
        assert [r.result for r in results[:4]] == [1, 2, 3, 4]
        assert results[4].error is not None and results[4].error.category == "not_found"


def test_a_batch_longer_than_the_limit_is_refused(served: Served) -> None:
    calls = [{"name": "add", "arguments": {"a": 1, "b": 1}}] * 6
    response = httpx.post(f"{served.url}/batch", json=calls, headers=bearer(ADA))
    assert response.status_code == 413 and response.json()["error"]["code"] == "BATCH_TOO_LARGE"


def test_a_paused_call_is_resumed_over_http_once(served: Served) -> None:
    paused = httpx.post(f"{served.url}/call", json={"name": "wire", "arguments": {"amount": 500}},
                        headers=bearer(ADA)).json()
    assert paused["outcome"] == "action_required"
    token = paused["action"]["resume_token"]
    resumed = httpx.post(f"{served.url}/resume", json={"token": token}, headers=bearer(ADA))
    assert resumed.status_code == 200 and resumed.json()["result"] == "sent 500"
    again = httpx.post(f"{served.url}/resume", json={"token": token}, headers=bearer(ADA))
    assert again.status_code == 409 and again.json()["error"]["code"] == "RESUME_TOKEN_INVALID"


def test_another_principal_cannot_resume_a_paused_call(served: Served) -> None:
    paused = httpx.post(f"{served.url}/call", json={"name": "wire", "arguments": {"amount": 700}},
                        headers=bearer(ADA)).json()
    token = paused["action"]["resume_token"]
    stolen = httpx.post(f"{served.url}/resume", json={"token": token}, headers=bearer(BOB))
    assert stolen.status_code == 409 and stolen.json()["error"]["code"] == "RESUME_TOKEN_INVALID"
    resumed = httpx.post(f"{served.url}/resume", json={"token": token}, headers=bearer(ADA))  # still the owner's
    assert resumed.status_code == 200 and resumed.json()["result"] == "sent 700"


def test_a_rejected_approval_fails_the_call(served: Served) -> None:
    paused = httpx.post(f"{served.url}/call", json={"name": "wire", "arguments": {"amount": 900}},
                        headers=bearer(ADA)).json()
    rejected = httpx.post(f"{served.url}/resume", headers=bearer(ADA),
                          json={"token": paused["action"]["resume_token"], "approved": False, "reason": "no"}).json()
    assert rejected["error"]["code"] == "APPROVAL_REJECTED"
    malformed = httpx.post(f"{served.url}/resume", json={"approved": True}, headers=bearer(ADA))
    assert malformed.status_code == 400


def test_bodies_past_the_limit_are_refused_before_parsing(served: Served) -> None:
    big = b'{"name": "add", "arguments": {"pad": "' + b"x" * 5000 + b'"}}'
    announced = httpx.post(f"{served.url}/call", content=big, headers=bearer(ADA))
    assert announced.status_code == 413 and announced.json()["error"]["code"] == "REQUEST_TOO_LARGE"

    def chunks():  # no content-length: the gate counts bytes as they stream in
        yield big[:3000]
        yield big[3000:]

    streamed = httpx.post(f"{served.url}/call", content=chunks(), headers=bearer(ADA))
    assert streamed.status_code == 413
    assert httpx.post(f"{served.url}/mcp", content=big, headers={**bearer(ADA), "content-type": "application/json",
                                                                   "accept": "application/json, text/event-stream"}
                      ).status_code == 413


def test_unknown_routes_are_404_after_auth(served: Served) -> None:
    assert httpx.get(f"{served.url}/nope", headers=bearer(ADA)).status_code == 404
    assert httpx.get(f"{served.url}/nope").status_code == 401
