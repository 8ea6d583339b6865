"""TenantAccess: grants by id, version, namespace, tag or predicate, enforced when a call is resolved."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import Caller, ConfigError, Toolbox, ToolCall, ToolResult, tool
from armorer_ray.tenancy import TenantAccess, TenantGrant
from armorer_ray.testing import mock_tool
from armorer_ray.tools import Tool


def _echo(name: str, *, namespace: str = "default", version: str | None = None, tags: tuple[str, ...] = ()) -> Tool:
    def body(text: str) -> str:
        return f"{namespace}:{name}@{version}:{text}"

    made = tool(name=name, namespace=namespace, tags=list(tags), description=f"Echo {name}.")(body)
    return made.replace(version=version) if version is not None else made


def test_each_clause_of_a_grant_shows_its_tools_and_only_them() -> None:
    tools = [_echo("find", namespace="crm"), _echo("faq", tags=("public",)), _echo("wire", namespace="bank"),
             _echo("report", version="2.0.0"), _echo("report", namespace="hr", version="1.0.0")]
    access = TenantAccess({"acme": TenantGrant(namespaces={"crm"}, tags={"public"}, tools={"default:report"})})
    box = Toolbox(tools, policy=access)
    shown = [t.id for t in box.tools() if box.is_visible(t, Caller(tenant_id="acme"))]
    assert shown == ["crm:find", "default:faq", "default:report@2.0.0"]


def test_a_versioned_grant_resolves_a_bare_name_to_the_version_the_tenant_may_use() -> None:
    v1, v2 = _echo("report", version="1.0.0"), _echo("report", version="2.0.0")
    box = Toolbox([v1, v2], policy=TenantAccess({"old": TenantGrant(tools={"default:report@1.0.0"}),
                                                 "new": TenantGrant(tools={"report"})}))
    old = box.execute_sync(ToolCall(name="report", arguments={"text": "x"}, tenant_id="old"))
    new = box.execute_sync(ToolCall(name="report", arguments={"text": "x"}, tenant_id="new"))
    assert old.result == "default:report@1.0.0:x"
    assert new.result == "default:report@2.0.0:x"
    namespaced = box.execute_sync(ToolCall(name="default:report", arguments={"text": "x"}, tenant_id="old"))
    assert namespaced.result == "default:report@1.0.0:x"


def test_a_hidden_tool_answers_exactly_like_a_missing_one_even_with_bad_arguments() -> None:
    box = Toolbox([_echo("find"), _echo("secret")], policy=TenantAccess({"acme": TenantGrant(tools={"find"})}))
    hidden = box.execute_sync(ToolCall(name="secret", arguments={"wrong": 1}, tenant_id="acme"))
    missing = box.execute_sync(ToolCall(name="nothing", arguments={"wrong": 1}, tenant_id="acme"))
    assert hidden.error is not None and missing.error is not None
    assert hidden.error.category == missing.error.category == "not_found"
    assert hidden.error.message == "Tool not found: secret. Available tools: find"
    assert missing.error.message.replace("nothing", "secret") == hidden.error.message
    by_id = box.execute_sync(ToolCall(name="default:secret", arguments={"text": "x"}, tenant_id="acme"))
    assert by_id.error is not None and by_id.error.category == "not_found"


def test_hidden_calls_never_reach_the_body_or_the_middleware() -> None:
    secret = mock_tool("secret")
    seen: list[str] = []

    async def spy(call: ToolCall, ctx: object, next: object) -> object:
        seen.append(call.name)
        return await next(call, ctx)  # type: ignore[operator]

    box = Toolbox([secret], policy=TenantAccess({"acme": TenantGrant()}), middleware=[spy])  # type: ignore[list-item]
    assert _category(box.execute_sync(ToolCall(name="secret", tenant_id="acme"))) == "not_found"
    assert secret.calls == [] and seen == []


def test_calls_without_a_tenant_see_nothing_unless_a_default_tenant_is_named() -> None:
    grants = {"public": TenantGrant(tags={"public"})}
    strict = Toolbox([_echo("faq", tags=("public",))], policy=TenantAccess(grants))
    lenient = Toolbox([_echo("faq", tags=("public",))], policy=TenantAccess(grants, default_tenant="public"))
    call = ToolCall(name="faq", arguments={"text": "hi"})
    strict_result = strict.execute_sync(call)
    assert strict_result.error is not None and strict_result.error.message == "Tool not found: faq. Available tools: "
    assert lenient.execute_sync(call).result == "default:faq@None:hi"
    assert strict.execute_sync(call.model_copy(update={"tenant_id": "public"})).ok


def test_shared_tools_reach_every_tenant_and_unknown_tenants_see_only_them() -> None:
    access = TenantAccess({"acme": TenantGrant(tools={"crm"})}, shared=TenantGrant(tags={"public"}))
    box = Toolbox([_echo("crm"), _echo("faq", tags=("public",))], policy=access)
    assert [t.name for t in box.tools() if box.is_visible(t, Caller(tenant_id="acme"))] == ["crm", "faq"]
    assert [t.name for t in box.tools() if box.is_visible(t, Caller(tenant_id="stranger"))] == ["faq"]


def test_a_predicate_must_say_true_and_one_that_raises_hides_the_tool() -> None:
    def broken(found: Tool) -> bool:
        raise RuntimeError("bug in the grant")

    access = TenantAccess({"truthy": lambda found: "yes", "broken": broken, "ok": lambda found: True})  # type: ignore[dict-item,arg-type,return-value]
    box = Toolbox([mock_tool("find")], policy=access)
    results = {t: box.execute_sync(ToolCall(name="find", tenant_id=t)) for t in ("truthy", "broken", "ok")}
    assert {t: r.error.category if r.error else "ok" for t, r in results.items()} == {
        "truthy": "not_found", "broken": "not_found", "ok": "ok"}


def test_grants_are_copied_so_later_edits_do_not_widen_them() -> None:
    grants = {"acme": TenantGrant(tools={"find"})}
    box = Toolbox([mock_tool("find"), mock_tool("wire")], policy=TenantAccess(grants))
    grants["acme"] = TenantGrant(tools={"wire"})
    grants["mallory"] = TenantGrant(tools={"wire"})
    assert _category(box.execute_sync(ToolCall(name="wire", tenant_id="acme"))) == "not_found"
    assert _category(box.execute_sync(ToolCall(name="wire", tenant_id="mallory"))) == "not_found"


def test_combined_and_extended_toolboxes_keep_the_rule() -> None:
    box = Toolbox([mock_tool("find")], policy=TenantAccess({"acme": TenantGrant(tools={"find"})}))
    bigger = box.extend(mock_tool("wire"))
    assert _category(bigger.execute_sync(ToolCall(name="wire", tenant_id="acme"))) == "not_found"
    assert bigger.execute_sync(ToolCall(name="find", tenant_id="acme")).ok


@pytest.mark.parametrize("bad", [
    lambda: TenantAccess({"": TenantGrant()}),
    lambda: TenantAccess({"acme": "find"}),  # type: ignore[dict-item]
    lambda: TenantAccess({}, shared=42),  # type: ignore[arg-type]
    lambda: TenantAccess({}, default_tenant=""),
])
def test_bad_access_options_are_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError):
        bad()  # type: ignore[operator]


@pytest.mark.parametrize(("bad", "message"), [(" ", "ToolId must not be empty"), (":", "requires a name")])
def test_a_tool_id_that_does_not_parse_is_a_validation_error(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TenantGrant(tools={bad})


_words = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12).filter(str.strip)
_kebab = st.from_regex(r"[a-z][a-z0-9]{0,4}(-[a-z0-9]{1,4}){0,2}", fullmatch=True)
_ids = st.builds(lambda ns, name, version: f"{ns}:{name}" + (f"@{version}" if version else ""),
                 _kebab, _kebab, st.sampled_from(["", "1.0.0", "2.1.3"]))


@given(tools=st.frozensets(st.one_of(_ids, _kebab), max_size=4), namespaces=st.frozensets(_words, max_size=4),
       tags=st.frozensets(_words, max_size=4))
def test_a_grant_survives_a_json_and_pickle_round_trip(tools: frozenset[str], namespaces: frozenset[str],
                                                      tags: frozenset[str]) -> None:
    import pickle

    grant = TenantGrant(tools=tools, namespaces=namespaces, tags=tags)
    assert TenantGrant.model_validate_json(grant.model_dump_json()) == grant
    assert pickle.loads(pickle.dumps(grant)) == grant


@given(namespace=_kebab, tag=_kebab, other=_kebab)
def test_a_grant_shows_exactly_the_tools_a_clause_names(namespace: str, tag: str, other: str) -> None:
    found = mock_tool("find", namespace=namespace, tags=[tag])
    assert TenantGrant(namespaces={namespace}).allows(found)
    assert TenantGrant(tags={tag}).allows(found)
    assert TenantGrant(namespaces={other}).allows(found) == (other == namespace)
    assert TenantGrant(tags={other}).allows(found) == (other == tag)
    assert not TenantGrant().allows(found)


def _category(result: ToolResult) -> str | None:
    return result.error.category if result.error is not None else None
