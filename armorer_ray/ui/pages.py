"""The HTML of the graph view: an index of workflows and tools, and one page per workflow.

Self-contained pages (inline CSS, a few lines of inline JS, no CDN: nothing is fetched but the page's own
event stream). Every string from a workflow or a tool is escaped; URLs are percent-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from urllib.parse import quote

from armorer_ray.toolbox import Toolbox
from armorer_ray.ui.svg import workflow_svg
from armorer_ray.workflow import Workflow

__all__ = ["index_page", "workflow_page"]

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1f2328; }
table { border-collapse: collapse; }
td, th { padding: .25rem .75rem; border-bottom: 1px solid #d0d7de; text-align: left; }
.flag { font-size: 12px; padding: 0 .4rem; border-radius: 1rem; background: #eaeef2; margin-right: .25rem; }
.flag.dangerous { background: #ffebe9; } .flag.mutates { background: #fff8c5; }
svg.graph text { font: 12px ui-monospace, monospace; fill: #1f2328; } svg.graph text.tool { fill: #57606a; }
svg.graph .node rect { fill: #f6f8fa; stroke: #8c959f; stroke-width: 1.5; }
svg.graph .edge { fill: none; stroke: #8c959f; stroke-width: 1.5; } svg.graph marker path { fill: #8c959f; }
svg.graph .edge-label { font-size: 11px; fill: #57606a; text-anchor: middle; }
svg.graph .st-queued rect { fill: #eaeef2; }
svg.graph .st-started rect, svg.graph .st-retrying rect { fill: #ddf4ff; stroke: #0969da; }
svg.graph .st-succeeded rect { fill: #dafbe1; stroke: #1a7f37; }
svg.graph .st-failed rect { fill: #ffebe9; stroke: #cf222e; }
svg.graph .st-skipped rect, svg.graph .st-cancelled rect { fill: #f6f8fa; stroke-dasharray: 4 3; }
svg.graph .st-paused rect { fill: #fff8c5; stroke: #9a6700; }
"""

# Colours nodes as events arrive; statuses outside the known set are ignored, never turned into markup.
_SCRIPT = """
const known = new Set(["queued","started","retrying","succeeded","failed","skipped","cancelled","paused"]);
const boxes = new Map([...document.querySelectorAll("g.node")].map(g => [g.getAttribute("data-node"), g]));
const status = document.getElementById("status");
const source = new EventSource(document.body.dataset.events);
source.addEventListener("run", message => {
  const event = JSON.parse(message.data);
  if (event.type === "run.started") { boxes.forEach(g => g.setAttribute("class", "node")); }
  if (!event.node) { status.textContent = `run ${event.run_id}: ${event.status}`; return; }
  const g = boxes.get(event.node);
  if (g && known.has(event.status)) { g.setAttribute("class", `node st-${event.status}`); }
});
source.addEventListener("dropped", message => {
  status.textContent = `${JSON.parse(message.data).count} events dropped; colours may be behind`;
});
"""


def _page(title: str, body: str, *, events_url: str | None = None, script: str = "") -> str:
    data = f' data-events="{escape(events_url)}"' if events_url is not None else ""
    tail = f"<script>{script}</script>" if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body{data}>{body}{tail}</body></html>")


def _tool_rows(toolbox: Toolbox) -> str:
    rows = []
    for item in toolbox:
        flags = [flag for flag, on in (("read-only", item.is_read_only), ("mutates", item.is_mutating),
                                       ("dangerous", item.is_dangerous)) if on]
        risk = "".join(f'<span class="flag {flag}">{flag}</span>' for flag in flags)
        summary = item.description.splitlines()[0] if item.description else ""
        rows.append(f"<tr><td><code>{escape(item.id)}</code></td><td>{risk}</td>"
                    f"<td>{escape(', '.join(item.tags))}</td><td>{escape(summary)}</td></tr>")
    return "".join(rows)


def index_page(workflows: Mapping[str, Workflow], toolbox: Toolbox | None = None) -> str:
    """The index: a link per workflow (with its node count), then the toolbox's tools, if given.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return <1>.")(lambda: 1)
        >>> html = index_page({"a b": create_workflow(nodes={"a": one})}, Toolbox([one]))
        >>> 'href="workflows/a%20b"' in html, "Return &lt;1&gt;." in html
        (True, True)
    """
    links = "".join(f'<li><a href="workflows/{quote(name, safe="")}">{escape(name)}</a> '
                    f"({len(wf.plan.order)} nodes)</li>" for name, wf in workflows.items())
    body = f"<h1>Workflows</h1><ul>{links}</ul>" if links else "<h1>Workflows</h1><p>No workflows.</p>"
    if toolbox is not None:
        body += (f"<h2>Tools of {escape(toolbox.name)}</h2><table><tr><th>id</th><th>risk</th><th>tags</th>"
                 f"<th>description</th></tr>{_tool_rows(toolbox)}</table>")
    return _page("armorer-ray workflows", body)


def workflow_page(name: str, workflow: Workflow) -> str:
    """One workflow: its graph as inline SVG, coloured live from ``{name}/events``, and a link to its JSON.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> html = workflow_page("tiny", create_workflow(nodes={"a": one}))
        >>> 'data-events="tiny/events"' in html, 'data-node="a"' in html
        (True, True)
    """
    path = quote(name, safe="")
    body = (f'<p><a href="../">all workflows</a></p><h1>{escape(name)}</h1>'
            f'<p id="status">waiting for a run</p>{workflow_svg(workflow)}'
            f'<p><a href="{path}.json">structure as JSON</a></p>')
    return _page(f"workflow {name}", body, events_url=f"{path}/events", script=_SCRIPT)
