"""Tools: definition from functions and models, tags, metadata, risk, serialization, calling forms."""

from __future__ import annotations

import pickle
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from ray import cloudpickle

from armorer_ray import (
    CallContext,
    ConfigError,
    OutputShaping,
    Tool,
    Toolbox,
    ToolCall,
    ToolExecutionError,
    lazy,
    tool,
    with_context,
)


@tool
def greet(name: str, excited: bool = False) -> str:
    """Greet someone by name.

    Args:
        name: Who to greet.
        excited: Add an exclamation mark.
    """
    return f"Hello, {name}{'!' if excited else '.'}"


async def test_tool_from_sync_function_reads_signature_and_docstring() -> None:
    assert greet.name == "greet"
    assert greet.description == "Greet someone by name."
    schema = greet.json_schema
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"] == {"description": "Who to greet.", "type": "string"}
    assert schema["properties"]["excited"]["default"] is False
    assert schema["$schema"].endswith("2020-12/schema")
    assert await greet(name="Ada", excited=True) == "Hello, Ada!"


async def test_annotated_field_description_wins_over_docstring() -> None:
    @tool
    async def search(query: Annotated[str, Field(description="Full-text query", min_length=1)], k: int = 5) -> list[str]:
        """Search.

        Args:
            query: ignored because Field gives one.
        """
        return [query] * k

    assert search.json_schema["properties"]["query"]["description"] == "Full-text query"
    result = await search.execute({"query": ""})
    assert result.error is not None and result.error.category == "validation"
    assert "query" in result.error.message


def test_context_parameter_is_hidden_from_schema() -> None:
    @tool
    def whoami(ctx: CallContext, loud: bool = False) -> str | None:
        """Who is calling."""
        return ctx.user_id

    assert list(whoami.json_schema["properties"]) == ["loud"]
    assert whoami.execute_sync(ToolCall(name="whoami", user_id="u1")).result == "u1"


def test_explicit_tool_with_model_and_with_field_mapping() -> None:
    class Move(BaseModel):
        x: int
        y: int = 0

    move = Tool(lambda x, y: (x, y), name="move", description="Move a point.", parameters=Move)
    assert move.execute_sync({"x": 1}).result == (1, 0)
    fields = Tool(lambda text, times: text * times, name="repeat", description="Repeat text.",
                  parameters={"text": str, "times": (int, 2)})
    assert fields.execute_sync({"text": "ab"}).result == "abab"
    assert fields.json_schema["required"] == ["text"]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["Bad Tag"], 'tag "Bad Tag" must be kebab-case'),
        ([""], "tag must not be empty"),
        ([3], "tag must be a string"),
        (["snake_case"], "must be kebab-case"),
    ],
)
def test_invalid_tags_are_refused_with_the_tag_named(tags: list[object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tool(name="t", description="T.", tags=tags)(lambda: None)  # type: ignore[arg-type]


def test_tags_deduplicate_and_risk_tags_are_appended() -> None:
    t = tool(name="t", description="T.", tags=["x", "x", " y "], metadata={"mutates": True, "dangerous": True})(
        lambda: None
    )
    assert t.tags == ("x", "y", "mutating", "dangerous")
    assert t.risk.mutates and t.risk.dangerous and t.is_mutating and t.is_dangerous


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"when": object()}, "at metadata.when"),
        ({"nested": {"value": float("inf")}}, "Non-finite number at metadata.nested.value"),
        ({"items": [1, print]}, "Function is not valid JSON at metadata.items[1]"),
        ({"key": {1: "x"}}, "Non-string key 1 is not valid JSON at metadata.key"),
    ],
)
def test_non_json_metadata_is_refused_with_its_path(metadata: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        tool(name="t", description="T.", metadata=metadata)(lambda: None)  # type: ignore[arg-type]


def test_circular_metadata_is_refused() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ConfigError, match="Circular reference detected at metadata.self"):
        tool(name="t", description="T.", metadata=loop)(lambda: None)  # type: ignore[arg-type]


def test_missing_description_and_star_args_are_config_errors() -> None:
    def undocumented() -> None:
        pass

    with pytest.raises(ConfigError, match="needs a description"):
        tool(undocumented)
    with pytest.raises(ConfigError, match="needs a name"):
        tool(lambda: None)
    with pytest.raises(ConfigError, match=r"cannot take \*args"):

        @tool
        def bad(*args: int) -> None:
            """Bad."""


def test_ids_namespaces_and_versions() -> None:
    t = greet.replace(namespace="team/tools", version="1.0.0+exp")
    assert t.id == "team%2Ftools:greet@1.0.0%2Bexp"
    assert repr(t) == "Tool('team%2Ftools:greet@1.0.0%2Bexp')"
    assert str(t) == "greet"
    assert t.describe() == "**greet**: Greet someone by name."


def test_risk_classification_precedence() -> None:
    explicit = tool(name="a", description="A.", read_only=True, tags=["mutating"])(lambda: None)
    assert explicit.is_mutating is False and explicit.idempotent is True
    by_tag = tool(name="b", description="B.", tags=["mutating"])(lambda: None)
    assert by_tag.is_mutating is True and by_tag.idempotent is False
    meta = tool(name="c", description="C.", metadata={"readOnly": True})(lambda: None)
    assert meta.is_read_only and "readonly" in meta.tags


async def test_calling_a_tool_raises_a_typed_error_on_failure() -> None:
    @tool
    async def boom() -> None:
        """Fail."""
        raise KeyError("user")

    with pytest.raises(ToolExecutionError) as info:
        await boom()
    assert info.value.error.code == "KeyError"
    assert info.value.error.category == "internal"


async def test_execute_accepts_call_shaped_mappings_and_plain_params() -> None:
    as_call = await greet.execute({"id": "c-1", "name": "greet", "arguments": {"name": "A"}})
    assert as_call.call_id == "c-1" and as_call.tool_call_id == "c-1"
    as_params = await greet.execute({"name": "B"})
    assert as_params.result == "Hello, B."
    # 'arguments' alone plus an unrelated key is params, not a call
    mixed = await greet.execute({"arguments": {}, "name": "C"})
    assert mixed.error is not None and mixed.error.category == "validation"


async def test_output_model_report_and_strict() -> None:
    class Out(BaseModel):
        total: int

    loose = tool(name="sum", description="Sum.", output_model=Out)(lambda: {"total": "many"})
    reported = await loose.execute({})
    assert reported.outcome == "success"
    assert reported.output_validation is not None and not reported.output_validation.success
    strict = loose.replace(output_validation="strict")
    failed = await strict.execute({})
    assert failed.error is not None and failed.error.code == "VALIDATION_ERROR"
    good = loose.replace(name="good")
    good_result = await tool(name="ok", description="Ok.", output_model=Out)(lambda: {"total": "3"}).execute({})
    assert good_result.result == Out(total=3) and good_result.output_validation.success  # type: ignore[union-attr]
    assert good.output_json_schema is not None and good.output_json_schema["required"] == ["total"]


async def test_dry_run_uses_the_handler_or_fails_clearly() -> None:
    @tool(dry_run=lambda to: f"would email {to}", mutates=True)
    def email(to: str) -> str:
        """Send an email."""
        raise AssertionError("must not run in a dry run")

    rehearsal = await email.execute({"to": "a@b.c"}, dry_run=True)
    assert rehearsal.dry_run and rehearsal.result == "would email a@b.c"
    no_handler = await greet.execute({"name": "x"}, dry_run=True)
    assert no_handler.error is not None and "does not support dryRun" in no_handler.error.message


async def test_output_shaping_truncates_and_serializes() -> None:
    big = tool(name="big", description="Big.", output=OutputShaping(serialization="string", max_bytes=10))(
        lambda: {"data": "x" * 100}
    )
    result = await big.execute({})
    assert result.content == '{"data":"x...'
    assert result.result == {"data": "x" * 100}
    unicode = tool(name="u", description="U.", output=OutputShaping(max_bytes=5, suffix="…"))(lambda: "ééééé")
    assert (await unicode.execute({})).content == "éé…"


async def test_lazy_and_import_string_bodies_load_on_first_call() -> None:
    loads = []

    def loader():  # type: ignore[no-untyped-def]
        loads.append(1)
        return lambda a: a * 2

    doubled = Tool(lazy(loader), name="double", description="Double.", parameters={"a": int})
    assert loads == []
    assert (await doubled.execute({"a": 2})).result == 4
    assert (await doubled.execute({"a": 3})).result == 6
    assert loads == [1]
    dumps = Tool("json:dumps", name="dumps", description="JSON.", parameters={"obj": object})
    assert (await dumps.execute({"obj": [1]})).result == "[1]"
    broken = Tool("no_such_module:fn", name="broken", description="Broken.", parameters={})
    failed = await broken.execute({})
    assert failed.error is not None and failed.error.code == "BODY_LOAD_FAILED"


async def test_failing_lazy_loader_is_retried_next_call() -> None:
    attempts = []

    def loader():  # type: ignore[no-untyped-def]
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("lazy load failed")
        return lambda: "ok"

    flaky = Tool(lazy(loader), name="flaky", description="Flaky.", parameters={})
    first = await flaky.execute({})
    assert first.error is not None and "lazy load failed" in first.error.message
    assert (await flaky.execute({})).result == "ok"


async def test_with_context_values_override_the_toolbox_context() -> None:
    @tool
    def where(ctx: CallContext) -> str:
        """Where."""
        return f"{ctx['region']}/{ctx.get('zone', '-')}"

    box = Toolbox([with_context(where, {"region": "eu"})], context={"region": "us", "zone": "a"})
    assert (await box.execute({"name": "where"})).result == "eu/a"


def test_tools_pickle_and_keep_behaviour() -> None:
    clone = pickle.loads(pickle.dumps(greet))
    assert clone.id == greet.id and clone.json_schema == greet.json_schema
    assert clone.execute_sync({"name": "P"}).result == "Hello, P."


# Named only in annotations below: a body pickled by value (cloudpickle, as Ray does) does not bring them along.
Unit = Literal["celsius", "fahrenheit"]


class Place(BaseModel):
    city: str


def shout(text: str) -> str:
    """Upper-case text."""
    return text.upper()


def test_a_tool_pickled_by_value_keeps_its_schema_and_context_where_hints_cannot_resolve() -> None:
    @tool
    def forecast(ctx: CallContext, place: Place, unit: Unit = "celsius") -> str:
        """Forecast for a place.

        Args:
            place: Where.
            unit: Temperature unit.
        """
        return f"{ctx.tenant_id}:{place.city}:{unit}"

    clone = cloudpickle.loads(cloudpickle.dumps(forecast))
    assert clone.json_schema == forecast.json_schema and clone.description == forecast.description
    call = ToolCall(name="forecast", arguments={"place": {"city": "Oslo"}, "unit": "fahrenheit"}, tenant_id="acme")
    assert clone.execute_sync(call).result == "acme:Oslo:fahrenheit"
    refused = clone.execute_sync({"place": {"city": "Oslo"}, "unit": "kelvin"})
    assert refused.error is not None and refused.error.category == "validation"


def test_a_tool_with_explicit_parameters_keeps_its_context_parameter_through_cloudpickle() -> None:
    def tenant(who: CallContext, n: int) -> str:
        return f"{who.tenant_id}x{n}"

    original = Tool(tenant, description="Tenant times n.", parameters={"n": int})
    clone = cloudpickle.loads(cloudpickle.dumps(original))
    assert clone.json_schema == original.json_schema and clone.options == original.options
    assert clone.execute_sync(ToolCall(name="tenant", arguments={"n": 2}, tenant_id="t")).result == "tx2"


@pytest.mark.parametrize("pickler", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_a_tool_over_an_importable_function_round_trips_through_pickle_and_cloudpickle(pickler: Any) -> None:
    original = Tool(shout, name="loud", tags=["text"])  # the body travels by reference: plain pickle works too
    clone = pickler.loads(pickler.dumps(original))
    assert (clone.id, clone.tags, clone.json_schema) == (original.id, original.tags, original.json_schema)
    assert clone.execute_sync({"text": "hi"}).result == "HI"


def test_to_json_has_sorted_keys_and_definition_shape() -> None:
    t = tool(name="t", description="T.", version="2", tags=["b-tag"], metadata={"z": 1, "a": {"y": 2, "x": 1}},
             examples=[{"q": 1}])(lambda q: q)
    definition = t.to_json()
    assert list(definition) == sorted(definition)
    assert definition["schemaVersion"] == "2020-12"
    assert definition["identity"] == {"namespace": "default", "name": "t", "version": "2"}
    assert list(definition["metadata"]) == ["a", "z"] and list(definition["metadata"]["a"]) == ["x", "y"]
    assert definition["display"]["examples"] == [{"q": 1}]


async def test_sync_bodies_run_off_the_event_loop() -> None:
    import threading

    main = threading.get_ident()
    threaded = tool(name="tid", description="Thread id.")(lambda: threading.get_ident())
    inline = threaded.replace(name="tid2", threaded=False)
    assert (await threaded.execute({})).result != main
    assert (await inline.execute({})).result == main
