"""Querying: predicates, boolean groups, BM25 ranking, paging and selection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import ConfigError, MetadataFilter, Toolbox, ToolQuery, query_tools, tool
from armorer_ray.query import NumberRange, RiskFilter
from armorer_ray.text import normalize_text, similarity, tokenize


def make_box() -> Toolbox:
    return Toolbox([
        tool(name="send-email", description="Send an email", tags=["read-only", "communication"],
             metadata={"ownerTeam": "growth", "tier": 2, "channels": ["email", "sms"]})(lambda userId: userId),
        tool(name="getWeather", namespace="geo", description="Forecast for a city", tags=["weather"],
             metadata={"ownerTeam": "maps", "tier": 1}, read_only=True)(lambda city, days: city),
        tool(name="delete_user", description="Remove a user account forever", tags=["admin"], dangerous=True,
             mutates=True)(lambda user_id: user_id),
        tool(name="list_files", description="List files in a folder", version="1.2.0")(lambda path: path),
    ])


def names(found: list[object]) -> list[str]:
    return [t.name for t in found]  # type: ignore[attr-defined]


def test_tags_are_case_insensitive_and_empty_lists_mean_no_constraint() -> None:
    box = make_box()
    assert names(box.query(tags_any=["WEATHER", "admin"])) == ["getWeather", "delete_user"]
    assert names(box.query(tags_all=["read-only", "Communication"])) == ["send-email"]
    assert names(box.query(tags_none=["admin", "weather"])) == ["send-email", "list_files"]
    assert len(box.query(tags_any=[], tags_all=[" "])) == 4


def test_namespace_version_schema_and_risk() -> None:
    box = make_box()
    assert names(box.query(namespaces=["geo"])) == ["getWeather"]
    assert names(box.query(versions=["1.2.0"])) == ["list_files"]
    assert names(box.query(schema_keys=["USERID"])) == ["send-email"]
    assert names(box.query(risk=RiskFilter(dangerous=True))) == ["delete_user"]
    # The tag read-only declares send-email read-only, as the option does getWeather (one risk, see ToolRisk).
    assert names(box.query(risk=RiskFilter(read_only=True, mutates=False))) == ["send-email", "getWeather"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (MetadataFilter(has=("ownerTeam",)), ["send-email", "getWeather"]),
        (MetadataFilter(eq={"tier": 1}), ["getWeather"]),
        (MetadataFilter(contains={"ownerTeam": "row"}), ["send-email"]),
        (MetadataFilter(contains={"channels": "sms"}), ["send-email"]),
        (MetadataFilter(contains={"channels": ["sms", "email"]}), ["send-email"]),
        (MetadataFilter(contains={"tier": [1, 3]}), ["getWeather"]),
        (MetadataFilter(starts_with={"ownerTeam": "ma"}), ["getWeather"]),
        (MetadataFilter(range={"tier": NumberRange(min=2)}), ["send-email"]),
        (MetadataFilter(range={"ownerTeam": NumberRange(min=0)}), []),
    ],
)
def test_metadata_conditions(condition: MetadataFilter, expected: list[str]) -> None:
    assert names(make_box().query(metadata=condition)) == expected


def test_boolean_groups_and_raising_predicates() -> None:
    box = make_box()
    either = ToolQuery(any_of=(ToolQuery(namespaces=("geo",)), ToolQuery(tags_any=("admin",))))
    assert names(box.query(either)) == ["getWeather", "delete_user"]
    both = ToolQuery(all_of=(ToolQuery(tags_any=("weather",)), ToolQuery(namespaces=("geo",))))
    assert names(box.query(both)) == ["getWeather"]
    neither = ToolQuery(none_of=(ToolQuery(tags_any=("weather",)), ToolQuery(text="email")))
    assert names(box.query(neither)) == ["delete_user", "list_files"]
    assert box.query(predicate=lambda t: 1 / 0) == []
    assert names(box.query(predicate=lambda t: t.name.startswith("list"))) == ["list_files"]


def test_text_ranks_with_bm25_and_explains_reasons() -> None:
    box = make_box()
    assert names(box.query(text="remove the user account")) == ["delete_user", "send-email"]
    assert names(box.query(text="city weather forecast")) == ["getWeather"]
    assert box.query(text="   ") == box.tools()
    assert box.query(text="zzz") == []
    matches = box.lexical_index().search("email folder")
    assert {(m.tool.name, m.matched_terms) for m in matches} == {("list_files", ("folder",)),
                                                                  ("send-email", ("email",))}
    assert all(m.score > 0 for m in matches)


def test_paging_and_selection() -> None:
    box = make_box()
    assert box.query(offset=1, limit=2, select="name") == ["getWeather", "delete_user"]
    assert box.query(limit=0, select="name") == box.query(select="name")
    summary = box.query(namespaces=["geo"], select="summary")[0]
    assert summary["id"] == "geo:getWeather" and summary["schema_keys"] == ["city", "days"]
    with pytest.raises(ConfigError, match="invalid query"):
        box.query(colour="red")
    with pytest.raises(ConfigError, match="not both"):
        query_tools(box, ToolQuery(), text="x")


def test_query_index_follows_registration_changes() -> None:
    box = make_box()
    assert box.query(text="invoice") == []
    box.register(tool(name="create_invoice", description="Bill a customer.")(lambda: 1))
    assert names(box.query(text="invoice")) == ["create_invoice"]
    box.unregister("create_invoice")
    assert box.query(text="invoice") == []


def test_query_emits_an_event() -> None:
    box = make_box()
    seen: list[object] = []
    box.on("query", lambda e: seen.append(e.detail["results"]))
    box.query(tags_any=["admin"], select="name")
    assert seen == [["delete_user"]]


@given(st.integers(0, 6), st.integers(0, 6))
def test_paging_partitions_the_results(offset: int, limit: int) -> None:
    box = make_box()
    everything = box.query(select="name")
    page = box.query(offset=offset, limit=limit, select="name")
    assert page == (everything[offset:offset + limit] if limit >= 1 else everything[offset:])


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("fooId", ["foo", "id"]), ("send-email", ["send", "email"]), ("Café élan", ["cafe", "elan"]),
     ("HTTPServer", ["http", "server"]), ("utf8Decode", ["utf", "8", "decode"]), ("", [])],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_normalize_and_similarity() -> None:
    assert normalize_text("Ünïcode") == "unicode"
    assert similarity("abc", "abc") == 1.0 and similarity("", "x") == 0.0
    assert similarity("emial", "email") == pytest.approx(0.6)


@given(st.text(max_size=30))
def test_tokenize_is_idempotent_on_its_output(text: str) -> None:
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens


def test_the_keyword_criteria_type_lists_every_query_field() -> None:
    # ToolQueryFields types query(**criteria); a field added to ToolQuery must be added there too.
    from armorer_ray.query import ToolQueryFields

    assert set(ToolQueryFields.__annotations__) == set(ToolQuery.model_fields) | {"schema"}


def test_summaries_have_the_documented_keys() -> None:
    from armorer_ray.query import ToolSummary

    summaries = make_box().query(select="summary", include_schema=True)
    required = ToolSummary.__required_keys__
    assert summaries and all(required <= set(s) <= set(ToolSummary.__annotations__) for s in summaries)
