"""JSON export and import of a workflow's structure, and its Mermaid diagram."""

from __future__ import annotations

import json

import pytest

from armorer_ray import Toolbox
from armorer_ray.workflow import (
    Condition,
    Edge,
    Node,
    NodeRetry,
    UnknownToolError,
    Workflow,
    WorkflowConfigError,
    create_workflow,
)
from tests.workflow import tools as t

BOX = Toolbox([t.forecast, t.warmest, t.coldest, t.summary, t.numbers, t.square, t.total])


def weather() -> Workflow:
    return create_workflow(
        nodes={"forecast": t.forecast, "warmest": Node(t.warmest, retry=NodeRetry(attempts=2, backoff_s=0.1)),
               "coldest": Node("coldest", timeout_s=5, policy=t.weekdays_only),
               "summary": Node(t.summary, trigger="any", arguments={"coldest": -1})},
        edges=[Edge("forecast", "warmest", when=t.is_sunny),
               Edge("forecast", "coldest", when=Condition(path="sunny", op="eq", value=False)),
               (["warmest", "coldest"], "summary")],
        toolbox=BOX, inputs=["city"], name="weather")


def test_json_round_trip_keeps_structure_and_behaviour() -> None:
    wf = weather()
    data = wf.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["nodes"]["warmest"] == {"tool": "default:warmest", "retry": {"attempts": 2, "backoff_s": 0.1}}
    assert data["nodes"]["coldest"]["policy"] == [{"import": "tests.workflow.tools:weekdays_only"}]
    assert data["edges"][0]["when"] == {"import": "tests.workflow.tools:is_sunny"}
    assert data["edges"][1]["when"] == {"path": "sunny", "op": "eq", "value": False}
    again = Workflow.from_json(json.loads(json.dumps(data)), BOX)
    assert again.to_json() == data
    assert again.run_sync({"city": "Oslo"}).outputs == wf.run_sync({"city": "Oslo"}).outputs == {
        "summary": "warmest=15 coldest=-1"}


def test_export_refuses_functions_without_an_import_path() -> None:
    wf = create_workflow(nodes={"forecast": t.forecast, "warmest": t.warmest},
                         edges=[Edge("forecast", "warmest", when=lambda out: True)], toolbox=BOX)
    with pytest.raises(WorkflowConfigError, match="has no import path; use a Condition"):
        wf.to_json()


def test_import_checks_format_and_tools() -> None:
    data = weather().to_json()
    with pytest.raises(WorkflowConfigError, match="not a workflow export"):
        Workflow.from_json({**data, "format": "other"}, BOX)
    with pytest.raises(UnknownToolError, match="default:warmest"):
        Workflow.from_json(data, Toolbox([t.forecast, t.coldest, t.summary]))
    with pytest.raises(WorkflowConfigError, match="cannot import"):
        Workflow.from_json({**data, "edges": [{"from": "forecast", "to": "warmest", "when": {"import": "no.such:f"}}]},
                           BOX)


def test_mermaid_shows_nodes_fan_outs_and_conditions() -> None:
    assert weather().to_mermaid() == "\n".join([
        "flowchart TD",
        '    n0["forecast<br/>default:forecast"]',
        '    n1["warmest<br/>default:warmest"]',
        '    n2["coldest<br/>default:coldest"]',
        '    n3["summary<br/>default:summary"]',
        '    n0 -->|"when is_sunny"| n1',
        '    n0 -->|"sunny eq False"| n2',
        "    n1 --> n3",
        "    n2 --> n3",
    ])
    fan = create_workflow(nodes={"numbers": t.numbers, "square": Node(t.square, inputs={"x": "numbers"}, map_over="x")},
                          edges=[("numbers", "square")], toolbox=BOX)
    assert '[["square<br/>default:square<br/>for each x"]]' in fan.to_mermaid()


def test_an_expansion_serialises_as_content() -> None:
    from armorer_ray.workflow import Expansion

    shaped = Expansion(nodes={"s": Node(t.square, arguments={"x": 2}), "n": "numbers"}, edges=[("n", "s")],
                       output="s").model_dump()
    assert shaped == {"expansion": {"nodes": {"s": {"tool": "default:square", "arguments": {"x": 2}},
                                              "n": {"tool": "numbers"}},
                                    "edges": [{"from": "n", "to": "s"}]}, "output": "s"}
