"""TenantView: listings, search, provider exports and calls show and reach only the tenant's tools."""

from __future__ import annotations

import pytest

from armorer_ray import CallContext, ConfigError, Toolbox, ToolCall, tool
from armorer_ray.adapters import create_name_mapper, to_anthropic, to_openai
from armorer_ray.embeddings.index import ToolIndex
from armorer_ray.embeddings.testing import HashingEmbedder
from armorer_ray.tenancy import TenantAccess, TenantGrant, TenantView
from armorer_ray.testing import mock_tool


def _box() -> Toolbox:
    tools = [mock_tool("send_email", namespace="crm", description="Send an email to a customer."),
             mock_tool("refund_order", namespace="billing", description="Refund a customer order."),
             mock_tool("email_payroll", namespace="hr", description="Email the payroll report.")]
    access = TenantAccess({"acme": TenantGrant(namespaces={"crm", "billing"}), "globex": TenantGrant(namespaces={"hr"})})
    return Toolbox(tools, policy=access)


def test_every_listing_shows_only_the_tenants_tools() -> None:
    box = _box()
    acme = TenantView(box, "acme")
    assert acme.ids() == ["crm:send_email", "billing:refund_order"]
    assert [t.name for t in acme] == ["send_email", "refund_order"] and len(acme) == 2
    assert [d["id"] for d in acme.to_json()] == acme.ids()
    assert "send_email" in acme and "email_payroll" not in acme and "hr:email_payroll" not in acme
    assert acme.get_tool("email_payroll") is None and box.get_tool("email_payroll") is not None


def test_provider_exports_of_a_view_hold_only_the_tenants_tools() -> None:
    acme = TenantView(_box(), "acme")
    assert [d["function"]["name"] for d in to_openai(acme)] == ["send_email", "refund_order"]
    assert [d["name"] for d in to_anthropic(acme)] == ["send_email", "refund_order"]
    mapper = create_name_mapper(acme)
    assert mapper("crm_send_email") == "crm:send_email" and mapper("hr_email_payroll") == "hr_email_payroll"


def test_query_ranks_among_the_tenants_tools_only() -> None:
    globex = TenantView(_box(), "globex")
    assert globex.query(text="email", select="name") == ["email_payroll"]
    assert [t.id for t in TenantView(_box(), "acme").query(text="email")] == ["crm:send_email"]


async def test_search_returns_k_hits_from_the_tenants_tools() -> None:
    box = _box()
    box.register(*[mock_tool(f"email_tool_{n}", namespace="hr", description="Email things.") for n in range(8)])
    box.set_tool_index(ToolIndex(box, embedder=HashingEmbedder()))
    hits = await TenantView(box, "acme").search("email a customer", k=2)
    assert {hit.id for hit in hits} == {"crm:send_email", "billing:refund_order"}
    assert all(hit.id.startswith("hr:") for hit in await TenantView(box, "globex").search("email", k=3))
    assert await TenantView(box, "nobody").search("email", k=3) == []


def test_calls_through_a_view_are_made_as_its_tenant() -> None:
    box = _box()
    acme = TenantView(box, "acme")
    result = acme.execute_sync({"name": "send_email", "arguments": {"to": "ada"}})
    assert result.ok
    sent = box.get_tool("crm:send_email")
    assert sent.calls == [{"to": "ada"}]  # type: ignore[union-attr]
    batch = acme.execute_sync([ToolCall(name="refund_order"), {"name": "email_payroll"}])
    assert [r.error.category if r.error else "ok" for r in batch] == ["ok", "not_found"]
    assert acme.execute_sync(ToolCall(name="send_email", tenant_id="acme")).ok


def test_the_view_stamps_its_tenant_where_the_body_can_see_it() -> None:
    @tool
    async def whoami(ctx: CallContext) -> str:
        "Say the tenant."
        return str(ctx.tenant_id)

    box = Toolbox([whoami], policy=TenantAccess({"acme": TenantGrant(tools={"whoami"})}))
    assert TenantView(box, "acme").execute_sync({"name": "whoami"}).result == "acme"


def test_a_call_for_another_tenant_is_refused_before_anything_runs() -> None:
    box = _box()
    with pytest.raises(ConfigError, match="tenant 'globex' was sent through the view of tenant 'acme'"):
        TenantView(box, "acme").execute_sync([ToolCall(name="send_email"),
                                              ToolCall(name="send_email", tenant_id="globex")])
    assert box.get_tool("crm:send_email").calls == []  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        TenantView(box, "acme").execute_sync("send_email")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        TenantView(box, "")


async def test_a_stream_through_a_view_is_made_as_its_tenant() -> None:
    @tool
    async def count(n: int):  # type: ignore[no-untyped-def]
        "Count up to n."
        for i in range(n):
            yield i

    box = Toolbox([count], policy=TenantAccess({"acme": TenantGrant(tools={"count"})}))
    items = [item async for item in TenantView(box, "acme").stream({"name": "count", "arguments": {"n": 2}})]
    assert items[:2] == [0, 1]
    [refused] = [item async for item in TenantView(box, "globex").stream({"name": "count", "arguments": {"n": 2}})]
    assert refused.error is not None and refused.error.category == "not_found"  # type: ignore[attr-defined]
