"""What the page is told about workflows and tools, as JSON; and `scrub`, which keeps capabilities off the page.

Everything the server sends goes through `scrub`: resume tokens (capabilities that would run a paused call)
are removed wherever they appear. Node and edge names are data (the page renders them as text nodes).
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue
from pydantic_core import to_jsonable_python

from armorer_ray.tools import Tool
from armorer_ray.workflow import Workflow, WorkflowConfigError
from armorer_ray.workflow.export import _describe

__all__ = ["SECRET_KEYS", "graph_json", "input_schema", "scrub", "tool_json"]

SECRET_KEYS = frozenset({"resume_token"})


def scrub(value: Any) -> JsonValue:
    """``value`` as JSON with every ``resume_token`` removed, at any depth.

    Example:
        >>> scrub({"results": [{"action": {"message": "ok?", "resume_token": "s3cret"}}]})
        {'results': [{'action': {'message': 'ok?'}}]}
    """
    data = to_jsonable_python(value, fallback=repr)
    return _drop(data)


def _drop(data: Any) -> JsonValue:
    if isinstance(data, dict):
        return {key: _drop(item) for key, item in data.items() if key not in SECRET_KEYS}
    if isinstance(data, list):
        return [_drop(item) for item in data]
    return data  # type: ignore[no-any-return]  # a JSON scalar (dicts and lists are handled above)


def tool_json(item: Tool) -> dict[str, JsonValue]:
    """A catalogue entry: id, name, description, tags, risk flags, parameter schema and output schema.

    Example:
        >>> from armorer_ray import tool
        >>> entry = tool_json(tool(name="wipe", description="Wipe it.", dangerous=True)(lambda: 1))
        >>> entry["name"], entry["dangerous"], entry["schema"]["type"]
        ('wipe', True, 'object')
    """
    return {"id": item.id, "name": item.name, "description": item.description, "tags": list(item.tags),
            "read_only": item.risk.read_only, "mutates": item.risk.mutates, "dangerous": item.risk.dangerous,
            "schema": scrub(item.json_schema), "output_schema": scrub(item.output_json_schema)}


def input_schema(workflow: Workflow) -> dict[str, JsonValue]:
    """A JSON Schema of a run's inputs: the parameters of root nodes that no constant argument sets, and every
    ``$inputs.key`` a node reads (of any type).

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> @tool
        ... def fetch(city: str, days: int = 3) -> dict:
        ...     "Fetch a forecast."
        ...     return {}
        >>> schema = input_schema(create_workflow(nodes={"fetch": fetch}))
        >>> sorted(schema["properties"]), schema["required"]
        (['city', 'days'], ['city'])
    """
    properties: dict[str, JsonValue] = {}
    required: set[str] = set()
    plan = workflow.plan
    for name in plan.order:
        plan_node = plan.nodes[name]
        node = plan_node.node
        for source in (node.inputs or {}).values():
            if source.startswith("$inputs."):
                key = source.removeprefix("$inputs.").split(".")[0]
                properties.setdefault(key, {"title": key})
                required.add(key)
        if plan_node.upstream:
            continue
        found = workflow.toolbox.get_tool(plan_node.tool_id)
        if found is None:
            continue
        schema = found.json_schema
        for key, spec in schema.get("properties", {}).items():
            if key in node.arguments or (node.inputs is not None and key in node.inputs):
                continue
            properties.setdefault(key, scrub(spec))
            if key in schema.get("required", ()):
                required.add(key)
    if plan.inputs is not None:
        for key in plan.inputs:
            properties.setdefault(key, {"title": key})
            required.add(key)
    needed: list[JsonValue] = [*sorted(required)]
    return {"type": "object", "properties": properties, "required": needed}


def graph_json(name: str, workflow: Workflow) -> dict[str, JsonValue]:
    """The page's view of a workflow: nodes (tool, fan-out, retry, timeout, trigger, inputs), edges (with their
    condition's text, and whether it is a condition at all), the input schema and the JSON export (or why not).

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import Edge, create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> wf = create_workflow(nodes={"a": one, "b": one}, edges=[Edge("a", "b", when=lambda out: out > 0)])
        >>> graph = graph_json("w", wf)
        >>> graph["edges"], graph["exportable"]
        ([{'source': 'a', 'target': 'b', 'label': 'when lambda', 'conditional': True}], False)
    """
    plan = workflow.plan
    nodes: list[JsonValue] = []
    for node_name in plan.order:
        plan_node = plan.nodes[node_name]
        node = plan_node.node
        retry = node.retry_policy
        nodes.append({"id": node_name, "tool": plan_node.tool_id, "map_over": node.map_over, "trigger": node.trigger,
                      "retry": retry.attempts if retry is not None else None, "timeout_s": node.timeout_s,
                      "inputs": dict(node.inputs) if node.inputs is not None else None,
                      "arguments": scrub(dict(node.arguments)), "has_policy": node.policy is not None})
    edges: list[JsonValue] = []
    for node_name in plan.order:
        for link in plan.nodes[node_name].upstream:
            label = None if link.when is None else _describe(link.when)
            edges.append({"source": link.source, "target": node_name, "label": label,
                          "conditional": link.when is not None})
    export: JsonValue = None
    reason: str | None = None
    try:
        export = scrub(workflow.to_json())
    except WorkflowConfigError as exc:
        reason = str(exc)
    return {"name": name, "workflow": workflow.name, "nodes": nodes, "edges": edges,
            "input_schema": input_schema(workflow), "exportable": export is not None, "export": export,
            "export_error": reason}

