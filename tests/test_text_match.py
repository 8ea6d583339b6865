"""Text matching modes (reference §13) and the query/schema items of §12, written from the reference's examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from armorer_ray import ConfigError, Lifecycle, Tool, Toolbox, query_tools, tool
from armorer_ray.query import ToolQuery
from armorer_ray.text_match import TextQuery, score_text_match, text_matches


def send_email() -> Tool:
    return tool(name="send-email", description="Send an email", tags=["read-only", "communication"],
                metadata={"ownerTeam": "growth"})(lambda userId: None)


def matches(query: str, mode: str = "contains", **extra: object) -> bool:
    return score_text_match(send_email(), TextQuery(query=query, mode=mode, **extra)).score > 0  # type: ignore[arg-type]


@pytest.mark.parametrize(("query", "expected"), [
    ("mail", True), ("user id", True), ("userid", True), ("read-only", True), ("readonly", False), ("owner", True),
])
def test_contains_examples_from_the_reference(query: str, expected: bool) -> None:
    assert matches(query) is expected


@pytest.mark.parametrize(("query", "expected"), [("email", True), ("mail", False), ("read-only", False)])
def test_exact_examples_from_the_reference(query: str, expected: bool) -> None:
    assert matches(query, "exact") is expected


@pytest.mark.parametrize(("query", "expected"), [("comunication", True), ("emial", False), ("sned", False)])
def test_fuzzy_examples_from_the_reference(query: str, expected: bool) -> None:
    assert matches(query, "fuzzy") is expected


def test_fields_restrict_where_words_are_looked_for_and_weights_scale_scores() -> None:
    assert not matches("owner", fields=["name", "description"])
    assert matches("owner", fields=["metadataKeys"])
    plain = score_text_match(send_email(), TextQuery(query="email"))
    weighted = score_text_match(send_email(), TextQuery(query="email", weights={"name": 3, "description": -1}))
    assert plain.reasons == ("name", "description")
    assert weighted.score == 3 and weighted.reasons == ("name",)
    keyed = score_text_match(send_email(), TextQuery(query="user owner communication"))
    assert (keyed.schema_matches, keyed.metadata_matches, keyed.tag_matches) == (
        ("userId",), ("ownerTeam",), ("communication",))


def test_blank_queries_match_everything_and_score_nothing() -> None:
    assert text_matches("   ")(send_email())
    assert score_text_match(send_email(), "  ").reasons == ()
    assert query_tools([send_email()], text=TextQuery(query="  "), select="name") == ["send-email"]


def test_threshold_is_clamped_and_non_finite_means_the_default() -> None:
    assert TextQuery(query="x", threshold=5).threshold == 1.0
    assert TextQuery(query="x", threshold=-1).threshold == 0.0
    assert TextQuery(query="x", threshold=float("nan")).threshold == 0.7


@given(st.text(alphabet="abcdefghij", min_size=8, max_size=14), st.data())
def test_fuzzy_tolerates_thirty_percent_substitutions_and_not_one_more(base: str, data: st.DataObject) -> None:
    allowed = int(len(base) * 0.3)
    positions = data.draw(st.lists(st.integers(0, len(base) - 1), min_size=allowed + 1, max_size=allowed + 1,
                                   unique=True))
    def mutate(count: int) -> str:
        chars = list(base)
        for p in positions[:count]:
            chars[p] = "z"  # never in the alphabet, so every substitution is a real change
        return "".join(chars)
    target = tool(name=base, description="x")(lambda: None)
    fuzzy = lambda q: score_text_match(target, TextQuery(query=q, mode="fuzzy", fields=["name"])).score > 0  # noqa: E731
    assert fuzzy(mutate(allowed))
    assert not fuzzy(mutate(allowed + 1))


@given(st.floats(0, 1), st.floats(0, 1))
def test_fuzzy_matching_is_monotonic_in_the_threshold(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    target = send_email()
    for query in ("comunication", "emial", "sendd"):
        if score_text_match(target, TextQuery(query=query, mode="fuzzy", threshold=high)).score > 0:
            assert score_text_match(target, TextQuery(query=query, mode="fuzzy", threshold=low)).score > 0


# -- query_tools with text --------------------------------------------------------------------------------------

def box() -> Toolbox:
    return Toolbox([
        send_email(),
        tool(name="getWeather", description="Forecast for a city.", tags=["weather"])(lambda city: city),
        tool(name="fetch-invoices", description="List invoices.", metadata={"billingArea": "eu"})(lambda: 1),
    ])


def test_a_plain_text_query_finds_tools_by_substring_and_metadata_keys() -> None:
    assert box().query(text="mail", select="name") == ["send-email"]
    assert box().query(text="billing", select="name") == ["fetch-invoices"]
    assert box().query(text="weather forecast", select="name") == ["getWeather"]


def test_a_text_query_object_or_mapping_chooses_the_mode() -> None:
    assert box().query(text={"query": "emial", "mode": "fuzzy", "threshold": 0.5}, select="name") == ["send-email"]
    assert box().query(text=TextQuery(query="mail", mode="exact"), select="name") == []
    ranked = query_tools(box(), text=TextQuery(query="invoices email", fields=["name"]), select="name")
    assert ranked == ["send-email", "fetch-invoices"]


# -- §12 query and schema items ---------------------------------------------------------------------------------

class Probe(BaseModel):
    userId: str


class Other(BaseModel):
    city: str
    days: int


def test_loose_schema_match_requires_every_probe_field_and_ignores_types() -> None:
    assert box().query(schema={"matches": Probe}, select="name") == ["send-email"]
    assert box().query(schema_matches=Other, select="name") == []
    assert query_tools(box(), {"schema": {"matches": Probe, "keys": ["USERID"]}}, select="name") == ["send-email"]


def test_schema_keys_given_empty_exclude_tools_without_parameters() -> None:
    assert box().query(schema={"keys": []}, select="name") == ["send-email", "getWeather"]
    assert box().query(select="name") == ["send-email", "getWeather", "fetch-invoices"]


def test_summaries_include_the_schema_on_request_and_flag_deprecation() -> None:
    old = tool(name="old", description="Old.", lifecycle=Lifecycle(deprecated=True, replaced_by="new"))(lambda: 1)
    [plain] = query_tools([old], select="summary")
    [full] = query_tools([old], select="summary", include_schema=True)
    assert "schema" not in plain and full["schema"]["type"] == "object"
    assert full["deprecated"] is True and full["lifecycle"]["replaced_by"] == "new"
    assert box().query(select="summary", include_schema=True)[0]["schema"]["required"] == ["userId"]


def test_query_input_errors_are_typed() -> None:
    with pytest.raises(ConfigError, match="expects a toolbox, a tool or an iterable"):
        query_tools(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="query expects a ToolQuery"):
        query_tools(box(), 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="query expects a ToolQuery"):
        box().query(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expects tools"):
        query_tools([1, 2])  # type: ignore[list-item]


def test_a_single_tool_and_a_toolbox_are_accepted_as_input() -> None:
    assert query_tools(send_email(), select="name") == ["send-email"]
    assert query_tools(box(), tags_any=["weather"], select="name") == ["getWeather"]
    assert ToolQuery(schema={"keys": ["a"]}).schema_keys == ("a",)
