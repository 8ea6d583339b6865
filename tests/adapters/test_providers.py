"""Every provider export, parse and result message checked against that provider's official SDK types.

The SDKs are test-only dependencies (the ``providers`` extra). Each provider gets a round trip: export the demo
toolbox (plus tools with optional, nested, constrained and clashing parameters), validate the export with the
SDK's types, build the SDK's own tool-call response objects, parse them into `ToolCall`s, run them through the
toolbox, and validate the formatted results with the SDK's message types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from armorer_ray import Toolbox, ToolResult, tool
from armorer_ray.adapters import anthropic, bedrock, cohere, gemini, openai
from armorer_ray.adapters.naming import ToolNames
from examples.demo_tools import build_toolbox


class Address(BaseModel):
    street: str
    zip_code: str | None = None


@tool(namespace="crm", version="1.0.0")
def lookup(customer_id: int, address: Address | None = None, note: str = "", limit: int = Field(5, le=50),
           amount: float = Field(1.0, gt=0)) -> dict[str, object]:
    """Look a customer up (crm)."""
    return {"id": customer_id, "note": note, "address": address.model_dump() if address else None}


@tool(namespace="erp", version="2.0.0")
def lookup_erp(code: str) -> str:
    """Look an item up (erp)."""
    return f"item {code}"


lookup_other = lookup_erp.replace(name="lookup")


@tool
def free_form(data: dict[str, int]) -> int:
    """Sum a free-form mapping."""
    return sum(data.values())


def make_box() -> Toolbox:
    box = build_toolbox()
    box.register(lookup, lookup_other, free_form)
    return box


def same(validated: object, original: object) -> None:
    """The SDK type kept every key: nothing of ours was unknown to it."""
    if isinstance(validated, BaseModel):
        dumped = validated.model_dump(by_alias=True, exclude_unset=True, mode="json")
        assert not validated.model_extra, validated.model_extra
        validated = dumped
    assert json.loads(json.dumps(validated, default=list)) == json.loads(json.dumps(original))


def strict_ok(schema: Mapping[str, Any]) -> None:
    """OpenAI's strict rules: every object closed and every property required, $defs included."""
    nodes: list[Any] = [schema]
    while nodes:
        node = nodes.pop()
        if isinstance(node, Mapping):
            if "properties" in node:
                assert node.get("additionalProperties") is False, node
                assert sorted(node["required"]) == sorted(node["properties"]), node
            assert "default" not in node
            nodes.extend(node.values())
        elif isinstance(node, list):
            nodes.extend(node)


def no_duplicate_names(names: list[str]) -> None:
    assert len(names) == len(set(names)), names
    for name in names:
        assert len(name) <= 64 and name.replace("_", "").replace("-", "").isalnum(), name


# -- OpenAI (Chat Completions and Responses; Azure OpenAI uses the same SDK types) ----------------------------


def test_openai_chat_export_validates_and_strict_only_when_it_holds() -> None:
    from openai.types.chat import ChatCompletionFunctionToolParam

    box = make_box()
    exported = openai.to_openai(box)
    adapter = TypeAdapter(ChatCompletionFunctionToolParam)
    for spec in exported:
        same(adapter.validate_python(spec), spec)
        if spec["function"]["strict"]:
            strict_ok(spec["function"]["parameters"])
    by_name = {spec["function"]["name"]: spec["function"] for spec in exported}
    no_duplicate_names(list(by_name))
    assert by_name["free_form"]["strict"] is False  # a free-form dict cannot be strict
    assert by_name["search_customers"]["strict"] is True
    assert {"crm_lookup_1_0_0", "erp_lookup_2_0_0"} <= set(by_name)


def test_openai_chat_round_trip_with_sdk_objects() -> None:
    from openai.types.chat import ChatCompletionMessage, ChatCompletionToolMessageParam
    from openai.types.chat.chat_completion_message_function_tool_call import (
        ChatCompletionMessageFunctionToolCall,
        Function,
    )

    box = make_box()
    names = openai.create_name_mapper(box)
    message = ChatCompletionMessage(role="assistant", content=None, tool_calls=[
        ChatCompletionMessageFunctionToolCall(id="c1", type="function", function=Function(
            name="crm_lookup_1_0_0",
            arguments='{"customer_id": 7, "address": null, "note": null, "limit": null, "amount": null}')),
        ChatCompletionMessageFunctionToolCall(id="c2", type="function", function=Function(
            name="erp_lookup_2_0_0", arguments='{"code": "X1"}')),
        ChatCompletionMessageFunctionToolCall(id="c3", type="function", function=Function(
            name="search_customers", arguments='{"query": "ada", "lim')),
    ])
    calls = openai.parse_tool_calls(message, names)
    assert [c.name for c in calls] == ["crm:lookup@1.0.0", "erp:lookup@2.0.0", "crm:search_customers"]
    results = box.execute_sync(calls)
    assert results[0].result == {"id": 7, "note": "", "address": None}
    assert results[1].result == "item X1"
    assert results[2].error is not None and "not valid JSON" in results[2].error.message
    assert "truncated" in results[2].error.message
    adapter = TypeAdapter(ChatCompletionToolMessageParam)
    for item in openai.format_tool_results(results):
        same(adapter.validate_python(item), item)


def test_openai_responses_export_and_round_trip() -> None:
    from openai.types.responses import FunctionToolParam, ResponseFunctionToolCall, ResponseInputItemParam

    box = make_box()
    exported = openai.to_openai(box, api="responses")
    adapter = TypeAdapter(FunctionToolParam)
    for spec in exported:
        same(adapter.validate_python(spec), spec)
        if spec["strict"]:
            strict_ok(spec["parameters"])
    items = [ResponseFunctionToolCall(type="function_call", call_id="r1", name="get_customer",
                                      arguments='{"customer_id": 1}', id="fc_1")]
    calls = openai.parse_tool_calls(items, openai.create_name_mapper(box))
    results = box.execute_sync(calls)
    assert results[0].ok
    inputs = TypeAdapter(ResponseInputItemParam)
    for item in openai.format_tool_results(results, api="responses"):
        same(inputs.validate_python(item), item)


# -- Anthropic -------------------------------------------------------------------------------------------------


def test_anthropic_export_validates_and_round_trips() -> None:
    from anthropic.types import Message, MessageParam, ToolParam, ToolResultBlockParam, ToolUseBlock, Usage

    box = make_box()
    exported = anthropic.to_anthropic(box)
    adapter = TypeAdapter(ToolParam)
    for spec in exported:
        same(adapter.validate_python(spec), spec)
    no_duplicate_names([spec["name"] for spec in exported])
    names = ToolNames.of(box)
    message = Message(id="m1", type="message", role="assistant", model="claude", stop_reason="tool_use",
                      stop_sequence=None, usage=Usage(input_tokens=1, output_tokens=1), content=[
                          ToolUseBlock(type="tool_use", id="t1", name="erp_lookup_2_0_0", input={"code": "Z"}),
                          ToolUseBlock(type="tool_use", id="t2", name="lookup", input={"code": "Z"})])
    calls = anthropic.parse_tool_calls(message, names)
    assert calls[0].name == "erp:lookup@2.0.0"
    results = box.execute_sync(calls)
    assert results[0].result == "item Z"
    # The bare name two tools share is never resolved to one of them.
    assert calls[1].name == "lookup" and names.ambiguous("lookup") == ("crm:lookup@1.0.0", "erp:lookup@2.0.0")
    assert results[1].error is not None and results[1].error.category == "not_found"
    assert "ambiguous" in results[1].error.message and "erp:lookup@2.0.0" in results[1].error.message
    formatted = anthropic.format_tool_results(results)
    TypeAdapter(MessageParam).validate_python(formatted)
    assert formatted["role"] == "user"
    blocks = TypeAdapter(ToolResultBlockParam)
    for block in formatted["content"]:  # MessageParam's content is a lazy Iterable: check each block's own type
        same(blocks.validate_python(block), block)


# -- Gemini ----------------------------------------------------------------------------------------------------


def test_gemini_export_validates_and_round_trips() -> None:
    from google.genai import types

    box = make_box()
    declared = gemini.to_gemini_tool(box)
    validated = types.Tool.model_validate(declared)
    assert validated.function_declarations is not None
    assert len(validated.function_declarations) == len(box)
    by_name = {d.name: d for d in validated.function_declarations}
    refund = by_name["refund_order"].parameters
    assert refund is not None and refund.properties is not None
    assert refund.properties["amount"].minimum == 0  # exclusiveMinimum, rewritten
    address = by_name["crm_lookup_1_0_0"].parameters.properties["address"]  # type: ignore[union-attr]
    assert address.nullable and address.properties is not None and "street" in address.properties
    response = types.GenerateContentResponse(candidates=[types.Candidate(content=types.Content(role="model", parts=[
        types.Part(function_call=types.FunctionCall(id="g1", name="crm_lookup_1_0_0",
                                                    args={"customer_id": 2, "address": {"street": "Main"}})),
        types.Part(function_call=types.FunctionCall(id="g2", name="get_customer", args={"customer_id": "x"})),
    ]))])
    names = ToolNames.of(box)
    calls = gemini.parse_tool_calls(response, names)
    results = box.execute_sync(calls)
    assert results[0].result["address"] == {"street": "Main", "zip_code": None}
    assert results[1].outcome == "error"
    content = types.Content.model_validate(gemini.format_tool_results(results, names))
    assert content.parts is not None
    first = content.parts[0].function_response
    assert first is not None and first.name == "crm_lookup_1_0_0" and first.response is not None
    assert "output" in first.response and "error" in content.parts[1].function_response.response  # type: ignore[union-attr,operator]


# -- Bedrock Converse (botocore's own service model) ----------------------------------------------------------


def _converse_shapes() -> tuple[Any, Any]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    operation = model.operation_model("Converse")
    return operation.input_shape, operation.output_shape


def test_bedrock_converse_request_and_round_trip_validate_with_botocore() -> None:
    from botocore.validate import ParamValidator

    input_shape, _ = _converse_shapes()
    box = make_box()
    config = bedrock.to_bedrock(box)
    no_duplicate_names([t["toolSpec"]["name"] for t in config["tools"]])
    assistant = {"role": "assistant", "content": [
        {"text": "checking"},
        {"toolUse": {"toolUseId": "b1", "name": "list_orders", "input": {"customer_id": 1}}},
        {"toolUse": {"toolUseId": "b2", "name": "crm_lookup_1_0_0", "input": {"customer_id": 3}}}]}
    response = {"output": {"message": assistant}, "stopReason": "tool_use"}
    calls = bedrock.parse_tool_calls(response, ToolNames.of(box))
    results = box.execute_sync(calls)
    assert all(r.ok for r in results), results
    request = {"modelId": "m", "toolConfig": config,
               "messages": [{"role": "user", "content": [{"text": "hi"}]}, assistant,
                            bedrock.format_tool_results([*results, results[0].replace(outcome="error", content="x")])]}
    report = ParamValidator().validate(request, input_shape)
    assert not report.has_errors(), report.generate_report()


# -- Mistral and Cohere ----------------------------------------------------------------------------------------


def test_mistral_export_validates_and_round_trips() -> None:
    from mistralai.client import models

    box = make_box()
    from armorer_ray.adapters import to_mistral

    for spec in to_mistral(box):
        same(models.Tool.model_validate(spec), spec)
    message = models.AssistantMessage(tool_calls=[models.ToolCall(id="m1", function=models.FunctionCall(
        name="page_oncall", arguments='{"team": "db", "message": "down"}'))])
    from armorer_ray.adapters import mistral

    calls = mistral.parse_tool_calls(message, openai.create_name_mapper(box))
    results = box.execute_sync(calls)
    assert results[0].ok
    for item in mistral.format_tool_results(results):
        same(models.ToolMessage.model_validate(item), item)


def test_cohere_export_validates_and_round_trips() -> None:
    import cohere as sdk

    box = make_box()
    for spec in cohere.to_cohere(box):
        same(sdk.ToolV2.model_validate(spec), spec)
    message = sdk.AssistantMessageResponse(role="assistant", tool_calls=[sdk.ToolCallV2(
        id="k1", type="function", function=sdk.ToolCallV2Function(name="get_metrics",
                                                                  arguments='{"service": "api"}'))])
    calls = cohere.parse_tool_calls(message, openai.create_name_mapper(box))
    results = box.execute_sync(calls)
    assert results[0].ok
    failed = ToolResult(call_id="k2", tool_name="get_metrics", outcome="error", content="boom")
    messages = TypeAdapter(sdk.ChatMessageV2)
    for item in cohere.format_tool_results([*results, failed]):
        same(messages.validate_python(item), item)


@pytest.mark.parametrize("text", ['{"query": "ada"', "{'query': 'ada'}", "", "[1, 2]"])
def test_malformed_argument_json_is_a_validation_error_saying_so(text: str) -> None:
    box = make_box()
    calls = openai.parse_tool_calls([{"id": "c", "type": "function",
                                      "function": {"name": "search_customers", "arguments": text}}])
    result = box.execute_sync(calls[0])
    assert result.error is not None and result.error.category == "validation"
    if text.startswith("{"):
        assert "not valid JSON" in result.error.message
    elif text:
        assert "must be a JSON object" in result.error.message
    else:
        assert "query" in result.error.message  # empty text is no arguments at all
