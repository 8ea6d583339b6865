"""The JSON API behind the page, through Starlette's TestClient (and a live server for the event stream)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from armorer_ray.stores import MemoryStore
from armorer_ray.ui import create_app
from tests.ui import demo
from tests.ui.conftest import LiveServer

BASE = "http://127.0.0.1"


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient]:
    demo.GATE.clear()
    app = create_app(demo.workflows(), toolbox=demo.catalogue(), checkpoint=store)
    with TestClient(app, base_url=BASE) as http:
        http.headers["x-csrf-token"] = app.state.csrf
        yield http
    demo.GATE.set()


def settled(http: TestClient, workflow: str, run_id: str, *, until: tuple[str, ...] = ("succeeded", "failed",
            "paused", "cancelled")) -> dict[str, Any]:
    """The run's state once its status is one of ``until`` (bounded: 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        state: dict[str, Any] = http.get(f"/api/runs/{workflow}/{run_id}").json()
        if state["status"] in until or time.monotonic() > deadline:
            return state
        time.sleep(0.02)  # polling interval of a bounded wait, not a synchronisation


def start(http: TestClient, workflow: str, inputs: dict[str, Any], **extra: Any) -> str:
    answer = http.post("/api/runs", json={"workflow": workflow, "inputs": inputs, **extra})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def test_workflows_are_described_with_conditions_and_input_schema(client: TestClient) -> None:
    assert [w["name"] for w in client.get("/api/workflows").json()] == ["heat", "squares", "research", "slow",
                                                                              "wide", "pay"]
    heat = client.get("/api/workflows/heat").json()
    labels = {(e["source"], e["target"]): (e["label"], e["conditional"]) for e in heat["edges"]}
    assert labels[("warmest", "alert")] == ("warmest gt 30", True) and labels[("fetch", "warmest")] == (None, False)
    assert heat["input_schema"]["required"] == ["city"] and "days" in heat["input_schema"]["properties"]
    assert client.get("/api/workflows/cold").status_code == 404


def test_a_run_reports_every_node_with_arguments_result_and_timing(client: TestClient) -> None:
    run_id = start(client, "squares", {"n": 4})
    state = settled(client, "squares", run_id)
    nodes = state["nodes"]
    assert state["status"] == "failed"
    assert nodes["square"]["status"] == "failed" and nodes["square"]["error"]["message"].endswith("three is unlucky")
    assert [r["outcome"] for r in nodes["square"]["results"]] == ["success", "success", "error", "success"]
    assert len(nodes["square"]["arguments"]) == 4 and nodes["total"]["status"] == "skipped"
    assert nodes["flaky"]["status"] == "succeeded" and nodes["flaky"]["attempts"] == 2
    assert nodes["numbers"]["output"] == [1, 2, 3, 4] and nodes["numbers"]["duration_ms"] >= 0
    history = client.get("/api/runs?workflow=squares").json()
    assert [h["run_id"] for h in history] == [run_id] and history[0]["status"] == "failed"


def test_approvals_resume_the_run_and_no_resume_token_leaves_the_server(client: TestClient) -> None:
    run_id = start(client, "heat", {"city": "Oslo"})
    state = settled(client, "heat", run_id)
    assert state["status"] == "paused" and state["nodes"]["alert"]["pause"] == {
        "kind": "approval", "message": "send a heat alert for 35°C?"}
    assert "resume_token" not in json.dumps(state)
    refused = client.post(f"/api/runs/heat/{run_id}/approve", json={"node": "fetch", "granted": True})
    assert refused.status_code == 409 and "not paused" in refused.json()["error"]
    assert client.post(f"/api/runs/heat/{run_id}/approve", json={"node": "alert", "granted": True}).status_code == 202
    state = settled(client, "heat", run_id, until=("succeeded", "failed"))
    assert state["status"] == "succeeded" and state["nodes"]["alert"]["output"] == "alert sent at 35"
    assert state["nodes"]["alert"]["approval"]["by"] == "web ui"


def test_a_rejection_fails_the_node_with_the_reason(client: TestClient) -> None:
    run_id = start(client, "heat", {"city": "Oslo"})
    settled(client, "heat", run_id)
    client.post(f"/api/runs/heat/{run_id}/approve", json={"node": "alert", "granted": False, "reason": "too hot"})
    state = settled(client, "heat", run_id, until=("failed", "succeeded"))
    assert state["nodes"]["alert"]["error"]["code"] == "APPROVAL_REJECTED"
    assert "too hot" in state["nodes"]["alert"]["error"]["message"]


def test_breakpoints_pause_before_a_node_and_edits_are_checked_against_its_schema(client: TestClient) -> None:
    run_id = start(client, "heat", {"city": "Oslo", "days": 2}, breakpoints=["warmest"])
    state = settled(client, "heat", run_id)
    warm = state["nodes"]["warmest"]
    assert warm["pause"]["kind"] == "breakpoint" and list(warm["arguments"].values()) == [{"temps": [3, 9]}]
    bad = client.post(f"/api/runs/heat/{run_id}/continue", json={"node": "warmest", "arguments": {"temps": "hot"}})
    assert bad.status_code == 422 and bad.json()["details"] == ["temps: Input should be a valid list"]
    wrong = client.post(f"/api/runs/heat/{run_id}/approve", json={"node": "warmest", "granted": True})
    assert wrong.status_code == 409 and "breakpoint" in wrong.json()["error"]
    client.post(f"/api/runs/heat/{run_id}/step", json={"node": "warmest", "arguments": {"temps": [40, 1]}})
    state = settled(client, "heat", run_id, until=("paused", "failed", "succeeded"))
    # The edited call ran; stepping set breakpoints on the rest, and passing a breakpoint approved nothing.
    assert state["nodes"]["warmest"]["output"] == {"warmest": 40}
    assert state["nodes"]["alert"]["pause"]["kind"] == "breakpoint" and sorted(state["breakpoints"]) == [
        "alert", "calm", "fetch", "report"]
    client.post(f"/api/runs/heat/{run_id}/continue", json={"node": "alert"})
    state = settled(client, "heat", run_id, until=("paused", "failed", "succeeded"))
    assert state["nodes"]["alert"]["pause"]["kind"] == "approval" and state["breakpoints"] == []


def test_history_shows_runs_other_processes_checkpointed(client: TestClient, store: MemoryStore) -> None:
    elsewhere = demo.workflows()["squares"]  # another object, as another process would build it
    elsewhere.run_sync({"n": 2}, checkpoint=store, run_id="from-a-script")
    history = client.get("/api/runs?workflow=squares").json()
    assert [(h["run_id"], h["status"]) for h in history] == [("from-a-script", "succeeded")]
    state = client.get("/api/runs/squares/from-a-script").json()
    assert state["live"] is False and state["nodes"]["total"]["output"] == 5
    assert client.get("/api/runs/squares/nope").status_code == 404


def test_a_running_run_can_be_cancelled(client: TestClient) -> None:
    run_id = start(client, "slow", {})
    state = settled(client, "slow", run_id, until=("running",))
    deadline = time.monotonic() + 30
    while state["nodes"].get("hold", {}).get("status") != "started" and time.monotonic() < deadline:
        state = client.get(f"/api/runs/slow/{run_id}").json()
        time.sleep(0.02)
    assert client.post(f"/api/runs/slow/{run_id}/cancel", json={}).status_code == 202
    state = client.get(f"/api/runs/slow/{run_id}").json()
    assert state["status"] == "cancelled" and state["nodes"]["hold"]["status"] == "cancelled"
    assert client.post(f"/api/runs/slow/{run_id}/cancel", json={}).status_code == 409


def test_refused_runs_say_why(client: TestClient) -> None:
    unknown = client.post("/api/runs", json={"workflow": "heat", "inputs": {}, "breakpoints": ["nope"]})
    assert unknown.status_code == 422 and "nope" in unknown.json()["error"]
    missing = client.post("/api/runs", json={"workflow": "heat", "inputs": {"days": 2}})
    assert missing.status_code == 422 and missing.json()["error"] == "inputs missing: city"
    run_id = start(client, "squares", {"n": "four"})  # refused by the tool
    state = settled(client, "squares", run_id)
    assert state["status"] == "failed" and state["nodes"]["numbers"]["error"]["category"] == "validation"


def test_the_playground_honours_risk_flags_and_policies(client: TestClient) -> None:
    called = client.post("/api/tools/call", json={"tool": "warmest", "arguments": {"temps": [1, 4]}}).json()
    assert called["result"]["result"] == {"warmest": 4} and "call.finished" in [e["type"] for e in called["events"]]
    invalid = client.post("/api/tools/call", json={"tool": "warmest", "arguments": {"temps": "x"}}).json()
    assert invalid["result"]["error"]["category"] == "validation"
    dangerous = client.post("/api/tools/call", json={"tool": "wipe", "arguments": {"target": "db"}})
    assert dangerous.status_code == 409 and dangerous.json()["needs_confirmation"] is True
    confirmed = client.post("/api/tools/call", json={"tool": "wipe", "arguments": {"target": "db"}, "confirm": True})
    assert confirmed.json()["result"]["result"] == "wiped db"
    paused = client.post("/api/tools/call", json={"tool": "alert", "arguments": {"warmest": 50}}).json()
    assert paused["result"]["outcome"] == "action_required" and "resume_token" not in json.dumps(paused)


def _built(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"format": "armorer-workflow/1", "name": "built", "inputs": None, "entry": None,
                            "nodes": {"fetch": {"tool": "default:fetch"}, "warmest": {"tool": "default:warmest"}},
                            "edges": [{"from": "fetch", "to": "warmest"}]}
    data.update(changes)
    return data


def test_the_builder_validates_with_create_workflows_errors_and_refuses_code(client: TestClient) -> None:
    assert client.post("/api/builder/validate", json=_built()).json()["ok"] is True
    cycle = client.post("/api/builder/validate", json=_built(edges=[{"from": "fetch", "to": "warmest"},
                                                                    {"from": "warmest", "to": "fetch"}]))
    assert cycle.status_code == 422 and cycle.json()["details"]["type"] == "CycleError"
    unknown = client.post("/api/builder/validate", json=_built(nodes={"x": {"tool": "default:nope"}}, edges=[]))
    assert unknown.json()["details"]["type"] == "UnknownToolError"
    code = client.post("/api/builder/validate", json=_built(edges=[
        {"from": "fetch", "to": "warmest", "when": {"import": "os.system"}}]))
    assert code.status_code == 422 and "import" in code.json()["error"]
    added = client.post("/api/workflows", json=_built())
    assert added.status_code == 201 and "built" in [w["name"] for w in client.get("/api/workflows").json()]
    run_id = start(client, "built", {"city": "Rome"})
    assert settled(client, "built", run_id)["nodes"]["warmest"]["output"] == {"warmest": 35}


def test_guard_checks_host_csrf_and_origin(store: MemoryStore) -> None:
    app = create_app(demo.workflows(), checkpoint=store)
    with TestClient(app, base_url=BASE) as http:
        page = http.get("/")
        assert page.status_code == 200 and app.state.csrf in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert http.get("/", headers={"host": "attacker.example"}).status_code == 400
        body = {"workflow": "heat", "inputs": {"city": "x"}}
        assert http.post("/api/runs", json=body).status_code == 403
        assert http.post("/api/runs", json=body, headers={"x-csrf-token": "guess"}).status_code == 403
        foreign = {"x-csrf-token": app.state.csrf, "origin": "http://attacker.example"}
        assert http.post("/api/runs", json=body, headers=foreign).status_code == 403
        assert http.post("/api/runs", json=body, headers={"x-csrf-token": app.state.csrf}).status_code == 202


def test_a_token_is_required_when_set() -> None:
    token = "t0ken-long-enough-123"
    app = create_app(demo.workflows(), token=token, hosts=["ui.internal"])
    with TestClient(app, base_url="http://ui.internal") as http:
        assert http.get("/").status_code == 401 and http.get("/api/workflows").status_code == 401
        assert http.get("/api/workflows", headers={"authorization": f"Bearer {token}"}).status_code == 200
        login = http.get(f"/?token={token}", follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"] == "/"
        assert "HttpOnly" in login.headers["set-cookie"] and http.get("/").status_code == 200  # the cookie now
    with pytest.raises(Exception, match="16 characters"):
        create_app(demo.workflows(), token="short")


def test_the_event_stream_carries_runs_without_resume_tokens() -> None:
    app = create_app(demo.workflows(), toolbox=demo.catalogue())
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        seen: list[dict[str, Any]] = []
        with http.stream("GET", "/api/events") as stream:
            lines = stream.iter_lines()
            for line in lines:
                if line.startswith("event: hello"):
                    break
            answer = http.post("/api/runs", json={"workflow": "heat", "inputs": {"city": "Oslo"}},
                               headers={"x-csrf-token": app.state.csrf})
            run_id = answer.json()["run_id"]
            kind = "hello"
            for line in lines:
                assert "resume_token" not in line
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "run":
                    seen.append(json.loads(line.removeprefix("data: ")))
                    if seen[-1].get("type") == "run.finished":
                        break
    assert {item["run_id"] for item in seen} == {run_id}
    paused = [item for item in seen if item.get("status") == "paused" and item.get("node") == "alert"]
    assert paused and paused[0]["pause"]["kind"] == "approval"
    assert any(item["type"] == "node.arguments" and item["node"] == "alert" for item in seen)


@pytest.mark.ray
def test_runs_on_the_ray_executor(client: TestClient, ray_runtime: object) -> None:
    refused = client.post("/api/runs", json={"workflow": "squares", "inputs": {"n": 4}, "executor": "ray",
                                             "breakpoints": ["total"]})
    assert refused.status_code == 422 and "local executor" in refused.json()["error"]
    run_id = start(client, "squares", {"n": 4}, executor="ray")
    state = settled(client, "squares", run_id, until=("succeeded", "failed", "paused"))
    nodes = state["nodes"]
    assert nodes["numbers"]["output"] == [1, 2, 3, 4] and nodes["square"]["status"] == "failed"
    assert [r["outcome"] for r in nodes["square"]["results"]] == ["success", "success", "error", "success"]
    assert nodes["flaky"]["status"] == "succeeded" and nodes["flaky"]["attempts"] == 2


def test_a_node_paused_for_input_resumes_with_the_input_sent() -> None:
    from armorer_ray import Decision, tool
    from armorer_ray.workflow import create_workflow

    def needs_account(ctx: Any) -> Decision | None:
        if ctx.approval is not None and isinstance(ctx.approval.input, dict) and "account" in ctx.approval.input:
            return None
        return Decision.needs_input("Which account?", schema={"type": "object", "required": ["account"]})

    @tool(policy=needs_account)
    def charge(amount: int) -> str:
        "Charge an amount."
        return f"charged {amount}"

    app = create_app([create_workflow(nodes={"charge": charge}, name="pay")])
    with TestClient(app, base_url=BASE) as http:
        http.headers["x-csrf-token"] = app.state.csrf
        run_id = start(http, "pay", {"amount": 5})
        state = settled(http, "pay", run_id)
        assert state["nodes"]["charge"]["pause"] == {"kind": "input", "message": "Which account?"}
        empty = http.post(f"/api/runs/pay/{run_id}/approve", json={"node": "charge", "granted": True})
        assert empty.status_code == 422
        http.post(f"/api/runs/pay/{run_id}/approve", json={"node": "charge", "granted": True,
                                                           "input": {"account": "acme"}})
        state = settled(http, "pay", run_id, until=("succeeded", "failed"))
        assert state["nodes"]["charge"]["output"] == "charged 5"
        assert state["nodes"]["charge"]["approval"]["input"] == {"account": "acme"}


async def test_the_board_keeps_only_recent_ended_runs_in_memory() -> None:
    from armorer_ray.ui.board import RunBoard

    store = MemoryStore()
    board = RunBoard({"squares": demo.workflows()["squares"]}, store, keep_runs=2)
    board.start()
    try:
        ids = [board.start_run("squares", {"n": 2}) for _ in range(3)]
        while board.tasks:  # each task ends by itself; this only waits for them
            await asyncio.gather(*board.tasks.values(), return_exceptions=True)
        assert len(board.runs) == 2 and ("squares", ids[0]) not in board.runs
        history = await board.history("squares")
        assert {run["run_id"] for run in history} == set(ids)  # the store still has every run
        forgotten = await board.snapshot("squares", ids[0])
        assert forgotten["live"] is False and forgotten["nodes"]["total"]["output"] == 5
    finally:
        await board.stop()
