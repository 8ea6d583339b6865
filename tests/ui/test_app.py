"""The web graph view from the outside: pages, SVG, JSON and the live SSE stream of a real server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from armorer_ray import Toolbox, tool
from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.ui import create_app
from armorer_ray.workflow import Condition, Edge, Workflow, create_workflow


@tool(tags=["weather"], metadata={"readOnly": True})
def forecast(city: str) -> dict[str, Any]:
    "Forecast for a city: temps < 30 & sunny flag."
    return {"temps": [3, 9, 5], "sunny": city == "Nice"}


@tool
def warmest(temps: list[int]) -> int:
    "Warmest temperature."
    return max(temps)


@tool
def coldest(temps: list[int]) -> int:
    "Coldest temperature."
    return min(temps)


@tool
def report(warmest: int, coldest: int) -> str:
    "Summarise <script>alert('x')</script> the range."
    return f"{coldest}..{warmest}"


@tool(dangerous=True, tags=["admin"])
def wipe() -> None:
    "Delete everything (<irreversible>)."


SNEAKY = '<img src=x onerror="alert(1)">'


def weather(name: str = "weather") -> Workflow:
    return create_workflow(
        nodes={"forecast": forecast, "warmest": warmest, "coldest": coldest, "report": report},
        edges=[("forecast", "warmest"), Edge("forecast", "coldest", when=Condition(path="sunny", op="eq", value="<b>")),
               {"from": ["warmest", "coldest"], "to": "report"}],
        name=name)


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app({"weather": weather(), SNEAKY: weather(SNEAKY)}, toolbox=Toolbox([forecast, report, wipe]))
    with TestClient(app) as test_client:
        yield test_client


def svg_of(html: str) -> ET.Element:
    # Parsing as XML also proves the escaping: one unescaped '<' or '&' would make it malformed.
    return ET.fromstring(html[html.index("<svg"):html.index("</svg>") + len("</svg>")])


def test_index_lists_workflows_and_tools_with_flags(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'href="workflows/weather"' in html and "(4 nodes)" in html
    assert 'href="workflows/%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E"' in html
    assert SNEAKY not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "Forecast for a city: temps &lt; 30 &amp; sunny flag." in html
    assert "<script>alert" not in html and "Delete everything (&lt;irreversible&gt;)." in html
    wipe_row = next(row for row in html.split("<tr>") if "default:wipe" in row)
    assert 'class="flag dangerous"' in wipe_row and "admin" in wipe_row
    assert 'class="flag read-only"' in next(row for row in html.split("<tr>") if "default:forecast" in row)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from elsewhere


def test_workflow_page_draws_every_node_and_edge(client: TestClient) -> None:
    html = client.get("/workflows/weather").text
    svg = svg_of(html)
    ns = "{http://www.w3.org/2000/svg}"
    nodes = {g.get("data-node"): g for g in svg.iter(f"{ns}g") if g.get("class") == "node"}
    assert set(nodes) == {"forecast", "warmest", "coldest", "report"}
    assert all(g.find(f"{ns}rect") is not None for g in nodes.values())
    assert [t.text for t in nodes["coldest"].iter(f"{ns}text")] == ["coldest", "default:coldest"]
    edges = {(p.get("data-from"), p.get("data-to")) for p in svg.iter(f"{ns}path") if p.get("class") == "edge"}
    assert edges == {("forecast", "warmest"), ("forecast", "coldest"), ("warmest", "report"), ("coldest", "report")}
    labels = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "edge-label"]
    assert labels == ["sunny eq '<b>'"]
    assert "<b>" not in html.replace("</b>", "") and "&lt;b&gt;" in html
    assert 'data-events="weather/events"' in html and "new EventSource" in html


def test_every_user_string_is_escaped(client: TestClient) -> None:
    response = client.get("/workflows/" + httpx.URL("http://x/" + SNEAKY).raw_path.decode()[1:])
    assert response.status_code == 200
    html = response.text
    assert SNEAKY not in html
    assert "<h1>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</h1>" in html
    svg_of(html)  # well-formed
    assert re.findall(r"<script>", html) == ["<script>"]  # only the page's own script


def test_json_matches_the_workflow_export(client: TestClient) -> None:
    response = client.get("/workflows/weather.json")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(weather().to_json()))


def test_a_workflow_without_a_json_form_says_why() -> None:
    wf = create_workflow(nodes={"forecast": forecast, "b": coldest}, edges=[Edge("forecast", "b", when=lambda out: out)],
                         name="lambda")
    with TestClient(create_app([wf])) as client:
        assert client.get("/workflows/lambda").status_code == 200  # the drawing does not need the export
        refused = client.get("/workflows/lambda.json")
    assert refused.status_code == 409 and "lambda" in refused.json()["error"]


def test_a_workflow_named_like_json_keeps_its_page() -> None:
    with TestClient(create_app({"x.json": weather(), "x": weather("x")})) as client:
        assert client.get("/workflows/x.json").headers["content-type"].startswith("text/html")
        assert client.get("/workflows/x").headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("path", "name"), [("/workflows/nope", "nope"), ("/workflows/nope.json", "nope.json"),
                                           ("/workflows/nope/events", "nope")])
def test_unknown_workflows_are_404(client: TestClient, path: str, name: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": f"no workflow {name!r}", "workflows": sorted(["weather", SNEAKY])}


def test_bad_workflow_collections_are_refused() -> None:
    with pytest.raises(ConfigError, match="two workflows are named 'weather'"):
        create_app([weather(), weather()])
    with pytest.raises(ConfigError, match="without '/'"):
        create_app({"a/b": weather()})
    with pytest.raises(ConfigError, match="not a Workflow"):
        create_app({"a": "weather"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="max_queued"):
        create_app([weather()], max_queued=0)


def test_missing_web_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail, as in an environment without the extra.
    monkeypatch.setitem(sys.modules, "sse_starlette", None)
    monkeypatch.setitem(sys.modules, "sse_starlette.sse", None)
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'armorer-ray[web]'")):
        create_app([weather()])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread (TestClient buffers whole responses, so SSE needs this)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # bounded wait for the socket, not a timing assertion
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sse_messages(lines: Iterator[str], limit: int) -> Iterator[tuple[str, Any]]:
    """``(event, data)`` of at most ``limit`` SSE messages."""
    event, data = "message", ""
    for line in lines:
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data = line.partition(":")[2].strip()
        elif not line and data:
            yield event, json.loads(data)
            limit -= 1
            if not limit:
                return
            event, data = "message", ""


def test_sse_delivers_the_events_of_a_run_started_after_connecting() -> None:
    wf = weather()
    with (serving(create_app([wf], ping_s=None)) as base, httpx.Client(timeout=10) as http,
          http.stream("GET", f"{base}/workflows/weather/events") as response):
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(response.iter_lines(), limit=40)
        assert next(messages) == ("subscribed", {"workflow": "weather"})
        run = wf.run_sync({"city": "Nice"})
        received = []
        for kind, data in messages:
            assert kind == "run"
            received.append(data)
            if data["type"] == "run.finished":
                break
    assert {data["run_id"] for data in received} == {run.run_id}
    assert received[0]["type"] == "run.started" and received[-1]["status"] == "succeeded"
    by_node: dict[str, list[str]] = {}
    for data in received:
        if data["node"] is not None:
            by_node.setdefault(data["node"], []).append(data["status"])
    assert by_node == {"forecast": ["queued", "started", "succeeded"], "warmest": ["queued", "started", "succeeded"],
                       "coldest": ["queued", "skipped"], "report": ["queued", "skipped"]}
    done = next(data for data in received if data["type"] == "node.succeeded" and data["node"] == "warmest")
    assert done["run"]["output"] == 9 and done["workflow"] == "weather"
    for _ in range(200):  # the server notices the disconnect on its own loop; wait for it, boundedly
        if not wf.events.wants("node.queued"):
            break
        time.sleep(0.05)
    assert not wf.events.wants("node.queued")  # the disconnected client unsubscribed


FAKE_DOM = """
const boxes = ["forecast", "warmest"].map(name => ({attrs: {"data-node": name, class: "node"},
  getAttribute(key) { return this.attrs[key]; }, setAttribute(key, value) { this.attrs[key] = value; }}));
const status = {textContent: ""};
const listeners = {};
globalThis.document = {querySelectorAll: () => boxes, getElementById: () => status,
                       body: {dataset: {events: "weather/events"}}};
globalThis.EventSource = function (url) { this.addEventListener = (kind, f) => { listeners[kind] = f; }; };
eval(require("fs").readFileSync(0, "utf8"));
const send = (kind, data) => listeners[kind]({data: JSON.stringify(data)});
const seen = [];
send("run", {type: "run.started", run_id: "r1", node: null, status: "started"});
send("run", {type: "node.succeeded", run_id: "r1", node: "forecast", status: "succeeded"});
send("run", {type: "node.failed", run_id: "r1", node: "spliced/x", status: "failed"});
send("run", {type: "node.odd", run_id: "r1", node: "warmest", status: "x\\" onclick=\\"alert(1)"});
seen.push(boxes.map(box => box.attrs.class), status.textContent);
send("run", {type: "run.started", run_id: "r2", node: null, status: "started"});
send("dropped", {count: 3});
seen.push(boxes.map(box => box.attrs.class), status.textContent);
console.log(JSON.stringify(seen));
"""


def test_the_page_script_colours_known_nodes_by_known_statuses(client: TestClient, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to run the page's script")
    html = client.get("/workflows/weather").text
    script = html[html.index("<script>") + len("<script>"):html.index("</script>")]
    (tmp_path / "dom.js").write_text(FAKE_DOM)
    done = subprocess.run([node, str(tmp_path / "dom.js")], input=script, capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == [["node st-succeeded", "node"], "run r1: started",
                                       ["node", "node"], "3 events dropped; colours may be behind"]


def test_importing_the_view_does_not_import_starlette() -> None:
    code = "import sys, armorer_ray.ui; print(sorted({'starlette', 'sse_starlette', 'uvicorn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
