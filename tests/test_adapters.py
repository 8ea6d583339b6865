"""Provider adapters: exact shapes, name mapping, call parsing and result formatting."""

from __future__ import annotations

import pytest

from armorer_ray import ConfigError, Toolbox, ToolResult, tool
from armorer_ray.adapters import anthropic, to_anthropic, to_gemini, to_openai
from armorer_ray.adapters.openai import create_name_mapper, format_tool_results, parse_tool_calls


@tool(namespace="ns", version="1.0.0")
def mutate(item_id: int, note: str = "") -> str:
    """Change an item.

    Args:
        item_id: The item.
    """
    return "ok"


def test_openai_shape_and_safe_names() -> None:
    spec = to_openai(mutate)
    # Strict mode: every property required, the optional one nullable, no default (see adapters/_schemas.py).
    assert spec == {"type": "function", "function": {
        "name": "mutate", "description": "Change an item.", "strict": True,
        "parameters": {"additionalProperties": False, "properties": {
            "item_id": {"description": "The item.", "type": "integer"},
            "note": {"type": ["string", "null"]}}, "required": ["item_id", "note"], "type": "object"}}}
    box = Toolbox([mutate])
    assert to_openai(box, naming="safe-id")[0]["function"]["name"] == "ns_mutate_1_0_0"
    assert create_name_mapper(box)("ns_mutate_1_0_0") == "ns:mutate@1.0.0"
    assert create_name_mapper([mutate])("other") == "other"
    assert to_openai([]) == []


def test_openai_round_trip_through_a_toolbox() -> None:
    box = Toolbox([mutate])
    mapper = create_name_mapper(box)
    calls = parse_tool_calls([
        {"id": "c1", "type": "function", "function": {"name": "ns_mutate_1_0_0", "arguments": '{"item_id": 3}'}},
        {"id": "c2", "type": "function", "function": {"name": "ns_mutate_1_0_0", "arguments": "not json"}},
    ], mapper)
    results = box.execute_sync(calls)
    messages = format_tool_results(results)
    assert messages[0] == {"role": "tool", "tool_call_id": "c1", "content": "ok"}
    assert messages[1]["tool_call_id"] == "c2" and "not valid JSON" in messages[1]["content"]
    assert parse_tool_calls(None) == []
    assert format_tool_results(ToolResult(call_id="x", tool_name="t", outcome="success", content=None)) == [
        {"role": "tool", "tool_call_id": "x", "content": "null"}]


def test_anthropic_and_gemini_shapes() -> None:
    spec = to_anthropic(mutate)
    assert spec["name"] == "mutate" and spec["input_schema"]["type"] == "object"
    assert set(spec["input_schema"]) == {"type", "properties", "required", "additionalProperties"}
    calls = anthropic.parse_tool_calls([{"type": "tool_use", "id": "t1", "name": "mutate", "input": {"item_id": 1}}])
    result = Toolbox([mutate]).execute_sync(calls[0])
    message = anthropic.format_tool_results([result, result.replace(outcome="error", content="bad")])
    assert message["content"][0] == {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    assert message["content"][1]["is_error"] is True
    gemini = to_gemini([mutate])[0]
    assert gemini["name"] == "mutate" and "$schema" not in gemini["parameters"]


def test_serialized_definitions_are_accepted_and_junk_refused() -> None:
    assert to_openai(mutate.to_json())["function"]["name"] == "mutate"
    with pytest.raises(ConfigError, match="Invalid tool input"):
        to_openai({"name": "x"})
    with pytest.raises(ConfigError, match="Invalid tool input"):
        to_gemini(42)


def test_bedrock_mistral_cohere() -> None:
    from armorer_ray.adapters import bedrock, cohere, to_bedrock, to_cohere, to_mistral

    config = to_bedrock(Toolbox([mutate]))
    assert config["tools"][0]["toolSpec"]["name"] == "mutate"
    assert "$schema" not in config["tools"][0]["toolSpec"]["inputSchema"]["json"]
    calls = bedrock.parse_tool_calls([{"text": "thinking"}, {"toolUse": {"toolUseId": "b1", "name": "mutate",
                                                                         "input": {"item_id": 4}}}])
    result = Toolbox([mutate]).execute_sync(calls[0])
    message = bedrock.format_tool_results([result, result.replace(outcome="error", content="bad")])
    assert message["content"][0]["toolResult"] == {"toolUseId": "b1", "content": [{"text": "ok"}], "status": "success"}
    assert message["content"][1]["toolResult"]["status"] == "error"
    assert to_mistral(mutate, naming="safe-id")["function"]["name"] == "ns_mutate_1_0_0"
    assert to_cohere([mutate])[0]["function"]["name"] == "mutate"
    doc = cohere.format_tool_results(result)[0]["content"][0]["document"]["data"]
    assert doc == {"result": "ok"}


def test_call_parsers_accept_sdk_objects_and_loose_fields() -> None:
    from pydantic import BaseModel

    from armorer_ray.adapters import bedrock

    class Block(BaseModel):  # stands in for an SDK's content block, read through model_dump()
        type: str
        id: str
        name: str
        input: object

    [from_sdk, loose] = anthropic.parse_tool_calls([Block(type="tool_use", id="t1", name="mutate", input={"item_id": 1}),
                                                    {"type": "tool_use", "id": "t2", "name": "mutate", "input": [1]},
                                                    object()])
    assert (from_sdk.id, from_sdk.name, from_sdk.arguments) == ("t1", "mutate", {"item_id": 1})
    # Arguments that are not an object are kept as sent: the toolbox answers with a validation error saying so.
    assert (loose.id, loose.arguments) == ("t2", [1])
    assert "must be a JSON object, got an array" in Toolbox([mutate]).execute_sync(loose).error.message
    [use] = bedrock.parse_tool_calls([{"toolUse": {"toolUseId": "b1", "name": "mutate", "input": "junk"}}, "text"])
    assert (use.id, use.arguments) == ("b1", "junk")
    [call] = parse_tool_calls([{"id": "c1", "function": {"name": "mutate", "arguments": "[1, 2]"}}])
    assert (call.id, call.arguments) == ("c1", [1, 2])
