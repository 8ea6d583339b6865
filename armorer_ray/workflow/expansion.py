"""`Expansion`: what a node's tool returns to splice more nodes into a running workflow.

It lives apart from `armorer_ray.workflow.spec` because its JSON form is the export format's
(`armorer_ray.workflow.export`), which is itself built on the spec's words: spec <- export <- expansion, no cycle.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer

from armorer_ray.workflow.export import structure_json
from armorer_ray.workflow.spec import as_edges, as_node

__all__ = ["Expansion"]


class Expansion(BaseModel):
    """What a node's tool returns to splice more nodes into the running workflow (dynamic generation).

    The new nodes run as if they replaced the node that returned them: their roots take that node's
    arguments, and its downstream nodes wait for them. They appear in the run as ``"<node>/<name>"``.

    Attributes:
        nodes: The nodes to splice in, as for `create_workflow`.
        edges: Edges among them.
        output: Which spliced node's output becomes the returning node's output; None gives
            ``{sink name: output}`` over the spliced nodes nobody depends on.

    Example:
        >>> plan = Expansion(nodes={"a": "search", "b": "search"}, output=None)
        >>> sorted(plan.nodes)
        ['a', 'b']
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    nodes: dict[str, Any]
    edges: list[Any] = []
    output: str | None = None

    @model_serializer
    def _as_json(self) -> dict[str, Any]:
        # Shaping a node's result into content serialises it: tools appear by id, callables by name.
        return {"expansion": structure_json({k: as_node(v) for k, v in self.nodes.items()}, as_edges(self.edges),
                                            strict=False), "output": self.output}
