"""The page in headless Chromium: run, watch, inspect, approve, debug, build and call tools, with screenshots.

Each test drives the real page served by a real server (see conftest); waits are Playwright's bounded
``expect`` (30 s), never sleeps. Screenshots are saved as artifacts (see conftest's ``artifacts``).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from armorer_ray.workflow import Workflow
from tests.ui import demo
from tests.ui.conftest import LiveServer

pytest.importorskip("starlette")

WAIT = 30_000

# Samples every edge path on screen and reports any point strictly inside a box that is not one of its ends,
# overlapping labels, labels on boxes, and labels an edge runs through.
LAYOUT_PROBLEMS = """
() => {
  const inside = (x, y, r, pad) => x > r.left + pad && x < r.right - pad && y > r.top + pad && y < r.bottom - pad;
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const boxes = [...document.querySelectorAll('.runview .react-flow__node')].map(n => ({id: n.dataset.id, r: n.getBoundingClientRect()}));
  const labels = [...document.querySelectorAll('.runview .edge-label')].map(l => ({id: l.dataset.edge, r: l.getBoundingClientRect()}));
  const problems = [];
  const paths = [...document.querySelectorAll('.runview path.routed')];
  for (const path of paths) {
    const from = path.dataset.from, to = path.dataset.to, m = path.getScreenCTM(), length = path.getTotalLength();
    for (let at = 0; at <= length; at += 2) {
      const p = path.getPointAtLength(at);
      const x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
      for (const box of boxes) {
        if (box.id !== from && box.id !== to && inside(x, y, box.r, 1)) problems.push(`${from}->${to} crosses box ${box.id}`);
      }
      for (const label of labels) {
        if (inside(x, y, label.r, 1)) problems.push(`${from}->${to} runs through label ${label.id}`);
      }
    }
  }
  labels.forEach((a, i) => labels.forEach((b, j) => { if (i < j && overlap(a.r, b.r)) problems.push(`labels ${a.id} and ${b.id} collide`); }));
  labels.forEach(a => boxes.forEach(b => { if (overlap(a.r, b.r)) problems.push(`label ${a.id} covers box ${b.id}`); }));
  return {problems: [...new Set(problems)], paths: paths.length, boxes: boxes.length};
}
"""


def layout_problems(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(LAYOUT_PROBLEMS)
    return result


def node(page: Any, name: str) -> Any:
    return page.locator(f'.runview .react-flow__node[data-id="{name}"]')


def run_status(page: Any) -> Any:
    return page.locator("[data-run-status]")


EDGES = {"heat": 6, "squares": 2, "research": 1, "slow": 1, "wide": 24, "pay": 0}


def open_workflow(page: Any, server: LiveServer, name: str, boxes: int) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/workflows/{name}")
    expect(page.locator("#connection")).to_have_text("● live", timeout=WAIT)
    expect(page.locator(".runview .react-flow__node")).to_have_count(boxes, timeout=WAIT)
    expect(page.locator(".runview path.routed")).to_have_count(EDGES[name], timeout=WAIT)


def test_run_from_the_page_watch_inspect_and_approve(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "heat", 5)
    expect(page.get_by_label("legend")).to_contain_text("✓ succeeded")
    drawn = layout_problems(page)
    assert drawn["problems"] == [] and drawn["paths"] == 6 and drawn["boxes"] == 5
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#input-city").locator("xpath=..")).to_contain_text("city: required", timeout=WAIT)
    page.fill("#input-city", "<b>Oslo</b>")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(run_status(page)).to_have_attribute("data-run-status", "paused", timeout=WAIT)
    expect(node(page, "alert")).to_contain_text("‖ waits for approval")
    expect(node(page, "calm")).to_contain_text("⤼ skipped")
    expect(node(page, "fetch")).to_contain_text("✓ succeeded")
    node(page, "fetch").click()
    panel = page.get_by_label("node details")
    expect(panel).to_contain_text('"city": "<b>Oslo</b>"')  # shown as text, never markup
    expect(panel.locator("b")).to_have_count(0)
    expect(panel.locator('[data-fact="attempts"]')).to_have_text("1")
    expect(panel.locator('[data-fact="duration"]')).to_contain_text("ms")
    node(page, "alert").click()
    expect(panel.locator('[data-fact="approval-message"]')).to_have_text("send a heat alert for 35°C?")
    assert layout_problems(page)["problems"] == []
    page.screenshot(path=str(artifacts / "run-paused-for-approval.png"))
    panel.get_by_role("button", name="Approve").click()
    expect(run_status(page)).to_have_attribute("data-run-status", "succeeded", timeout=WAIT)
    expect(node(page, "alert")).to_contain_text("✓ succeeded")
    expect(panel).to_contain_text("alert sent at 35")
    expect(page.locator(".run-item")).to_have_count(1)
    page.screenshot(path=str(artifacts / "run-approved.png"))


def test_a_node_paused_for_input_gets_it_from_the_page(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "pay", 1)
    page.fill("#input-amount", "7")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(node(page, "charge")).to_contain_text("waits for input", timeout=WAIT)
    node(page, "charge").click()
    panel = page.get_by_label("input request")
    expect(panel.locator('[data-fact="input-message"]')).to_have_text("Which account pays?")
    expect(panel).to_contain_text('"account"')  # the schema it asked for
    page.get_by_label("input (JSON)").fill('{"account": "acme"}')
    page.get_by_role("button", name="Send input").click()
    expect(run_status(page)).to_have_attribute("data-run-status", "succeeded", timeout=WAIT)
    expect(page.get_by_label("node details")).to_contain_text("charged 7")
    page.screenshot(path=str(artifacts / "input-answered.png"))


def test_fan_out_items_retries_and_failures_in_the_detail_panel(page: Any, server: LiveServer,
                                                                artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "squares", 4)
    page.fill("#input-n", "4")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(run_status(page)).to_have_attribute("data-run-status", "failed", timeout=WAIT)
    expect(node(page, "square")).to_contain_text("✗ failed")
    expect(node(page, "square")).to_contain_text("for each x")
    node(page, "square").click()
    panel = page.get_by_label("node details")
    expect(panel.get_by_label("items").locator("li")).to_have_count(4)
    expect(panel.locator('[data-fact="error"]')).to_contain_text("three is unlucky")
    node(page, "flaky").click()
    expect(panel.locator('[data-fact="attempts"]')).to_have_text("2")
    node(page, "total").click()
    expect(panel.locator('[data-fact="reason"]')).not_to_be_empty()
    page.screenshot(path=str(artifacts / "fan-out-and-retries.png"))


def test_nodes_spliced_at_run_time_are_drawn(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "research", 2)
    page.fill("#input-topic", "rays")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(run_status(page)).to_have_attribute("data-run-status", "succeeded", timeout=WAIT)
    expect(page.locator(".runview .react-flow__node")).to_have_count(4, timeout=WAIT)
    expect(page.locator(".runview path.routed")).to_have_count(3, timeout=WAIT)
    expect(node(page, "plan_steps/search_a")).to_contain_text("spliced at run time")
    drawn = layout_problems(page)
    assert drawn["problems"] == [] and drawn["paths"] == 3
    page.screenshot(path=str(artifacts / "spliced-nodes.png"))


def test_wide_graphs_fit_and_zoom(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "wide", 14)
    canvas = page.locator(".runview .canvas").bounding_box()
    for box in page.locator(".runview .react-flow__node").all():
        where = box.bounding_box()
        assert where["x"] >= canvas["x"] and where["x"] + where["width"] <= canvas["x"] + canvas["width"] + 1
    assert layout_problems(page)["problems"] == []
    before = node(page, "start").bounding_box()["width"]
    page.get_by_role("button", name="Zoom In").click()
    expect(node(page, "start")).not_to_have_css("width", "0px")
    page.wait_for_function(f"() => document.querySelector('.runview .react-flow__node[data-id=start]')"
                           f".getBoundingClientRect().width > {before + 1}", timeout=WAIT)
    page.screenshot(path=str(artifacts / "wide-zoomed.png"))


def test_a_page_opened_mid_run_replays_it_and_can_cancel_it(page: Any, server: LiveServer,
                                                          artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "slow", 2)
    csrf = json.loads(page.locator("#config").text_content())["csrf"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        run_id = http.post("/api/runs", json={"workflow": "slow", "inputs": {}},
                           headers={"x-csrf-token": csrf}).json()["run_id"]
    page.reload()  # a page that connects while the run is going shows it at once, replayed
    expect(page.locator(f'[data-run="{run_id}"]')).to_contain_text("running", timeout=WAIT)
    expect(run_status(page)).to_have_attribute("data-run-status", "running", timeout=WAIT)
    expect(node(page, "hold")).to_contain_text("▶ running", timeout=WAIT)
    expect(node(page, "after")).to_contain_text("… queued")
    page.screenshot(path=str(artifacts / "mid-run.png"))
    page.get_by_role("button", name="Cancel run").click()
    expect(run_status(page)).to_have_attribute("data-run-status", "cancelled", timeout=WAIT)
    expect(node(page, "hold")).to_contain_text("■ cancelled")


def test_a_lost_connection_is_shown(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "heat", 5)
    server.server.force_exit = True  # the server goes away under the page, open event stream and all
    server.server.should_exit = True
    server.thread.join(timeout=30)
    expect(page.locator("#connection")).to_contain_text("connection lost", timeout=WAIT)
    expect(page.get_by_role("alert").first).to_contain_text("Connection to the server lost")
    page.screenshot(path=str(artifacts / "connection-lost.png"))
    with LiveServer(server.app, port=server.port):  # the server comes back: the page reconnects by itself
        expect(page.locator("#connection")).to_have_text("● live", timeout=WAIT)
        expect(page.locator(".banner")).to_have_count(0)


def test_step_through_a_run_with_breakpoints(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "heat", 5)
    page.fill("#input-city", "Oslo")
    page.fill("#input-days", "2")
    page.locator("details.bps summary").click()
    page.get_by_label("breakpoint warmest").check()
    page.get_by_role("button", name="Debug").click()
    expect(node(page, "warmest")).to_contain_text("at breakpoint", timeout=WAIT)
    expect(node(page, "warmest")).to_contain_text("●")
    node(page, "warmest").click()
    arguments = page.locator("#debug-args")
    expect(arguments).to_have_value(re.compile(r'"temps": \[\s*3,\s*9\s*\]'))
    page.screenshot(path=str(artifacts / "breakpoint.png"))
    page.reload()  # the pause is checkpointed: a new page finds it
    page.locator(".run-item").first.click()
    expect(node(page, "warmest")).to_contain_text("at breakpoint", timeout=WAIT)
    node(page, "warmest").click()
    arguments.fill('{"temps": "hot"}')
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("node details").get_by_role("status")).to_contain_text("temps: Input should be a valid list")
    arguments.fill('{"temps": [50, 1]}')
    page.get_by_role("button", name="Step").click()
    expect(node(page, "alert")).to_contain_text("at breakpoint", timeout=WAIT)
    expect(node(page, "warmest")).to_contain_text("✓ succeeded")
    node(page, "alert").click()
    page.get_by_role("button", name="Continue").click()
    expect(node(page, "alert")).to_contain_text("waits for approval", timeout=WAIT)  # a breakpoint approves nothing
    page.get_by_label("node details").get_by_role("button", name="Approve").click()
    expect(run_status(page)).to_have_attribute("data-run-status", "succeeded", timeout=WAIT)
    node(page, "alert").click()
    expect(page.get_by_label("node details")).to_contain_text("alert sent at 50")


def test_the_playground_calls_one_tool_and_confirms_dangerous_ones(page: Any, server: LiveServer,
                                                                  artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "heat", 5)
    page.get_by_role("tab", name="Playground").click()
    page.fill("#tool-search", "wip")
    expect(page.locator(".tool-item")).to_have_count(1)
    page.locator('.tool-item[data-tool="default:wipe"]').click()
    page.fill("#arg-target", "db")
    page.get_by_role("button", name="Call wipe").click()
    expect(page.get_by_role("alert")).to_contain_text("flagged dangerous")
    page.get_by_label(re.compile("run it anyway")).check()
    page.get_by_role("button", name="Call wipe").click()
    expect(page.locator("[data-outcome]")).to_have_text("success", timeout=WAIT)
    expect(page.get_by_label("tool result")).to_contain_text('"result": "wiped db"')
    expect(page.get_by_label("events").locator("li").first).to_be_visible()
    page.screenshot(path=str(artifacts / "playground.png"))
    page.fill("#tool-search", "")
    page.locator('.tool-item[data-tool="default:alert"]').click()
    page.fill("#arg-warmest", "41")
    page.get_by_role("button", name="Call alert").click()
    expect(page.locator("[data-outcome]")).to_have_text("action_required", timeout=WAIT)
    expect(page.get_by_label("tool result")).not_to_contain_text("resume_token")


def test_build_a_workflow_save_it_and_run_it_from_python(page: Any, server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    open_workflow(page, server, "heat", 5)
    page.get_by_role("tab", name="Builder").click()
    builder = page.locator(".builder")
    page.fill("#catalogue-search", "temperatures")
    expect(builder.locator(".tool-card")).to_have_count(1)
    builder.locator('.tool-card[data-tool="default:fetch"]').drag_to(builder.locator(".canvas"),
                                                                     target_position={"x": 300, "y": 80})
    page.fill("#catalogue-search", "")
    page.get_by_role("button", name="add warmest").click()
    expect(builder.locator(".react-flow__node")).to_have_count(2, timeout=WAIT)
    page.get_by_role("button", name="Tidy").click()
    source = builder.locator('.react-flow__node[data-id="fetch"] .react-flow__handle.source')
    target = builder.locator('.react-flow__node[data-id="warmest"] .react-flow__handle.target')
    source.hover()
    page.mouse.down()
    target.hover()
    target.hover(position={"x": 4, "y": 4})
    page.mouse.up()
    expect(builder.locator(".react-flow__edge")).to_have_count(1, timeout=WAIT)
    expect(page.locator("#builder-notice")).to_contain_text("fetch → warmest")
    page.get_by_role("button", name="Tidy").click()
    builder.locator('.react-flow__node[data-id="warmest"]').click()
    page.select_option("#map-temps", "fetch.temps")
    page.fill("#retry", "2")
    page.fill("#timeout", "5")
    builder.locator(".react-flow__edge").first.click(force=True)
    page.select_option("#when-op", "exists")
    page.fill("#when-path", "temps")
    expect(builder.locator(".react-flow__edge-text")).to_have_text("when temps exists")
    page.fill("#wf-name", "built_in_page")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#builder-notice")).to_have_text("valid: create_workflow accepts it", timeout=WAIT)
    page.get_by_role("button", name="Save JSON").click()
    saved = json.loads(page.get_by_label("workflow json").input_value())
    page.screenshot(path=str(artifacts / "builder.png"))
    built = Workflow.from_json(saved, demo.catalogue())  # the saved JSON runs unchanged from Python
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop on this thread
        ran = pool.submit(built.run_sync, {"city": "Rome"}).result(timeout=60)
    assert ran.outputs == {"warmest": {"warmest": 35}}
    assert saved["nodes"]["warmest"] == {"tool": "default:warmest", "inputs": {"temps": "fetch.temps"},
                                         "retry": {"attempts": 2}, "timeout_s": 5}
    assert saved["edges"] == [{"from": "fetch", "to": "warmest", "when": {"path": "temps", "op": "exists"}}]
    cyclic = {**saved, "edges": [*saved["edges"], {"from": "warmest", "to": "fetch"}]}
    page.get_by_label("workflow json").fill(json.dumps(cyclic))
    page.get_by_role("button", name="Load JSON").click()
    expect(builder.locator(".react-flow__edge")).to_have_count(2, timeout=WAIT)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#builder-notice")).to_contain_text("CycleError", timeout=WAIT)
    page.get_by_label("workflow json").fill(json.dumps(saved))
    page.get_by_role("button", name="Load JSON").click()
    page.get_by_role("button", name="Add to workflows").click()
    expect(page.locator("#workflow-picker")).to_have_value("built_in_page", timeout=WAIT)
    page.fill("#input-city", "Rome")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(run_status(page)).to_have_attribute("data-run-status", "succeeded", timeout=WAIT)
