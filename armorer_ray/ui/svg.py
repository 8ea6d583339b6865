"""A workflow drawn as inline SVG: a labelled box per node, a curve per edge, laid out by `layered_layout`.

Every string taken from the workflow (node names, tool ids, conditions) is escaped, so the SVG can be
inlined into an HTML page.
"""

from __future__ import annotations

from html import escape

from armorer_ray.ui.layout import Box, GraphLayout, layered_layout
from armorer_ray.workflow import Workflow
from armorer_ray.workflow.export import _describe

__all__ = ["workflow_layout", "workflow_svg"]

_CHAR_PX = 7.2  # average glyph width of the page's 12px monospace font, so labels fit their boxes
_LINE_PX = 15.0


def _lines(workflow: Workflow, name: str) -> list[str]:
    plan_node = workflow.plan.nodes[name]
    lines = [name, plan_node.tool_id]
    if plan_node.node.map_over is not None:
        lines.append(f"for each {plan_node.node.map_over}")
    return lines


def workflow_layout(workflow: Workflow) -> GraphLayout:
    """Lay out a workflow's nodes (in its topological order) with boxes wide and tall enough for their labels.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> placed = workflow_layout(create_workflow(nodes={"a": one, "b": one}, edges=[("a", "b")]))
        >>> placed.edges, placed.boxes["b"].layer
        ((('a', 'b'),), 1)
    """
    plan = workflow.plan
    widths = {name: 24 + _CHAR_PX * max(len(line) for line in _lines(workflow, name)) for name in plan.order}
    edges = tuple((link.source, name) for name in plan.order for link in plan.nodes[name].upstream)
    tallest = max(len(_lines(workflow, name)) for name in plan.order)
    return layered_layout(plan.order, edges, widths=widths, box_height=14 + _LINE_PX * tallest)


def _edge(layout: GraphLayout, source: str, target: str, label: str | None) -> str:
    start, end = layout.boxes[source], layout.boxes[target]
    x1, y1 = start.x + start.width / 2, start.y + start.height
    x2, y2 = end.x + end.width / 2, end.y
    bend = (y2 - y1) / 2
    path = (f'<path class="edge" data-from="{escape(source)}" data-to="{escape(target)}" '
            f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}" '
            'marker-end="url(#arrow)"/>')
    if label is None:
        return path
    return (f'{path}<text class="edge-label" x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2:.1f}">'
            f"{escape(label)}</text>")


def _node(name: str, box: Box, lines: list[str]) -> str:
    texts = []
    for index, line in enumerate(lines):
        css = ' class="tool"' if index else ""  # the first line is the node's name, the rest describe it
        texts.append(f'<text{css} x="{box.x + 12:.1f}" y="{box.y + 20 + index * _LINE_PX:.1f}">{escape(line)}</text>')
    return (f'<g class="node" data-node="{escape(name)}"><title>{escape(name)}</title>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="6"/>'
            f"{''.join(texts)}</g>")


def workflow_svg(workflow: Workflow) -> str:
    """The workflow as an ``<svg>`` element: ``g.node[data-node=NAME]`` per node, ``path.edge`` per edge.

    Conditional edges carry their condition as a label. Styling comes from the page (classes ``node``,
    ``edge``, ``edge-label``, ``tool``), so the same SVG can be recoloured by status.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> svg = workflow_svg(create_workflow(nodes={"a": one, "b": one}, edges=[("a", "b")]))
        >>> svg.startswith("<svg"), svg.count('class="node"'), svg.count('class="edge"')
        (True, 2, 1)
    """
    layout = workflow_layout(workflow)
    plan = workflow.plan
    edges = [_edge(layout, link.source, name, None if link.when is None else _describe(link.when))
             for name in plan.order for link in plan.nodes[name].upstream]
    nodes = [_node(name, layout.boxes[name], _lines(workflow, name)) for name in plan.order]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{layout.width:.0f}" '
            f'height="{layout.height:.0f}" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" role="img" '
            f'aria-label="workflow {escape(workflow.name)}">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
            f'{"".join(edges)}{"".join(nodes)}</svg>')
